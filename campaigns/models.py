"""Tables of the campaigns app."""

from django.conf import settings
from django.db import models

from tenants.models import TenantOwnedModel


class Segment(TenantOwnedModel):
    """A rule-based audience: a JSON filter (grammar in campaigns.filters) over the tenant's
    customers. Membership is not stored; it is evaluated whenever the segment is used."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    filter = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="segment_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(TenantOwnedModel):
    """A message to a segment, personalised per customer, measured against a holdout."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        SENDING = "sending"
        PAUSED = "paused"
        SENT = "sent"
        CANCELLED = "cancelled"

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    name = models.CharField(max_length=200)
    # The audience: a rule segment, or a segment id of the active segmentation model.
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    model_segment = models.IntegerField(null=True, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    # [{"name": "a", "subject": "...", "body": "..."}, ...]: one or more content variants.
    variants = models.JSONField(default=list)
    recommendations = models.PositiveSmallIntegerField(default=0)  # top-N per customer
    recommendations_category = models.CharField(max_length=200, blank=True, default="")
    scheduled_at = models.DateTimeField(null=True, blank=True)  # none: when launched
    holdout_share = models.FloatField(default=0.1)
    attribution_days = models.PositiveSmallIntegerField(default=3)
    conversion_kind = models.CharField(max_length=20, default="purchase")
    frequency_cap = models.PositiveSmallIntegerField(null=True, blank=True)  # K campaigns...
    frequency_cap_days = models.PositiveSmallIntegerField(default=7)  # ...in D days
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    launched_at = models.DateTimeField(null=True, blank=True)
    # Refreshed by the sending worker after every batch; a sending campaign whose heartbeat
    # is old has lost its worker and is picked up again by the periodic tick.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="campaign_unique_name"),
            models.CheckConstraint(
                condition=models.Q(segment__isnull=True) | models.Q(model_segment__isnull=True),
                name="campaign_one_audience",
            ),
            models.CheckConstraint(
                condition=models.Q(holdout_share__gte=0) & models.Q(holdout_share__lt=1),
                name="campaign_holdout_share",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Recipient(TenantOwnedModel):
    """One customer of a launched campaign: frozen at launch, with its group and outcome.
    The unique (campaign, customer) row is what guarantees nobody gets a campaign twice."""

    class Group(models.TextChoices):
        TREATMENT = "treatment"
        CONTROL = "control"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"  # claimed by a sending worker, not yet recorded
        SENT = "sent"
        FAILED = "failed"
        EXCLUDED = "excluded"
        HELD_OUT = "held_out"  # the control group: never sent

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    # Null once the customer is erased: the row stays so the campaign's counts do not change.
    customer = models.ForeignKey(
        "customers.Customer", null=True, on_delete=models.SET_NULL, related_name="campaign_receipts"
    )
    group = models.CharField(max_length=10, choices=Group.choices)
    variant = models.CharField(max_length=50, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    excluded_reason = models.CharField(max_length=50, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)  # a failed send waits until then
    error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="recipient_unique")
        ]
        indexes = [
            models.Index(fields=["tenant", "campaign", "status"], name="recipient_status"),
            models.Index(fields=["tenant", "customer", "sent_at"], name="recipient_customer_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}"
