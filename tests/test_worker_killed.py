"""One real Celery worker busy with all three kinds of background work at once (a training
run, a campaign send, and the reading of newly ingested reviews) is killed with SIGKILL. The
periodic sweeps hand everything to a new worker: nothing is lost and nothing is done twice.

The guarantees were tested one at a time in their apps; here they must hold together, on
one worker whose unacknowledged messages die with it (Redis gives them back only after the
visibility timeout, so the sweeps, not redelivery, are what recover the work)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import Campaign, Recipient
from customers.ingest.bulk import interaction_ingest_bulk
from customers.models import Customer
from nlp.ml import synthetic
from nlp.models import ReviewSentiment, SentimentSummary
from nlp.tasks import score_unread_reviews
from tenants.context import tenant_scope
from tests.campaigns.mailbox import delivered
from tests.factories import CampaignFactory, SegmentFactory, TenantFactory
from tests.training.helpers import add_interactions, run_of, wait_for
from tests.training.scripted_trainer import KIND as SCRIPTED
from tests.worker import STALE_SECONDS, needs_worker
from training import services as training
from training.models import ModelVersion, TrainingRun
from training.selectors import model_cache
from training.tasks import train_model

pytestmark = [needs_worker, pytest.mark.celery_worker]
START = datetime(2026, 10, 1, tzinfo=UTC)
BACKEND = "tests.campaigns.mailbox.StallingFileBackend"


def _reviews(prefix: str, n: int, seed: int) -> list[dict]:
    return [
        {"event_id": f"{prefix}-{i}", "customer": f"c{i % 80:03d}", "product": f"p{i % 20}",
         "kind": "review", "value": rating, "text": text,
         "occurred_at": (START + timedelta(minutes=i)).isoformat()}
        for i, (text, rating) in enumerate(synthetic.reviews(n, language="en", seed=seed))
    ]  # fmt: skip


def test_a_worker_killed_during_training_sending_and_review_reading_loses_and_repeats_nothing(
    start_worker, tmp_path, settings
):
    # Given a shop with 100 consenting customers, reviews read by an active text model,
    # and the interactions a training run learns from
    tenant = TenantFactory()
    with tenant_scope(tenant):
        Customer.objects.bulk_create(
            Customer(tenant=tenant, external_id=f"c{i:03d}", email=f"c{i:03d}@x.test",
                     email_opt_in=True)
            for i in range(100)
        )  # fmt: skip
    interaction_ingest_bulk(tenant=tenant, rows=_reviews("old", 400, seed=1),
                            now=START + timedelta(days=30))  # fmt: skip
    add_interactions(tenant)
    model_cache.clear()
    text = training.training_run_train_now(tenant=tenant, kind="text")
    assert text.status == TrainingRun.Status.SUCCEEDED, text.error
    campaign = CampaignFactory(
        tenant=tenant, holdout_share=0.2,
        segment=SegmentFactory(tenant=tenant, filter={"field": "external_id", "op": "startswith",
                                                      "value": "c"}),
    )  # fmt: skip
    mail_dir, stall = tmp_path / "mail", tmp_path / "stalled"
    mail_dir.mkdir()
    mail = {"EMAIL_BACKEND": BACKEND, "EMAIL_FILE_PATH": str(mail_dir), "CAMPAIGN_BATCH_SIZE": "20"}

    # When one worker (two processes) is training, sending and has review reading queued
    worker = start_worker(concurrency=2, **mail, MAILBOX_STALL_AT="30",
                          MAILBOX_STALL_FILE=str(stall))  # fmt: skip
    with tenant_scope(tenant):
        run = TrainingRun.objects.create(tenant=tenant, kind=SCRIPTED,
                                         parameters={"sleep": 8, "score": 0.7})  # fmt: skip
    train_model.delay(tenant.pk, run.pk)
    wait_for(lambda: run_of(tenant, run.pk).stage == "fitting", what="the fit to start")
    launched = campaigns.campaign_launch(tenant=tenant, campaign=campaign)
    new_reviews = _reviews("new", 150, seed=2)
    interaction_ingest_bulk(tenant=tenant, rows=new_reviews, now=START + timedelta(days=30))
    wait_for(stall.exists, what="the send to reach the 30th message")
    # and it dies
    worker.kill()
    assert run_of(tenant, run.pk).status == TrainingRun.Status.RUNNING
    with tenant_scope(tenant):
        read_before = ReviewSentiment.objects.filter(
            interaction__event_id__startswith="new-"
        ).count()
    assert read_before < len(new_reviews), "the reviews were read before the kill: nothing tested"

    # Then the sweeps give everything to a new worker
    start_worker(**mail)
    time.sleep(STALE_SECONDS + 1.5)
    assert training.training_runs_sweep_stale()["requeued"] == 1
    later = timezone.now() + timedelta(seconds=settings.CAMPAIGN_STALE_AFTER_SECONDS + 1)
    assert campaigns.campaigns_tick(now=later)["requeued"] == 1
    score_unread_reviews.delay()

    def all_done() -> bool:
        with tenant_scope(tenant):
            sent = Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
            read = ReviewSentiment.objects.filter(version_id=text.model_version_id).count()
        trained = run_of(tenant, run.pk).status == TrainingRun.Status.SUCCEEDED
        return sent and trained and read == 550

    wait_for(all_done, timeout=90, what="the training, the send and the reading to finish")

    # and nothing was done twice: one version for the run, one email per recipient, one
    # reading per review, and summaries that count each review once
    retried = run_of(tenant, run.pk)
    assert retried.attempts == 2
    with tenant_scope(tenant):
        assert ModelVersion.objects.filter(training_run_id=run.pk).count() == 1
        sent = set(Recipient.objects.filter(campaign=campaign, status="sent")
                   .values_list("customer__email", flat=True))  # fmt: skip
        summaries = dict(SentimentSummary.objects.filter(
            version_id=text.model_version_id, customer__isnull=False
        ).values_list("customer__external_id", "reviews"))  # fmt: skip
    assert len(sent) == launched["pending"]
    by_id, by_address = delivered(mail_dir)
    assert set(by_address) == sent and set(by_address.values()) == {1}
    assert set(by_id.values()) == {1}
    reviews_per_customer = {f"c{i:03d}": 0 for i in range(80)}
    for review in [*_reviews("old", 400, seed=1), *new_reviews]:
        reviews_per_customer[review["customer"]] += 1
    assert summaries == reviews_per_customer
