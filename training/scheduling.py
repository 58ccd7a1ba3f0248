"""Scheduled retraining: one fan-out walks every tenant and queues only the runs that are due.

A run is due for (tenant, kind) when the tenant's policy is enabled, the active version is
older than the cadence, and at least `min_new_interactions` arrived since its watermark.
The whole walk costs a fixed handful of queries, whatever the number of tenants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from customers.models import Interaction
from tenants.context import tenant_scope
from tenants.models import Tenant
from tenants.queue import enqueue_on_commit
from training.models import ActiveModel, RetrainPolicy, TrainingRun
from training.registry import registered_kinds

DEFAULT_POLICY = RetrainPolicy(enabled=True, cadence_hours=24, min_new_interactions=100)


@dataclass
class FanOutReport:
    tenants: int = 0
    queued: list[tuple[int, str]] = field(default_factory=list)


def _new_interaction_counts(marks: set[tuple[int, int]], cap: int) -> dict[tuple[int, int], int]:
    """Per (tenant, watermark), interactions newer than it, counted up to `cap`: one query of
    index range scans on (tenant_id, id)."""
    if not marks:
        return {}
    table = Interaction._meta.db_table
    values = ", ".join(["(%s, %s)"] * len(marks))
    params = [p for mark in sorted(marks) for p in mark]
    sql = (
        f"WITH w(tenant_id, since) AS (VALUES {values}) "
        f"SELECT w.tenant_id, w.since, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} i "
        f"WHERE i.tenant_id = w.tenant_id AND i.id > w.since LIMIT %s) AS capped) FROM w"
    )
    if connection.vendor == "postgresql":
        sql = sql.replace("(%s, %s)", "(%s::bigint, %s::bigint)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, cap])
        return {(t, since): count for t, since, count in cursor.fetchall()}


def retraining_fan_out(*, now: datetime | None = None) -> FanOutReport:
    from training.tasks import train_model

    now = now or timezone.now()
    kinds = registered_kinds()
    tenants = list(Tenant.objects.filter(is_active=True).values_list("id", flat=True))
    report = FanOutReport(tenants=len(tenants))
    if not tenants or not kinds:
        return report
    with tenant_scope(tenants=tenants):
        policies = {(p.tenant_id, p.kind): p for p in RetrainPolicy.objects.all()}
        active = {
            (a.tenant_id, a.kind): (a.version.watermark_interaction_id, a.version.created_at)
            for a in ActiveModel.objects.select_related("version")
        }
        # A version trained on an erased customer's data is replaced at the next run,
        # whatever the cadence and the new data.
        erased = set(
            ActiveModel.objects.filter(version__retrain_required=True).values_list(
                "tenant_id", "kind"
            )
        )
        busy = set(
            TrainingRun.objects.filter(
                status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
            ).values_list("tenant_id", "kind")
        )
        candidates: dict[tuple[int, str], RetrainPolicy] = {}
        for tenant_id in tenants:
            for kind in kinds:
                policy = policies.get((tenant_id, kind), DEFAULT_POLICY)
                trained_at = active.get((tenant_id, kind), (0, None))[1]
                cadence_ok = trained_at is None or now - trained_at >= timedelta(
                    hours=policy.cadence_hours
                )
                cadence_ok = cadence_ok or (tenant_id, kind) in erased
                if policy.enabled and cadence_ok and (tenant_id, kind) not in busy:
                    candidates[(tenant_id, kind)] = policy
        marks = {key: active.get(key, (0, None))[0] for key in candidates}
        cap = max((p.min_new_interactions for p in candidates.values()), default=1) or 1
        counts = _new_interaction_counts({(t, marks[(t, k)]) for t, k in candidates}, cap)
        due = [
            (tenant_id, kind)
            for (tenant_id, kind), policy in candidates.items()
            if (tenant_id, kind) in erased
            or counts.get((tenant_id, marks[(tenant_id, kind)]), 0)
            >= max(policy.min_new_interactions, 1)
        ]
        runs = TrainingRun.objects.bulk_create(
            [TrainingRun(tenant_id=t, kind=k, trigger=TrainingRun.Trigger.SCHEDULE) for t, k in due]
        )
        for run in runs:
            enqueue_on_commit(train_model, run.tenant_id, run.pk)
        report.queued = due
    return report
