"""Reads of runs, versions and policies; and loading the active model for serving."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from tenants.context import tenant_reads, tenant_scope
from tenants.models import Tenant
from training.ml.artifacts import verify_artifact
from training.models import ActiveModel, ModelVersion, RetrainPolicy, TrainingRun
from training.registry import get_trainer, registered_kinds
from training.scheduling import DEFAULT_POLICY


def training_run_list(*, tenant: Tenant) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(tenant=tenant)


def model_version_list(*, tenant: Tenant) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(tenant=tenant)


def retrain_policy_list(*, tenant: Tenant) -> list[RetrainPolicy]:
    """One policy per registered kind: the tenant's own, or the default (unsaved)."""
    own = {p.kind: p for p in RetrainPolicy.objects.filter(tenant=tenant)}
    return [
        own.get(kind)
        or RetrainPolicy(
            tenant=tenant,
            kind=kind,
            enabled=DEFAULT_POLICY.enabled,
            cadence_hours=DEFAULT_POLICY.cadence_hours,
            min_new_interactions=DEFAULT_POLICY.min_new_interactions,
            tolerance=DEFAULT_POLICY.tolerance,
        )  # fmt: skip
        for kind in registered_kinds()
    ]


def active_version_get(*, tenant: Tenant, kind: str) -> ModelVersion | None:
    pointer = ActiveModel.objects.filter(tenant=tenant, kind=kind).select_related("version").first()
    return pointer.version if pointer else None


class _ModelCache:
    """Loaded models per process, by version id (versions are immutable, so never stale)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._models: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, version_id: int) -> Any | None:
        with self._lock:
            if version_id in self._models:
                self._models.move_to_end(version_id)
            return self._models.get(version_id)

    def get(self, version: ModelVersion) -> Any:
        with self._lock:
            if version.pk in self._models:
                self._models.move_to_end(version.pk)
                return self._models[version.pk]
        directory = Path(version.artifact_path)
        verify_artifact(directory, version.artifact_sha256)
        model = get_trainer(version.kind).load(directory)
        with self._lock:
            self._models[version.pk] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


model_cache = _ModelCache()


def model_version_load(*, version: ModelVersion) -> Any:
    """The fitted model of a version; its artifact is verified against sha256 on first load."""
    return model_cache.get(version)


def active_model_load(*, tenant: Tenant, kind: str) -> tuple[ModelVersion, Any] | None:
    """The active version of a kind and its loaded model, or None if none is trained."""
    with tenant_scope(tenant):
        version = active_version_get(tenant=tenant, kind=kind)
    if version is None:
        return None
    return version, model_version_load(version=version)


def loaded_model(*, tenant: Tenant, version_id: int) -> Any:
    """The fitted model of a version by id: no query once this process has loaded it."""
    model = model_cache.cached(version_id)
    if model is None:
        with tenant_reads(tenant):
            model = model_cache.get(ModelVersion.objects.get(tenant=tenant, pk=version_id))
    return model
