from rest_framework import serializers

from campaigns.filters import describe
from campaigns.models import Campaign, Recipient, Segment
from campaigns.rendering import __doc__ as RENDERING_DOC
from campaigns.selectors import PREVIEW_SAMPLE_MAX
from customers.ingest.validation import INTERACTION_KINDS

FILTER_HELP = describe()
MAX_RECOMMENDATIONS = 50
VARIANTS_HELP = (
    "One or more content variants, [{name, subject, body}], split evenly across the "
    "treatment group (an A/B test when there are two or more). Subject and body are Django "
    "templates. " + RENDERING_DOC.split("Variables:", 1)[1].strip()
)


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


class CampaignSerializer(serializers.ModelSerializer):
    # Scoped by the request's tenant (the default manager): another tenant's segment id is
    # "does not exist", a 400.
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), allow_null=True, required=False,
        help_text="A rule segment's id; or give model_segment instead.",
    )  # fmt: skip
    model_segment = serializers.IntegerField(
        allow_null=True, required=False, min_value=0,
        help_text="A segment id of the active segmentation model (customers/{id}/ shows it).",
    )  # fmt: skip
    variants = serializers.JSONField(help_text=VARIANTS_HELP)
    recommendations = serializers.IntegerField(
        min_value=0, max_value=MAX_RECOMMENDATIONS, default=0,
        help_text="How many personalised products each message gets as `recommendations`.",
    )  # fmt: skip
    holdout_share = serializers.FloatField(
        min_value=0.0, max_value=0.9, default=0.1,
        help_text="Share of the audience held out as the control group (never sent).",
    )  # fmt: skip
    attribution_days = serializers.IntegerField(min_value=1, max_value=90, default=3)
    conversion_kind = serializers.ChoiceField(choices=INTERACTION_KINDS, default="purchase")
    frequency_cap = serializers.IntegerField(
        min_value=1, max_value=100, allow_null=True, required=False,
        help_text="No customer gets more than this many campaigns in frequency_cap_days.",
    )  # fmt: skip
    frequency_cap_days = serializers.IntegerField(min_value=1, max_value=365, default=7)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "segment", "model_segment", "channel", "variants", "recommendations",
            "recommendations_category", "scheduled_at", "holdout_share", "attribution_days",
            "conversion_kind", "frequency_cap", "frequency_cap_days", "status", "launched_at",
            "finished_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "launched_at", "finished_at", "created_at",
                            "updated_at"]  # fmt: skip
        validators = []  # (tenant, name) uniqueness: the service checks it, knowing the tenant


class LaunchSerializer(serializers.Serializer):
    status = serializers.CharField()
    scheduled_at = serializers.DateTimeField(required=False)
    recipients = serializers.IntegerField(required=False)
    pending = serializers.IntegerField(required=False, help_text="Treatment, to be sent.")
    held_out = serializers.IntegerField(required=False, help_text="Control group.")
    excluded = serializers.IntegerField(required=False)
    excluded_by_reason = serializers.DictField(child=serializers.IntegerField(), required=False)


class RecipientSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(
        source="customer.external_id",
        read_only=True,
        allow_null=True,
        help_text="External id; null once the customer was erased.",
    )

    class Meta:
        model = Recipient
        fields = ["customer", "group", "variant", "status", "excluded_reason", "attempts",
                  "error", "sent_at"]  # fmt: skip
        read_only_fields = fields


class PreviewQuerySerializer(serializers.Serializer):
    customer = serializers.CharField(
        required=False, help_text="External id of the customer to render for (default: the "
        "first member of the audience by external id).",
    )  # fmt: skip
    variant = serializers.CharField(required=False, help_text="Variant name (default: first).")


class PreviewSerializer(serializers.Serializer):
    customer = serializers.CharField(allow_null=True)
    variant = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    recommendations = serializers.ListField(child=serializers.DictField())


class GroupReportSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True)
    revenue = serializers.FloatField()
    revenue_per_recipient = serializers.FloatField(allow_null=True)


class UpliftSerializer(serializers.Serializer):
    treatment_rate = serializers.FloatField()
    control_rate = serializers.FloatField()
    absolute = serializers.FloatField(help_text="Treatment rate minus control rate.")
    absolute_low = serializers.FloatField(help_text="95% interval (Newcombe).")
    absolute_high = serializers.FloatField()
    relative = serializers.FloatField(allow_null=True, help_text="absolute / control rate")
    relative_low = serializers.FloatField(allow_null=True)
    relative_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(help_text="Two-proportion z-test, two-sided.")
    verdict = serializers.CharField(
        help_text="significant uplift, significant drop, no detectable effect, or not "
        "enough recipients yet."
    )


class ReportSerializer(serializers.Serializer):
    status = serializers.CharField()
    recipients = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    excluded_by_reason = serializers.DictField(child=serializers.IntegerField())
    groups = serializers.DictField(child=GroupReportSerializer(), help_text="treatment, control")
    uplift = UpliftSerializer()
    variants = serializers.JSONField(
        allow_null=True, help_text="Between content variants (two or more): each rate, the "
        "overall chi-square p-value, each variant against the first with Holm-adjusted "
        "p-values, and the winner if one is significantly better.",
    )  # fmt: skip
    daily = serializers.ListField(
        child=serializers.DictField(), help_text="Cumulative conversions per day since the "
        "launch, per group: [{day, treatment, control}], for the chart.",
    )  # fmt: skip
