"""With the task queue (Redis) unreachable: a training request is a clear 503 at once, not a
hang; ingest and launches still write, and what could not be published is published again
by the sweeps once the broker is back."""

from __future__ import annotations

import pytest

from config.celery import app
from tenants.context import tenant_scope
from tests.training.helpers import add_interactions
from training import services
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def queue_down(monkeypatch, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    # require_queue opens a fresh connection from the configuration (never a pooled one).
    monkeypatch.setitem(app.conf, "broker_url", NOWHERE)


def test_a_training_request_is_a_503_while_ingest_keeps_writing(tenant_a, api_a, queue_down):
    response = api_a.post("/api/v1/training-runs/", {"kind": "popularity"}, format="json")
    assert response.status_code == 503, response.content
    assert "task queue (Redis) is unreachable" in response.json()["detail"]
    with tenant_scope(tenant_a):
        assert not TrainingRun.objects.exists()  # nothing accepted that nobody will do
    ingest = api_a.post("/api/v1/interactions/bulk/", [
        {"event_id": "e1", "customer": "c1", "product": "p1", "kind": "review", "value": 5,
         "text": "Great", "occurred_at": "2026-01-01T10:00:00Z"},
    ], format="json")  # fmt: skip
    assert ingest.status_code == 200 and ingest.json()["created"] == 1


def test_a_run_whose_message_was_lost_is_published_again_by_the_sweep(tenant_a, monkeypatch):
    add_interactions(tenant_a)
    with tenant_scope(tenant_a):
        run = TrainingRun.objects.create(tenant=tenant_a, kind="popularity")
        TrainingRun.objects.filter(pk=run.pk).update(queued_at=run.queued_at.replace(year=2020))
    published = []
    from training import tasks

    monkeypatch.setattr(tasks.train_model, "delay", lambda *args: published.append(args))
    assert services.training_runs_sweep_stale()["republished"] == 1
    assert published == [(tenant_a.pk, run.pk)]
