"""Launching a campaign: the audience frozen as recipients, consent and frequency cap
enforced, the holdout assigned deterministically and never pending a send."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from campaigns.ml.assignment import assign
from campaigns.models import Campaign, Recipient
from campaigns.services import campaign_launch
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tests.factories import (
    ActiveModelFactory,
    CampaignFactory,
    CustomerFactory,
    CustomerPredictionFactory,
    ModelVersionFactory,
    RecipientFactory,
    SegmentFactory,
)

pytestmark = pytest.mark.django_db
EVERYONE = {"field": "external_id", "op": "startswith", "value": "c"}


def _statuses(tenant, campaign) -> dict[str, str]:
    with tenant_scope(tenant):
        return dict(
            Recipient.objects.filter(campaign=campaign).values_list(
                "customer__external_id", "status"
            )
        )


def test_the_assignment_is_deterministic_and_near_the_holdout_share():
    ids = np.arange(20_000)
    control, variant = assign(7, ids, holdout_share=0.1, variants=3)
    again, again_variant = assign(7, ids, holdout_share=0.1, variants=3)
    assert (control == again).all() and (variant == again_variant).all()
    assert control.mean() == pytest.approx(0.1, abs=0.01)
    assert np.bincount(variant, minlength=3).min() > 0.3 * len(ids)
    other, _ = assign(8, ids, holdout_share=0.1, variants=3)
    assert (other != control).any()  # another campaign draws another holdout


def test_launch_freezes_the_audience_with_consent_holdout_and_reasons(tenant_a):
    # given 400 opted-in customers with an address, and some who cannot be emailed
    for i in range(400):
        CustomerFactory(tenant=tenant_a, external_id=f"c{i}", email=f"c{i}@x.test",
                        email_opt_in=True)  # fmt: skip
    CustomerFactory(tenant=tenant_a, external_id="c-no-consent", email="n@x.test",
                    email_opt_in=False)  # fmt: skip
    CustomerFactory(tenant=tenant_a, external_id="c-no-address", email="", email_opt_in=True)
    campaign = CampaignFactory(
        tenant=tenant_a, segment=SegmentFactory(tenant=tenant_a, filter=EVERYONE)
    )

    # when it launches
    counts = campaign_launch(tenant=tenant_a, campaign=campaign)

    # then everyone in the audience is listed once, the excluded with their reason
    statuses = _statuses(tenant_a, campaign)
    assert counts["recipients"] == 402 == len(statuses)
    assert counts["excluded_by_reason"] == {"no consent": 1, "no address": 1}
    assert statuses["c-no-consent"] == statuses["c-no-address"] == "excluded"
    # and about 10% are held out: never pending a send
    held_out = sum(s == "held_out" for s in statuses.values())
    assert 20 <= held_out <= 70 and counts["pending"] == 400 - held_out
    with tenant_scope(tenant_a):
        assert not Recipient.objects.filter(group="control", status="pending").exists()
        assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    # and a second launch is refused
    with pytest.raises(Conflict):
        campaign_launch(tenant=tenant_a, campaign=campaign)


def test_the_frequency_cap_excludes_customers_recently_sent_enough(tenant_a):
    # given a cap of 2 campaigns in 7 days, and a customer sent 2 other campaigns yesterday
    busy = CustomerFactory(tenant=tenant_a, external_id="c-busy", email="b@x.test",
                           email_opt_in=True)  # fmt: skip
    CustomerFactory(tenant=tenant_a, external_id="c-calm", email="c@x.test", email_opt_in=True)
    yesterday = timezone.now() - timedelta(days=1)
    for _ in range(2):
        RecipientFactory(tenant=tenant_a, customer=busy, status="sent", sent_at=yesterday)
    campaign = CampaignFactory(
        tenant=tenant_a, segment=SegmentFactory(tenant=tenant_a, filter=EVERYONE),
        frequency_cap=2, frequency_cap_days=7, holdout_share=0.0,
    )  # fmt: skip
    # when it launches, then the busy customer is excluded for the cap, the calm one is not
    counts = campaign_launch(tenant=tenant_a, campaign=campaign)
    statuses = _statuses(tenant_a, campaign)
    assert statuses == {"c-busy": "excluded", "c-calm": "pending"}
    assert counts["excluded_by_reason"] == {"frequency cap": 1}


def test_a_model_segment_audience_is_the_active_segmentation_versions(tenant_a):
    # given customers in segments 1 and 2 of the active segmentation version
    version = ModelVersionFactory(tenant=tenant_a, kind="segmentation", status="active")
    ActiveModelFactory(tenant=tenant_a, kind="segmentation", version=version)
    for i, segment in enumerate([1, 1, 2]):
        customer = CustomerFactory(tenant=tenant_a, external_id=f"c{i}", email=f"{i}@x.test",
                                   email_opt_in=True)  # fmt: skip
        CustomerPredictionFactory(tenant=tenant_a, version=version, customer=customer,
                                  segment=segment)  # fmt: skip
    campaign = CampaignFactory(tenant=tenant_a, segment=None, model_segment=1, holdout_share=0)
    # when it launches, then its recipients are segment 1's customers
    campaign_launch(tenant=tenant_a, campaign=campaign)
    assert set(_statuses(tenant_a, campaign)) == {"c0", "c1"}
