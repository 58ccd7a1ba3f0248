"""Celery tasks of the training platform: they take ids, load, and call one service."""

from __future__ import annotations

from celery import shared_task

from training import conf, services
from training.errors import TRANSIENT_ERRORS, KindBusy, RunStillRunning
from training.retention import artifacts_delete_expired
from training.scheduling import retraining_fan_out


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
)
def train_model(self, tenant_id: int, run_id: int) -> str:
    try:
        run = services.training_run_execute(tenant_id=tenant_id, run_id=run_id)
    except (KindBusy, RunStillRunning) as exc:
        # Another run holds the lock, or a live worker holds this run: look again later.
        countdown = min(60.0, conf.stale_after_seconds())
        raise self.retry(exc=exc, countdown=countdown, max_retries=50) from exc
    except TRANSIENT_ERRORS as exc:
        error = f"{type(exc).__name__}: {exc}"
        if self.request.retries >= self.max_retries:
            services.training_run_fail(tenant_id=tenant_id, run_id=run_id, error=error)
            raise
        services.training_run_requeue(tenant_id=tenant_id, run_id=run_id, error=error)
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries)) from exc
    return run.status


@shared_task
def fan_out_retraining() -> int:
    return len(retraining_fan_out().queued)


@shared_task
def delete_expired_artifacts() -> int:
    return len(artifacts_delete_expired().deleted)


@shared_task
def sweep_stale_training_runs() -> dict:
    return services.training_runs_sweep_stale()
