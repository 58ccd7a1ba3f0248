"""Training runs, model versions and the active-version pointer, per tenant and model kind."""

from django.db import models
from django.db.models import Q

from tenants.models import TenantOwnedModel


class TrainingRun(TenantOwnedModel):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    class Trigger(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        SCHEDULE = "schedule"
        MANUAL = "manual"

    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    stage = models.CharField(max_length=64, blank=True, default="")
    progress = models.PositiveSmallIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    watermark = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # The per-tenant-and-kind lock: two runs of one kind never run at once.
            models.UniqueConstraint(
                fields=["tenant", "kind"],
                condition=Q(status="running"),
                name="training_one_running_run_per_kind",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "kind", "status"], name="training_run_kind_status"),
            models.Index(fields=["status", "heartbeat_at"], name="training_run_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def summary(self) -> str:
        primary = self.metrics.get("primary_metric")
        if self.status == self.Status.FAILED:
            return self.error.splitlines()[0] if self.error else ""
        if primary:
            value = self.metrics.get("metrics", {}).get(primary)
            return f"{primary}={value:.4f}" if isinstance(value, float) else f"{primary}={value}"
        return self.stage


class ModelVersion(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending"  # its per-customer outputs are being stored
        ACTIVE = "active"
        RETIRED = "retired"
        REJECTED = "rejected"

    kind = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    primary_metric = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict)
    baseline_metrics = models.JSONField(default=dict, blank=True)
    candidates = models.JSONField(default=dict, blank=True)
    rejection_reason = models.TextField(blank=True, default="")
    # Set when a customer whose data this version learnt from is erased: the next scheduled
    # retrain of the kind runs whatever its cadence and new data, and replaces it.
    retrain_required = models.BooleanField(default=False)
    artifact_path = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    # When another version took its place (retired); the retention period counts from here.
    replaced_at = models.DateTimeField(null=True, blank=True)
    # When its artifact was deleted after the tenant's retention period; it cannot serve again.
    artifact_deleted_at = models.DateTimeField(null=True, blank=True)
    library_versions = models.JSONField(default=dict)
    watermark = models.JSONField(default=dict)
    # The newest interaction id trained on, as a column so the fan-out can compare in SQL.
    watermark_interaction_id = models.BigIntegerField(default=0)
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "version"], name="model_version_unique_number"
            )
        ]
        indexes = [models.Index(fields=["tenant", "kind", "-version"], name="model_version_kind")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"

    @property
    def primary_value(self) -> float | None:
        return self.metrics.get(self.primary_metric)


class ActiveModel(TenantOwnedModel):
    """The pointer to the serving version; activation and rollback flip only this row."""

    kind = models.CharField(max_length=64)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    activated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind"], name="active_model_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} -> v{self.version.version}"


class RetrainPolicy(TenantOwnedModel):
    """When a tenant's model of one kind is retrained on schedule."""

    kind = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    cadence_hours = models.PositiveIntegerField(default=24)
    min_new_interactions = models.PositiveIntegerField(default=100)
    tolerance = models.FloatField(
        default=0.01, help_text="A challenger is activated unless worse than the champion by more."
    )

    class Meta:
        verbose_name_plural = "retrain policies"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind"], name="retrain_policy_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: every {self.cadence_hours} h"
