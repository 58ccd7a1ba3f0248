from __future__ import annotations

import time
from collections.abc import Callable

from tenants.context import tenant_scope
from tests.factories import InteractionFactory
from training.models import ActiveModel, ModelVersion, TrainingRun


def add_interactions(tenant, n: int = 30) -> None:
    for i in range(n):
        InteractionFactory(tenant=tenant, kind="purchase" if i % 3 else "view")


def run_of(tenant, run_id: int) -> TrainingRun:
    with tenant_scope(tenant):
        return TrainingRun.objects.get(pk=run_id)


def versions_of(tenant, kind: str) -> list[ModelVersion]:
    with tenant_scope(tenant):
        return list(ModelVersion.objects.filter(kind=kind).order_by("version"))


def active_version(tenant, kind: str) -> ModelVersion | None:
    with tenant_scope(tenant):
        pointer = ActiveModel.objects.filter(kind=kind).select_related("version").first()
        return pointer.version if pointer else None


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
