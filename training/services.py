"""The one training path: request, claim, load, fit, evaluate, store, activate, roll back."""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

from django.db import IntegrityError, connection
from django.db.models import F, Max, Q
from django.utils import timezone

from tenants.audit import audit
from tenants.context import tenant_scope
from tenants.errors import BadRequest, Conflict
from tenants.models import Tenant
from tenants.queue import enqueue_on_commit, require_queue
from training import conf
from training.errors import KindBusy, RunStillRunning
from training.ml.artifacts import library_versions, write_artifact
from training.models import ActiveModel, ModelVersion, RetrainPolicy, TrainingRun
from training.registry import TrainedModel, TrainingData, UnknownKind, get_trainer, registered_kinds

logger = logging.getLogger(__name__)
Status = TrainingRun.Status
ALL_KINDS = "all"


# --- requesting runs -------------------------------------------------------------------------


def _kinds(kind: str) -> list[str]:
    if kind == ALL_KINDS:
        return registered_kinds()
    try:
        get_trainer(kind)
    except UnknownKind:
        raise BadRequest(
            f"Unknown model kind {kind!r}; choose from {', '.join([ALL_KINDS, *registered_kinds()])}."
        ) from None
    return [kind]


def training_run_request(
    *,
    tenant: Tenant,
    kind: str,
    trigger: str = TrainingRun.Trigger.MANUAL,
    parameters: dict | None = None,
) -> list[TrainingRun]:
    """Queue a run per kind (or reuse one already queued) and enqueue it on commit. With the
    task queue down this is a 503 (ServiceUnavailable), not a run nobody will pick up."""
    from training.tasks import train_model

    require_queue()
    runs = []
    with tenant_scope(tenant):
        for one_kind in _kinds(kind):
            run = TrainingRun.objects.filter(kind=one_kind, status=Status.QUEUED).first()
            if run is None:
                run = TrainingRun.objects.create(
                    tenant=tenant, kind=one_kind, trigger=trigger, parameters=parameters or {}
                )
                enqueue_on_commit(train_model, tenant.pk, run.pk)
            runs.append(run)
    return runs


def training_run_train_now(
    *, tenant: Tenant, kind: str, parameters: dict | None = None
) -> TrainingRun:
    """Create and execute a run in this process (the demo, commands and benchmarks)."""
    with tenant_scope(tenant):
        run = TrainingRun.objects.create(
            tenant=tenant,
            kind=kind,
            trigger=TrainingRun.Trigger.MANUAL,
            parameters=parameters or {},
        )
    return training_run_execute(tenant_id=tenant.pk, run_id=run.pk)


# --- executing a run -------------------------------------------------------------------------


def _claim(tenant: Tenant, run_id: int) -> TrainingRun | None:
    """Move a queued run (or one whose worker died) to running; None when not ours to run."""
    now = timezone.now()
    stale = now - timedelta(seconds=conf.stale_after_seconds())
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING, heartbeat_at__lt=stale, attempts__lt=conf.max_attempts()
    )
    try:
        with tenant_scope(tenant):
            claimed = (
                TrainingRun.objects.filter(pk=run_id)
                .filter(claimable)
                .update(
                    status=Status.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    finished_at=None,
                    attempts=F("attempts") + 1,
                    stage="claimed",
                    progress=0,
                    error="",
                )  # fmt: skip
            )
    except IntegrityError:
        raise KindBusy(f"Another run of this kind is running for tenant {tenant.slug}.") from None
    with tenant_scope(tenant):
        run = TrainingRun.objects.get(pk=run_id)
    if claimed:
        return run
    if run.status == Status.RUNNING and run.heartbeat_at and run.heartbeat_at < stale:
        training_run_fail(
            tenant_id=tenant.pk,
            run_id=run_id,
            error=f"Worker lost {run.attempts} times; giving up.",
        )
        return None
    if run.status == Status.RUNNING:
        raise RunStillRunning(f"Run {run_id} is running on a live worker.")
    return None


class _Heartbeat:
    """Refreshes the run's heartbeat from a thread while a long fit holds the main one."""

    def __init__(self, tenant_id: int, run_id: int) -> None:
        self.tenant_id, self.run_id = tenant_id, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Heartbeat:
        # SQLite (the embedded default) runs tasks in-process: no worker can die on its own.
        if connection.vendor == "postgresql":
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(conf.heartbeat_seconds()):
                with tenant_scope(self.tenant_id):
                    TrainingRun.objects.filter(pk=self.run_id, status=Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
        except Exception:  # a missed heartbeat only risks a takeover, never a crash
            logger.exception("training heartbeat failed", extra={"run_id": self.run_id})
        finally:
            connection.close()


def _progress(tenant: Tenant, run_id: int):
    def report(stage: str, percent: int) -> None:
        with tenant_scope(tenant):
            TrainingRun.objects.filter(pk=run_id).update(
                stage=stage[:64], progress=max(0, min(100, percent)), heartbeat_at=timezone.now()
            )
        logger.info(
            "training %s", stage,
            extra={"tenant_id": tenant.pk, "run_id": run_id, "progress": percent},
        )  # fmt: skip

    return report


def _finish(tenant: Tenant, run_id: int, **fields) -> TrainingRun:
    with tenant_scope(tenant):
        TrainingRun.objects.filter(pk=run_id).update(finished_at=timezone.now(), **fields)
        return TrainingRun.objects.get(pk=run_id)


def training_run_execute(*, tenant_id: int, run_id: int) -> TrainingRun:
    """Run one training run end to end. Safe to call twice: only a claimable run is trained."""
    tenant = Tenant.objects.get(pk=tenant_id)
    run = _claim(tenant, run_id)
    if run is None:
        with tenant_scope(tenant):
            return TrainingRun.objects.get(pk=run_id)
    progress = _progress(tenant, run_id)
    started = time.monotonic()
    with _Heartbeat(tenant_id, run_id):
        try:
            trainer = get_trainer(run.kind)
            progress("loading data", 5)
            data = trainer.load_data(tenant=tenant)
            timings = {"load": time.monotonic() - started}
            if data.rows == 0:
                return _finish(tenant, run_id, status=Status.SKIPPED, stage="no data", progress=100)
            trained = trainer.train(data, parameters=run.parameters, progress=progress)
            timings["fit_and_evaluate"] = time.monotonic() - started - timings["load"]
            progress("storing", 90)
            version = _store_version(tenant, run, trained, data)
        except Exception as error:
            from training.errors import TRANSIENT_ERRORS

            if isinstance(error, TRANSIENT_ERRORS):
                raise  # the task retries; the run is requeued there
            logger.exception("training run failed", extra={"run_id": run_id})
            return _finish(
                tenant, run_id, status=Status.FAILED, stage="failed",
                error=f"{type(error).__name__}: {error}\n\n{traceback.format_exc()[-4000:]}",
            )  # fmt: skip
    summary = {
        "primary_metric": trainer.primary_metric,
        "metrics": trained.metrics,
        "baseline_metrics": trained.baseline_metrics,
        "candidates": trained.candidates,
        "details": trained.parameters,  # e.g. the model search: every configuration tried
        "version": version.version,
        "activated": version.status == ModelVersion.Status.ACTIVE,
        "rejection_reason": version.rejection_reason,
        "seconds": round(time.monotonic() - started, 3),
        "stage_seconds": {
            **{stage: round(value, 3) for stage, value in timings.items()},
            "store_and_activate": round(time.monotonic() - started - sum(timings.values()), 3),
        },
    }
    return _finish(
        tenant, run_id, status=Status.SUCCEEDED, stage="done", progress=100,
        metrics=summary, watermark=data.watermark, model_version=version,
    )  # fmt: skip


def training_run_requeue(*, tenant_id: int, run_id: int, error: str) -> None:
    """After a transient failure: back to queued for the task's retry."""
    with tenant_scope(tenant_id):
        TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
            status=Status.QUEUED, stage="waiting to retry", error=error[:4000]
        )


def training_run_fail(*, tenant_id: int, run_id: int, error: str) -> None:
    with tenant_scope(tenant_id):
        TrainingRun.objects.filter(pk=run_id).exclude(status=Status.SUCCEEDED).update(
            status=Status.FAILED, stage="failed", error=error[:4000], finished_at=timezone.now()
        )


# --- versions and activation -----------------------------------------------------------------


def _tolerance(kind: str) -> float:
    policy = RetrainPolicy.objects.filter(kind=kind).first()
    return policy.tolerance if policy else conf.default_tolerance()


def _store_version(
    tenant: Tenant, run: TrainingRun, trained: TrainedModel, data: TrainingData
) -> ModelVersion:
    trainer = get_trainer(run.kind)
    with tenant_scope(tenant):
        latest = ModelVersion.objects.filter(kind=run.kind).aggregate(n=Max("version"))["n"] or 0
    number = latest + 1
    # A random suffix: a restored or reset database can never point at another run's files.
    name = f"v{number}-run{run.pk}-{uuid.uuid4().hex[:8]}"
    directory = Path(conf.artifact_root()) / str(tenant.pk) / run.kind / name
    sha = write_artifact(directory, lambda target: trainer.save(trained.model, target))
    primary = trainer.primary_metric
    version = ModelVersion(
        tenant=tenant, kind=run.kind, version=number, primary_metric=primary,
        metrics=trained.metrics, baseline_metrics=trained.baseline_metrics,
        candidates=trained.candidates, artifact_path=str(directory), artifact_sha256=sha,
        library_versions=library_versions(trainer.libraries), watermark=data.watermark,
        watermark_interaction_id=int(data.watermark.get("interaction_id", 0)),
        training_run=run, status=ModelVersion.Status.REJECTED,
    )  # fmt: skip
    store_outputs = getattr(trainer, "store_outputs", None)
    if store_outputs is not None:
        # Per-customer outputs (segments, scores) belong to the version, like its artifact,
        # and are stored before it can become active: activation only flips the pointer.
        version.status = ModelVersion.Status.PENDING
        with tenant_scope(tenant):
            version.save()
        store_outputs(tenant=tenant, version=version, model=trained.model, data=data)
        version.status = ModelVersion.Status.REJECTED
    with tenant_scope(tenant):
        active = ActiveModel.objects.select_for_update().filter(kind=run.kind).first()
        champion = active.version if active else None
        tolerance = _tolerance(run.kind)
        challenger_value = trained.metrics.get(primary, float("-inf"))
        # A champion that learnt from an erased customer cannot stay, however good it is.
        must_replace = champion is not None and champion.retrain_required
        worse = (
            champion is not None and challenger_value < (champion.primary_value or 0) - tolerance
        )
        if worse and not must_replace:
            version.rejection_reason = (
                f"{primary} {challenger_value:.4f} is worse than the active v{champion.version}'s "
                f"{champion.primary_value:.4f} by more than the tolerance {tolerance}."
            )
            version.save()
            return version
        version.save()
        _point_to(tenant, version, active)
    return version


def _point_to(tenant: Tenant, version: ModelVersion, active: ActiveModel | None) -> None:
    """Flip the active pointer (inside the caller's transaction)."""
    deleted = ModelVersion.objects.select_for_update().filter(
        pk=version.pk, artifact_deleted_at__isnull=False
    )
    if deleted.exists():
        raise Conflict(
            f"{version.kind} v{version.version}'s artifact was deleted at the end of the "
            "retention period; it cannot serve again. Train a new version instead."
        )
    ModelVersion.objects.filter(kind=version.kind, status=ModelVersion.Status.ACTIVE).exclude(
        pk=version.pk
    ).update(status=ModelVersion.Status.RETIRED, replaced_at=timezone.now())
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.ACTIVE, replaced_at=None
    )
    version.status = ModelVersion.Status.ACTIVE
    if active is None:
        ActiveModel.objects.create(tenant=tenant, kind=version.kind, version=version)
    else:
        ActiveModel.objects.filter(pk=active.pk).update(
            version=version, activated_at=timezone.now()
        )
    audit(tenant=tenant, action="model activated", object_type="ModelVersion",
          object_ref=f"{version.kind} v{version.version}",
          details={"previous": active.version_id if active else None})  # fmt: skip


def model_version_activate(*, tenant: Tenant, version: ModelVersion) -> ModelVersion:
    """Roll back or forward to any version of the tenant: one pointer flip in a transaction."""
    with tenant_scope(tenant):
        active = ActiveModel.objects.select_for_update().filter(kind=version.kind).first()
        _point_to(tenant, version, active)
        return ModelVersion.objects.get(pk=version.pk)


# --- keeping runs honest ---------------------------------------------------------------------


def training_runs_sweep_stale(*, now=None) -> dict[str, int]:
    """Runs whose worker died (stale heartbeat): requeue while attempts remain, else fail."""
    from training.tasks import train_model

    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.stale_after_seconds())
    tenant_ids = list(Tenant.objects.values_list("id", flat=True))
    requeued = failed = republished = 0
    with tenant_scope(tenants=tenant_ids):
        stuck = list(TrainingRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale))
        for run in stuck:
            if run.attempts < conf.max_attempts():
                TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
                    status=Status.QUEUED, stage="requeued: worker lost", error="worker lost"
                )
                enqueue_on_commit(train_model, run.tenant_id, run.pk)
                requeued += 1
            else:
                TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
                    status=Status.FAILED, stage="failed", finished_at=now,
                    error=f"Worker lost {run.attempts} times; giving up.",
                )  # fmt: skip
                failed += 1
        # Queued but never picked up for longer than the stale limit: its message was lost
        # (the broker was down when it was published). Publishing again is safe: only one
        # worker can claim a run.
        waiting = TrainingRun.objects.filter(status=Status.QUEUED, started_at__isnull=True,
                                             queued_at__lt=stale)  # fmt: skip
        for tenant_id, run_id in waiting.values_list("tenant_id", "pk"):
            enqueue_on_commit(train_model, tenant_id, run_id)
            republished += 1
    return {"requeued": requeued, "failed": failed, "republished": republished}


# --- policies --------------------------------------------------------------------------------


def retrain_policy_update(*, tenant: Tenant, kind: str, data: dict) -> RetrainPolicy:
    (kind,) = _kinds(kind) if kind != ALL_KINDS else [None]
    if kind is None:
        raise BadRequest("Policies are set per model kind.")
    with tenant_scope(tenant):
        policy, _ = RetrainPolicy.objects.update_or_create(tenant=tenant, kind=kind, defaults=data)
    return policy
