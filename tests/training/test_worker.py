"""With a real Celery worker on Redis: the guarantees of the training platform."""

from __future__ import annotations

import time

import pytest

from tests.training.conftest import STALE_SECONDS, needs_worker
from tests.training.helpers import active_version, add_interactions, run_of, versions_of, wait_for
from tests.training.scripted_trainer import KIND as SCRIPTED
from training import services
from training.models import TrainingRun
from training.tasks import train_model

pytestmark = [needs_worker, pytest.mark.celery_worker]
DONE = {TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.SKIPPED}


def _finished(tenant, run_id):
    return lambda: run_of(tenant, run_id).status in DONE


def test_a_run_queued_over_the_api_is_trained_by_the_worker_and_activated(
    start_worker, tenant_a, api_a
):
    # Given a tenant with interactions and a worker
    add_interactions(tenant_a)
    start_worker()
    # When a popularity run is requested over the API
    response = api_a.post("/api/v1/training-runs/", {"kind": "popularity"}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()[0]["id"]
    # Then the worker trains it and its version becomes the active one
    wait_for(_finished(tenant_a, run_id), what="the run to finish")
    run = run_of(tenant_a, run_id)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert active_version(tenant_a, "popularity").pk == run.model_version_id
    assert api_a.get(f"/api/v1/training-runs/{run_id}/").json()["progress"] == 100


def test_the_same_task_delivered_twice_trains_once(start_worker, tenant_a):
    # Given a queued run whose task is delivered twice to a worker with two processes
    add_interactions(tenant_a)
    start_worker(concurrency=2)
    run = _queued_run(tenant_a, {"sleep": 1})
    train_model.delay(tenant_a.pk, run.pk)
    train_model.delay(tenant_a.pk, run.pk)
    # When both deliveries have been handled (the duplicate looks again after the stale limit)
    wait_for(_finished(tenant_a, run.pk), what="the run to finish")
    time.sleep(STALE_SECONDS + 2)
    # Then it was trained once: one attempt, one version
    assert run_of(tenant_a, run.pk).attempts == 1
    assert len(versions_of(tenant_a, SCRIPTED)) == 1


def test_two_runs_of_one_kind_never_overlap(start_worker, tenant_a):
    # Given two queued runs of one kind and a worker with two processes
    add_interactions(tenant_a)
    start_worker(concurrency=2)
    runs = [
        services.training_run_request(tenant=tenant_a, kind=SCRIPTED, parameters={"sleep": 1.5})[0]
    ]
    # The second request reuses the queued run; force a distinct second run for the test.
    second = _queued_run(tenant_a, {"sleep": 1.5})
    train_model.delay(tenant_a.pk, second.pk)
    runs.append(second)
    for run in runs:
        wait_for(_finished(tenant_a, run.pk), what=f"run {run.pk}")
    # Then both succeeded, one after the other
    done = sorted((run_of(tenant_a, r.pk) for r in runs), key=lambda r: r.started_at)
    assert all(r.status == TrainingRun.Status.SUCCEEDED for r in done), [r.error for r in done]
    assert done[0].finished_at <= done[1].started_at


def test_a_worker_killed_mid_fit_leaves_the_active_version_and_the_run_is_retried(
    start_worker, tenant_a
):
    # Given an active version and a slow run in the middle of its fit
    add_interactions(tenant_a)
    first = services.training_run_train_now(
        tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.5}
    )
    worker = start_worker()
    run = _queued_run(tenant_a, {"sleep": 4, "score": 0.6})
    train_model.delay(tenant_a.pk, run.pk)
    wait_for(lambda: run_of(tenant_a, run.pk).stage == "fitting", what="the fit to start")
    # When the worker dies (SIGKILL, no chance to clean up)
    worker.kill()
    # Then the active version is untouched
    assert active_version(tenant_a, SCRIPTED).pk == first.model_version_id
    # and once its heartbeat is stale the run is requeued, not left running
    time.sleep(STALE_SECONDS + 1.5)
    assert services.training_runs_sweep_stale()["requeued"] == 1
    assert run_of(tenant_a, run.pk).status == TrainingRun.Status.QUEUED
    # and a new worker finishes it
    start_worker()
    wait_for(_finished(tenant_a, run.pk), what="the retried run")
    retried = run_of(tenant_a, run.pk)
    assert retried.status == TrainingRun.Status.SUCCEEDED and retried.attempts == 2
    assert active_version(tenant_a, SCRIPTED).pk == retried.model_version_id


def _queued_run(tenant, parameters: dict) -> TrainingRun:
    from tenants.context import tenant_scope

    with tenant_scope(tenant):
        return TrainingRun.objects.create(tenant=tenant, kind=SCRIPTED, parameters=parameters)


def test_a_failing_fit_ends_failed_with_the_error(start_worker, tenant_a):
    add_interactions(tenant_a)
    start_worker()
    run = _queued_run(tenant_a, {"fail": "the data is inconsistent"})
    train_model.delay(tenant_a.pk, run.pk)
    wait_for(_finished(tenant_a, run.pk), what="the run to fail")
    failed = run_of(tenant_a, run.pk)
    assert failed.status == TrainingRun.Status.FAILED
    assert "the data is inconsistent" in failed.error
    assert versions_of(tenant_a, SCRIPTED) == []
