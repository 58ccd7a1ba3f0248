"""Celery tasks of campaigns: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from campaigns import delivery, services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=10,
)
def send_campaign(self, tenant_id: int, campaign_id: int) -> dict:
    report = delivery.campaign_send(tenant_id=tenant_id, campaign_id=campaign_id)
    if report.stopped == "waiting" and report.retry_at and not settings.CELERY_TASK_ALWAYS_EAGER:
        # Failed sends wait for their retry time; come back then (the tick would, too).
        countdown = max(1.0, (report.retry_at - timezone.now()).total_seconds())
        self.apply_async(args=[tenant_id, campaign_id], countdown=countdown)
    return report.as_dict()


@shared_task
def campaigns_tick() -> dict:
    """Every minute (beat): launch the scheduled campaigns that are due, and hand sending
    campaigns whose worker stopped reporting (or whose retries are due) to a worker."""
    return services.campaigns_tick()
