"""Tables of the nlp app: labelled examples a tenant uploads, and what the active text
classifier says of each review (per version, so activation switches them at once)."""

from django.db import models

from tenants.models import TenantOwnedModel


class LabelledExample(TenantOwnedModel):
    """One text with its label for a task ("sentiment", "topic", ...). Uploading the same
    text for the same task again replaces its label."""

    task = models.CharField(max_length=50)
    text = models.TextField()
    key = models.CharField(max_length=64)  # sha256 of task and text: the upsert key
    label = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="example_unique_key")]
        indexes = [models.Index(fields=["tenant", "task", "label"], name="example_task_label")]

    def __str__(self) -> str:
        return f"{self.task}: {self.label}"


class ReviewSentiment(TenantOwnedModel):
    """The sentiment a classifier version reads in one review (or rating with text)."""

    version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.CASCADE, related_name="review_sentiments"
    )
    interaction = models.ForeignKey(
        "customers.Interaction", on_delete=models.CASCADE, related_name="sentiments"
    )
    label = models.CharField(max_length=100)
    positive = models.FloatField(null=True)  # P(positive), when the task has that label

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "interaction"], name="review_sentiment_unique"
            )
        ]


class SentimentSummary(TenantOwnedModel):
    """A customer's or a product's reviews as one version read them."""

    version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.CASCADE, related_name="sentiment_summaries"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE,
        related_name="sentiment_summaries",
    )  # fmt: skip
    product = models.ForeignKey(
        "customers.Product", null=True, blank=True, on_delete=models.CASCADE,
        related_name="sentiment_summaries",
    )  # fmt: skip
    reviews = models.PositiveIntegerField()
    positive_share = models.FloatField()  # share of reviews read as positive
    mean_positive = models.FloatField()  # mean P(positive)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "customer"], name="sentiment_customer"),
            models.UniqueConstraint(fields=["version", "product"], name="sentiment_product"),
            models.CheckConstraint(
                condition=models.Q(customer__isnull=True) ^ models.Q(product__isnull=True),
                name="sentiment_one_subject",
            ),
        ]
