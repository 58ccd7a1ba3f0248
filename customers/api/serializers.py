from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.ingest.validation import (
    BATCH_MAX,
    INTERACTION_KINDS,
    TAG_MAX,
    TAGS_MAX,
    RowError,
    identifier,
    json_object,
)
from customers.models import Customer, Interaction, Product


class ExternalIdSerializerMixin:
    """The same rules for external_id and attributes as every ingest path (ingest.validation).

    Uniqueness per tenant is checked by the service, which knows the tenant.
    """

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["external_id"].read_only = True
        return fields

    def validate_external_id(self, value: str) -> str:
        return self._row_rule(identifier, value, "external_id")

    def validate_attributes(self, value: object) -> dict:
        return self._row_rule(json_object, value, "attributes") or {}

    @staticmethod
    def _row_rule(rule, value: object, field: str):
        try:
            return rule(value, field)
        except RowError as error:
            raise serializers.ValidationError(f"This field {error.reason}.") from None


class CustomerSerializer(ExternalIdSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["external_id", "email", "attributes", "email_opt_in", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # (tenant, external_id) uniqueness: see ExternalIdSerializerMixin


class CustomerSummarySerializer(serializers.Serializer):
    recency_days = serializers.IntegerField(
        allow_null=True, help_text="Days since the last purchase."
    )
    frequency = serializers.IntegerField(help_text="Number of purchases.")
    monetary = serializers.FloatField(help_text="Sum of purchase amounts.")
    interactions = serializers.IntegerField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    last_purchase_at = serializers.DateTimeField(allow_null=True)


class SegmentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SentimentSerializer(serializers.Serializer):
    reviews = serializers.IntegerField(help_text="Reviews read by the active classifier.")
    positive_share = serializers.FloatField(help_text="Share read as positive.")
    mean_positive = serializers.FloatField(help_text="Mean probability of positive.")


SENTIMENT_HELP = (
    "Sentiment of the reviews as the active text classifier (task `sentiment`) reads them; "
    "null before one is trained or without reviews."
)


class CustomerDetailSerializer(CustomerSerializer):
    summary = serializers.SerializerMethodField()
    segment = serializers.SerializerMethodField(
        help_text="The customer's segment in the active segmentation model; null before one "
        "is trained or for a customer it has not seen."
    )
    propensity = serializers.SerializerMethodField(
        help_text="Probability of a purchase within the tenant's window (default 30 days), "
        "from the active propensity model; null before one is trained."
    )
    churn_risk = serializers.SerializerMethodField(
        help_text="1 - propensity for a customer who has bought before; null otherwise."
    )
    sentiment = serializers.SerializerMethodField(help_text=SENTIMENT_HELP)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "summary", "segment", "propensity",
                  "churn_risk", "sentiment"]  # fmt: skip

    def get_summary(self, customer) -> CustomerSummarySerializer:
        return CustomerSummarySerializer(self.context["summary"]).data

    @extend_schema_field(SegmentRefSerializer(allow_null=True))
    def get_segment(self, customer) -> dict | None:
        return self.context.get("segment")

    def get_propensity(self, customer) -> float | None:
        return self.context.get("propensity")

    def get_churn_risk(self, customer) -> float | None:
        return self.context.get("churn_risk")

    @extend_schema_field(SentimentSerializer(allow_null=True))
    def get_sentiment(self, customer) -> dict | None:
        return self.context.get("sentiment")


class ProductSerializer(ExternalIdSerializerMixin, serializers.ModelSerializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=TAG_MAX), max_length=TAGS_MAX, required=False
    )

    class Meta:
        model = Product
        fields = [
            "external_id",
            "title",
            "description",
            "category",
            "price",
            "tags",
            "attributes",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"price": {"min_value": 0}}  # as in bulk ingest
        validators = []  # (tenant, external_id) uniqueness: see ExternalIdSerializerMixin


class InteractionSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    product = serializers.CharField(source="product.external_id", allow_null=True)

    class Meta:
        model = Interaction
        fields = [
            "event_id",
            "customer",
            "product",
            "kind",
            "value",
            "text",
            "occurred_at",
            "received_at",
        ]


class InteractionInSerializer(serializers.Serializer):
    """The shape of one event in `POST interactions/bulk/` (documentation of the body)."""

    event_id = serializers.CharField(
        max_length=128, help_text="Idempotency key, unique per tenant."
    )
    customer = serializers.CharField(max_length=128, help_text="The customer's external id.")
    product = serializers.CharField(max_length=128, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=INTERACTION_KINDS)
    value = serializers.FloatField(
        required=False, allow_null=True, help_text="Rating 1–5 or amount."
    )
    text = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    occurred_at = serializers.DateTimeField()


class RejectedRowSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    reason = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    customers_created = serializers.IntegerField()
    products_created = serializers.IntegerField()
    rejected = RejectedRowSerializer(many=True)


BULK_DESCRIPTION = (
    f"A JSON array of 1 to {BATCH_MAX:,} records. Valid rows are kept even when others are "
    "rejected; each rejected row is listed by its index with the field and the reason. "
    "The answer is 200 when at least one row was accepted, 400 when none was."
)


class ProductDetailSerializer(ProductSerializer):
    sentiment = serializers.SerializerMethodField(help_text=SENTIMENT_HELP)

    class Meta(ProductSerializer.Meta):
        fields = [*ProductSerializer.Meta.fields, "sentiment"]

    @extend_schema_field(SentimentSerializer(allow_null=True))
    def get_sentiment(self, product) -> dict | None:
        return self.context.get("sentiment")
