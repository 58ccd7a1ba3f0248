"""Admin of training: runs with live progress, version history with a metric plot, policies;
actions to retrain and to activate (roll back or forward)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from tenants.admin import TenantScopedAdminMixin
from tenants.context import tenant_scope
from tenants.errors import DomainError
from training import services
from training.admin_tables import candidates_table, ratio, selection_caption, winner_of
from training.models import ModelVersion, RetrainPolicy, TrainingRun

LIVE_REFRESH_SECONDS = 5
# Per kind, what else a version's page shows, drawn from its run's details; apps register
# their own (customers/admin.py: segment profiles and map, propensity curves).
DETAIL_RENDERERS: dict[str, Callable[[dict, dict], SafeString]] = {}


class ReadOnlyTenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Rows written only by the platform; members act on them through actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_write_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)


def _retrain(request: HttpRequest, pairs: set[tuple[int, str]]) -> None:
    from tenants.models import Tenant

    for tenant_id, kind in sorted(pairs):
        runs = services.training_run_request(
            tenant=Tenant.objects.get(pk=tenant_id), kind=kind, trigger=TrainingRun.Trigger.ADMIN
        )
        messages.success(request, f"Queued {kind} run {runs[0].pk}.")


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyTenantAdmin):
    list_display = ("id", "kind", "status", "progress_bar", "stage", "trigger", "queued_at",
                    "duration", "outcome")  # fmt: skip
    list_filter = ("kind", "status", "trigger")
    readonly_fields = ("kind", "status", "trigger", "stage", "progress", "parameters", "watermark",
                       "metrics", "error", "attempts", "queued_at", "started_at", "heartbeat_at",
                       "finished_at", "model_version")  # fmt: skip
    actions = ["retrain_kind"]
    ordering = ("-queued_at",)

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun) -> SafeString:
        return format_html(
            '<progress max="100" value="{}" title="{}%"></progress> {}%',
            run.progress, run.progress, run.progress,
        )  # fmt: skip

    @admin.display(description="seconds")
    def duration(self, run: TrainingRun) -> str:
        return f"{run.duration_seconds:.1f}" if run.duration_seconds is not None else "–"

    @admin.display(description="outcome")
    def outcome(self, run: TrainingRun) -> str:
        return run.summary()

    @admin.action(description="Retrain the kinds of the selected runs", permissions=["write"])
    def retrain_kind(self, request: HttpRequest, queryset: QuerySet) -> None:
        _retrain(request, set(queryset.values_list("tenant_id", "kind")))

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        active = self.get_queryset(request).filter(
            status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
        )
        if active.exists():  # live progress while something runs
            response["Refresh"] = str(LIVE_REFRESH_SECONDS)
        return response


def metric_history_svg(
    points: list[tuple[int, float, str]], width: int = 480, height: int = 140
) -> str:
    """A small line plot of a metric over versions; active and rejected versions marked."""
    if not points:
        return ""
    values = [value for _, value, _ in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    pad = 20

    def xy(i: int, value: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / max(len(points) - 1, 1))
        y = height - pad - (height - 2 * pad) * ((value - low) / span)
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, (_, v, _) in enumerate(points)]
    colour = {"active": "#2e7d32", "rejected": "#c62828", "retired": "#757575"}
    dots = "".join(
        f'<circle cx="{x}" cy="{y}" r="4" fill="{colour.get(status, "#1565c0")}">'
        f"<title>v{version}: {value:.4f} ({status})</title></circle>"
        for (x, y), (version, value, status) in zip(coords, points, strict=True)
    )
    line = " ".join(f"{x},{y}" for x, y in coords)
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="metric history">'
        f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="2"/>{dots}'
        f'<text x="{pad}" y="12" font-size="11">{high:.4f}</text>'
        f'<text x="{pad}" y="{height - 4}" font-size="11">{low:.4f}</text></svg>'
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyTenantAdmin):
    list_display = ("kind", "version", "status", "primary", "baseline", "lift", "created_at")
    list_filter = ("kind", "status")
    readonly_fields = ("kind", "version", "status", "history", "primary_metric", "metrics",
                       "baseline_metrics", "candidate_table", "model_details", "rejection_reason",
                       "artifact_path", "artifact_sha256", "library_versions", "watermark",
                       "training_run", "created_at", "replaced_at",
                       "artifact_deleted_at")  # fmt: skip
    exclude = ("candidates",)  # shown as the candidate table instead of raw JSON
    actions = ["activate", "retrain_kind"]
    ordering = ("kind", "-version")

    @admin.display(description="primary metric")
    def primary(self, version: ModelVersion) -> str:
        value = version.primary_value
        return f"{version.primary_metric} {value:.4f}" if isinstance(value, float) else "–"

    @admin.display(description="baseline")
    def baseline(self, version: ModelVersion) -> str:
        value = version.baseline_metrics.get(version.primary_metric)
        return f"{value:.4f}" if isinstance(value, float) else "–"

    @admin.display(description="lift vs baseline")
    def lift(self, version: ModelVersion) -> str:
        # From the row's own JSON: no extra query per changelist row.
        return ratio(version.primary_value, version.baseline_metrics.get(version.primary_metric))

    @admin.display(description="model")
    def model_details(self, version: ModelVersion) -> SafeString:
        render = DETAIL_RENDERERS.get(version.kind)
        run = version.training_run
        details = run.metrics.get("details", {}) if run else {}
        if render is None or not isinstance(details, dict):
            return format_html("{}", "–")
        return render(details, version.metrics)

    @admin.display(description="candidates")
    def candidate_table(self, version: ModelVersion) -> SafeString:
        # The run's details say why the winner won (validation) and how it serves.
        details = version.training_run.metrics.get("details", {}) if version.training_run else {}
        return candidates_table(
            version.candidates, primary_metric=version.primary_metric,
            winner=winner_of(version.metrics, version.candidates),
            caption=selection_caption(details if isinstance(details, dict) else {}),
        )  # fmt: skip

    @admin.display(description="primary metric over versions")
    def history(self, version: ModelVersion) -> SafeString:
        with tenant_scope(version.tenant_id):
            rows = ModelVersion.objects.filter(kind=version.kind).order_by("version")
            points = [(v.version, float(v.primary_value or 0.0), v.status) for v in rows]
        return mark_safe(metric_history_svg(points))  # built from numbers and fixed strings

    @admin.action(description="Activate the selected version (roll back or forward)",
                  permissions=["write"])  # fmt: skip
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            messages.error(request, "Select exactly one version to activate.")
            return
        version = queryset.select_related("tenant").get()
        try:
            services.model_version_activate(tenant=version.tenant, version=version)
        except DomainError as error:  # e.g. its artifact was deleted after retention
            messages.error(request, error.message)
            return
        messages.success(request, f"{version.kind} v{version.version} is now active.")

    @admin.action(description="Retrain the kinds of the selected versions", permissions=["write"])
    def retrain_kind(self, request: HttpRequest, queryset: QuerySet) -> None:
        _retrain(request, set(queryset.values_list("tenant_id", "kind")))


@admin.register(RetrainPolicy)
class RetrainPolicyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "enabled", "cadence_hours", "min_new_interactions", "tolerance")
    list_filter = ("kind", "enabled")
    actions = ["retrain_now"]

    def has_write_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    @admin.action(description="Retrain now", permissions=["write"])
    def retrain_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        _retrain(request, set(queryset.values_list("tenant_id", "kind")))
