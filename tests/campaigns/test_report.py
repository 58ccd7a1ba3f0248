"""The campaign report: conversions in the attribution window, treatment against the
holdout, with the planted effect recovered."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_report
from campaigns.services import campaign_launch
from customers.models import Customer, Interaction
from tenants.context import tenant_scope
from tests.factories import CampaignFactory, SegmentFactory

pytestmark = pytest.mark.django_db
EVERYONE = {"field": "email_opt_in", "op": "eq", "value": True}


def _shop(tenant, n: int, **fields) -> Campaign:
    with tenant_scope(tenant):
        Customer.objects.bulk_create(
            Customer(tenant=tenant, external_id=f"c{i}", email=f"c{i}@x.test", email_opt_in=True)
            for i in range(n)
        )
    return _campaign(tenant, SegmentFactory(tenant=tenant, filter=EVERYONE), **fields)


def _campaign(tenant, segment, **fields) -> Campaign:
    return CampaignFactory(
        tenant=tenant, segment=segment, **({"holdout_share": 0.3, "attribution_days": 3} | fields),
        variants=[{"name": "a", "subject": "A", "body": "A"},
                  {"name": "b", "subject": "B", "body": "B"}],
    )  # fmt: skip


def _simulate(tenant, campaign, rates: dict[str, float], seed: int) -> dict[str, float]:
    """Mark the treatment sent at launch, and let each recipient buy within the window with
    their group's rate; everyone also buys once well after the window (never counted)."""
    rng = np.random.default_rng(seed)
    with tenant_scope(tenant):
        campaign.refresh_from_db()
        launched = campaign.launched_at
        Recipient.objects.filter(campaign=campaign, status="pending").update(
            status="sent", sent_at=launched
        )
        events = []
        for i, (customer, group) in enumerate(
            Recipient.objects.filter(campaign=campaign)
            .order_by("customer_id")
            .values_list("customer_id", "group")
        ):
            if rng.random() < rates[group]:
                events.append((customer, launched + timedelta(hours=30), f"in-{campaign.pk}-{i}"))
            events.append((customer, launched + timedelta(days=5), f"late-{campaign.pk}-{i}"))
        Interaction.objects.bulk_create(
            Interaction(
                tenant=tenant, customer_id=c, kind="purchase", value=10.0, occurred_at=t, event_id=e
            )  # fmt: skip
            for c, t, e in events
        )
    return rates


def test_the_report_recovers_a_planted_uplift(tenant_a):
    # given 2,000 recipients, 30% held out, and a planted effect of +10 points
    campaign = _shop(tenant_a, 2000)
    campaign_launch(tenant=tenant_a, campaign=campaign, now=timezone.now() - timedelta(days=6))
    _simulate(tenant_a, campaign, {"treatment": 0.20, "control": 0.10}, seed=1)

    # when the report is read
    with tenant_scope(tenant_a):
        campaign.refresh_from_db()
        report = campaign_report(tenant=tenant_a, campaign=campaign)

    # then only conversions inside the window count, and the estimate is near the truth
    treated, control = report["groups"]["treatment"], report["groups"]["control"]
    assert treated["recipients"] + control["recipients"] == 2000
    assert treated["conversion_rate"] == pytest.approx(0.20, abs=0.03)
    assert control["conversion_rate"] == pytest.approx(0.10, abs=0.03)
    result = report["uplift"]
    # (0.05 is about 2.8 standard errors here; interval coverage is checked over many
    # campaigns in test_send.py, where a 5% miss rate is expected and allowed for)
    assert result["absolute"] == pytest.approx(0.10, abs=0.05)
    assert result["verdict"] == "significant uplift"
    assert treated["revenue_per_recipient"] == pytest.approx(10 * treated["conversion_rate"])
    # and the two variants are compared
    assert set(report["variants"]["rates"]) == {"a", "b"}
    assert report["by_status"]["sent"] == treated["recipients"]


# Over many campaigns: the 95% interval should miss the planted effect in about 5% of them,
# and a campaign without effect should look significant in about 5%. 150 campaigns each
# (one customer base, one 10-day slot per campaign so windows never overlap); the 90% bar
# then fails by chance with probability about 0.004.
REPEATS, SLOT = 150, timedelta(days=10)


def _repeat(tenant, rates: dict[str, float]) -> list[dict]:
    first = _shop(tenant, 300, holdout_share=0.5)
    with tenant_scope(tenant):
        segment = first.segment
    start = timezone.now() - SLOT * (REPEATS + 1)
    reports = []
    for r in range(REPEATS):
        campaign = first if r == 0 else _campaign(tenant, segment, holdout_share=0.5)
        campaign_launch(tenant=tenant, campaign=campaign, now=start + SLOT * r)
        _simulate(tenant, campaign, rates, seed=100 + r)
        with tenant_scope(tenant):
            campaign.refresh_from_db()
            reports.append(campaign_report(tenant=tenant, campaign=campaign))
    return reports


def test_the_interval_covers_the_planted_effect_in_at_least_90_percent_of_campaigns(tenant_a):
    reports = _repeat(tenant_a, {"treatment": 0.30, "control": 0.20})
    covered = [r["uplift"]["absolute_low"] <= 0.10 <= r["uplift"]["absolute_high"]
               for r in reports]  # fmt: skip
    assert np.mean(covered) >= 0.90, f"covered in {np.mean(covered):.0%}"
    # and the estimates centre on the truth
    assert np.mean([r["uplift"]["absolute"] for r in reports]) == pytest.approx(0.10, abs=0.02)


def test_with_no_effect_at_least_90_percent_of_campaigns_report_no_significant_uplift(tenant_a):
    reports = _repeat(tenant_a, {"treatment": 0.20, "control": 0.20})
    verdicts = [r["uplift"]["verdict"] for r in reports]
    assert np.mean([v != "significant uplift" for v in verdicts]) >= 0.90, verdicts
    assert np.mean([v == "no detectable effect" for v in verdicts]) >= 0.85, verdicts
