"""Customers, products and the interactions between them, per tenant."""

from django.db import models

from customers.ingest.validation import EXTERNAL_ID_MAX
from tenants.models import TenantOwnedModel


class Customer(TenantOwnedModel):
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX)
    email = models.EmailField(blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    email_opt_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="customer_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class Product(TenantOwnedModel):
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX)
    title = models.CharField(max_length=500, blank=True, default="")
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=200, blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="product_unique_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "category"], name="product_category"),
            # Serving reads the few inactive products on every request.
            models.Index(
                fields=["tenant"], condition=models.Q(is_active=False), name="product_inactive"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class Interaction(TenantOwnedModel):
    class Kind(models.TextChoices):
        VIEW = "view"
        CLICK = "click"
        ADD_TO_CART = "add_to_cart"
        PURCHASE = "purchase"
        RATING = "rating"
        REVIEW = "review"

    event_id = models.CharField(max_length=EXTERNAL_ID_MAX)
    # These keep their own indexes: PostgreSQL's foreign-key checks on deleting a customer or
    # product look rows up by this column alone (no tenant), as erasure will.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="interactions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"], name="interaction_unique_event_id"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "customer", "occurred_at"], name="interaction_customer_time"
            ),
            models.Index(
                fields=["tenant", "product", "occurred_at"], name="interaction_product_time"
            ),
            models.Index(fields=["tenant", "occurred_at"], name="interaction_time"),
            # "Interactions newer than a model's watermark", for the retrain fan-out.
            models.Index(fields=["tenant", "id"], name="interaction_watermark"),
        ]

    def __str__(self) -> str:
        return self.event_id


class CustomerPrediction(TenantOwnedModel):
    """What one model version says of one customer: a segment, or a purchase propensity.

    Immutable per version, like the version's artifact: activating or rolling back a
    version makes its predictions the current ones without rewriting a row."""

    version = models.ForeignKey("training.ModelVersion", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="predictions")
    segment = models.IntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "customer"], name="prediction_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "version", "segment"], name="prediction_segment"),
            models.Index(fields=["tenant", "version", "score"], name="prediction_score"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} @ {self.version_id}"


class ErasureRecord(TenantOwnedModel):
    """That a customer was erased, when and by whom, and how much was removed; never who
    (no id, no email: the record must not bring back what it records the removal of)."""

    erased_at = models.DateTimeField(auto_now_add=True)
    erased_by = models.CharField(max_length=200)  # "user:<username>" or "api key:<prefix>"
    removed = models.JSONField(default=dict)  # rows removed or detached, per kind
    versions_marked = models.JSONField(default=list)  # model versions set to retrain

    def __str__(self) -> str:
        return f"erasure {self.erased_at:%Y-%m-%d %H:%M} by {self.erased_by}"


class ConsentEvent(TenantOwnedModel):
    """The append-only history behind a customer's consent flags: every grant and
    withdrawal, on which channel, from where. Nothing updates or deletes these rows except
    the customer's erasure."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=20, default="email")
    granted = models.BooleanField()
    source = models.CharField(max_length=50)  # api, bulk, admin, unsubscribe link
    occurred_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "customer", "occurred_at"], name="consent_customer_time")
        ]

    def __str__(self) -> str:
        return f"{self.channel} {'granted' if self.granted else 'withdrawn'} ({self.source})"
