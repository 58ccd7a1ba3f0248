"""Celery tasks of nlp: they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from nlp import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def score_new_reviews(tenant_id: int) -> int:
    """Read the sentiment of reviews that arrived since the active classifier last read."""
    return services.reviews_score_new(tenant_id=tenant_id)


@shared_task
def score_unread_reviews() -> dict[str, int]:
    """Beat: reviews of every tenant that no scoring task read (lost with a worker)."""
    return services.reviews_score_unread_all()
