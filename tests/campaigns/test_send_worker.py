"""With a real Celery worker on Redis and PostgreSQL: a worker killed (SIGKILL) in the
middle of a campaign, and the campaign picked up again by the tick, sends everybody once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Recipient
from customers.models import Customer
from tenants.context import tenant_scope
from tests.campaigns.mailbox import delivered
from tests.factories import CampaignFactory, SegmentFactory, TenantFactory
from tests.training.helpers import wait_for
from tests.worker import needs_worker

pytestmark = [needs_worker, pytest.mark.celery_worker]
BACKEND = "tests.campaigns.mailbox.StallingFileBackend"


def _statuses(tenant, campaign) -> dict[str, int]:
    with tenant_scope(tenant):
        rows = Recipient.objects.filter(campaign=campaign).values_list("status", flat=True)
        return {status: list(rows).count(status) for status in set(rows)}


def test_a_worker_killed_mid_campaign_is_replaced_and_nobody_gets_it_twice(
    start_worker, tmp_path, settings
):
    # given 150 customers (every fifth without consent) and a campaign sent in batches of 20
    tenant = TenantFactory()
    with tenant_scope(tenant):
        Customer.objects.bulk_create(
            Customer(tenant=tenant, external_id=f"c{i:03d}", email=f"c{i:03d}@x.test",
                     email_opt_in=i % 5 != 0)
            for i in range(150)
        )  # fmt: skip
    campaign = CampaignFactory(
        tenant=tenant, holdout_share=0.2,
        segment=SegmentFactory(tenant=tenant, filter={"field": "external_id", "op": "startswith",
                                                      "value": "c"}),
    )  # fmt: skip
    mail_dir, stall = tmp_path / "mail", tmp_path / "stalled"
    mail_dir.mkdir()
    mail = {"EMAIL_BACKEND": BACKEND, "EMAIL_FILE_PATH": str(mail_dir), "CAMPAIGN_BATCH_SIZE": "20"}
    worker = start_worker(**mail, MAILBOX_STALL_AT="50", MAILBOX_STALL_FILE=str(stall))

    # when it is launched and its worker dies (SIGKILL) before the 50th message
    launched = services.campaign_launch(tenant=tenant, campaign=campaign)
    wait_for(stall.exists, what="the worker to reach the 50th message")
    worker.kill()
    by_id, _ = delivered(mail_dir)
    assert sum(by_id.values()) == 49
    assert _statuses(tenant, campaign)["sent"] == 49

    # and the tick, seeing no heartbeat, hands the campaign to a new worker
    start_worker(**mail)
    later = timezone.now() + timedelta(seconds=settings.CAMPAIGN_STALE_AFTER_SECONDS + 1)
    assert services.campaigns_tick(now=later)["requeued"] == 1

    # then the campaign finishes, and every treatment recipient with consent got exactly
    # one email while nobody in the holdout or without consent got any
    def finished() -> bool:
        with tenant_scope(tenant):
            return Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT

    wait_for(finished, what="the campaign to be sent")
    by_id, by_address = delivered(mail_dir)
    with tenant_scope(tenant):
        sent = set(
            Recipient.objects.filter(campaign=campaign, status="sent")
            .values_list("customer__email", flat=True)
        )  # fmt: skip
        control = set(
            Recipient.objects.filter(campaign=campaign, group="control")
            .values_list("customer__email", flat=True)
        )  # fmt: skip
    assert len(sent) == launched["pending"]
    assert set(by_address) == sent and set(by_address.values()) == {1}
    assert set(by_id.values()) == {1} and len(by_id) == len(sent)
    assert not control & set(by_address)
    assert all(not address.startswith(("c000", "c005")) for address in by_address)
