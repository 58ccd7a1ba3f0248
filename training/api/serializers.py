from rest_framework import serializers

from customers.ingest.validation import RowError, json_object
from training.models import ModelVersion, RetrainPolicy, TrainingRun


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(
        source="model_version_id", read_only=True, allow_null=True
    )
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    progress = serializers.IntegerField(read_only=True, min_value=0, max_value=100)
    attempts = serializers.IntegerField(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id", "kind", "status", "trigger", "stage", "progress", "parameters", "watermark",
            "metrics", "error", "attempts", "queued_at", "started_at", "finished_at",
            "duration_seconds", "model_version",
        ]  # fmt: skip
        read_only_fields = fields


class TrainingRunRequestSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text='A registered model kind, or "all".')
    parameters = serializers.DictField(required=False, default=dict)

    def validate_parameters(self, value: dict) -> dict:
        try:
            return json_object(value, "parameters") or {}
        except RowError as error:
            raise serializers.ValidationError(error.reason) from None


class ModelVersionSerializer(serializers.ModelSerializer):
    is_active = serializers.SerializerMethodField()
    primary_value = serializers.FloatField(read_only=True, allow_null=True)
    version = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id", "kind", "version", "status", "is_active", "primary_metric", "primary_value",
            "metrics", "baseline_metrics", "candidates", "rejection_reason", "artifact_sha256",
            "library_versions", "watermark", "training_run", "created_at", "replaced_at",
            "artifact_deleted_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_is_active(self, version: ModelVersion) -> bool:
        return version.status == ModelVersion.Status.ACTIVE


class RetrainPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RetrainPolicy
        fields = ["kind", "enabled", "cadence_hours", "min_new_interactions", "tolerance"]
        read_only_fields = ["kind"]
        extra_kwargs = {
            # Explicit bounds keep the schema the same on every database.
            "cadence_hours": {"min_value": 1, "max_value": 24 * 366},
            "min_new_interactions": {"min_value": 0, "max_value": 1_000_000_000},
            "tolerance": {"min_value": 0.0, "max_value": 1.0},
        }
