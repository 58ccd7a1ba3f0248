"""Handing work to Celery without letting a broker outage break the request that asked.

`enqueue_on_commit` publishes after the transaction commits and, if Redis is down, logs and
leaves the work to the periodic sweeps (stale training runs, the campaigns tick), which
publish it again once the broker is back. `require_queue` is for requests whose only point
is to queue work (a training request): with the broker down they answer 503 at once
instead of accepting work nobody will do soon."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from tenants.errors import ServiceUnavailable

logger = logging.getLogger(__name__)
QUEUE_DOWN = (BrokerError, ConnectionError, OSError)


def enqueue_on_commit(task: Any, *args: Any) -> None:
    def publish() -> None:
        try:
            task.delay(*args)
        except QUEUE_DOWN as error:
            logger.warning("queue unavailable; %s%s left for the sweep: %s", task.name, args, error)

    transaction.on_commit(publish)


def require_queue() -> None:
    """Raise ServiceUnavailable (503) when the broker cannot be reached within a second."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from config.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
    except QUEUE_DOWN as error:
        raise ServiceUnavailable(
            f"The task queue (Redis) is unreachable, so no training was queued: {error}. "
            "Retry when it is back; the API keeps serving meanwhile."
        ) from None
