from rest_framework import serializers

from campaigns.filters import describe
from campaigns.models import Segment
from campaigns.selectors import PREVIEW_SAMPLE_MAX

FILTER_HELP = describe()


class SegmentSerializer(serializers.ModelSerializer):
    filter = serializers.JSONField(help_text=FILTER_HELP)

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "filter", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # (tenant, name) uniqueness: the service checks it, knowing the tenant


class SegmentPreviewQuerySerializer(serializers.Serializer):
    sample = serializers.IntegerField(
        min_value=0, max_value=PREVIEW_SAMPLE_MAX, default=20,
        help_text="How many member external ids to return.",
    )  # fmt: skip


class FilterPreviewSerializer(SegmentPreviewQuerySerializer):
    filter = serializers.JSONField(help_text=FILTER_HELP)


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Customers matching the filter now.")
    sample = serializers.ListField(
        child=serializers.CharField(),
        help_text="External ids of up to `sample` members, the first by external id.",
    )
