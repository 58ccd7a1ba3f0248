"""Reads of the nlp app: training texts, reviews to score, product texts and sequences for
the embeddings, and the stored sentiment of customers and products."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from django.db.models import Count, Exists, OuterRef, Q

from customers.models import Interaction, Product
from nlp.models import LabelledExample, ReviewSentiment, SentimentSummary
from recommender.selectors import interaction_arrays
from tenants.context import tenant_scope
from tenants.models import Tenant
from training.models import ActiveModel

SENTIMENT = "sentiment"
POSITIVE, NEGATIVE = "positive", "negative"
TEXT_KIND, EMBEDDINGS_KIND = "text", "embeddings"
REVIEW_KINDS = (Interaction.Kind.REVIEW, Interaction.Kind.RATING)
SEQUENCE_KINDS = ("view", "click", "add_to_cart", "purchase")


def reviews(*, tenant: Tenant | int):
    """The tenant's reviews: reviews and ratings that carry text."""
    return Interaction.objects.filter(tenant=tenant, kind__in=REVIEW_KINDS).exclude(text="")


def weak_label(rating: float | None) -> str | None:
    """The sentiment a star rating implies: 4-5 positive, 1-2 negative, else none."""
    if rating is None or rating != rating:  # NaN
        return None
    if rating >= 4:
        return POSITIVE
    if rating <= 2:
        return NEGATIVE
    return None


def newest_interaction_id(*, tenant: Tenant, reviews_only: bool = False) -> int:
    """The watermark the retrain fan-out compares new interactions against."""
    with tenant_scope(tenant):
        rows = reviews(tenant=tenant) if reviews_only else Interaction.objects.filter(tenant=tenant)
        return rows.order_by("-id").values_list("id", flat=True).first() or 0


def training_texts(*, tenant: Tenant) -> dict[str, tuple[list[str], list[str], int]]:
    """Per task: (texts, labels, how many came from ratings). Uploaded examples first; for
    "sentiment", reviews whose rating gives a weak label, unless that text was labelled."""
    by_task: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    with tenant_scope(tenant):
        for task, text, label in LabelledExample.objects.filter(tenant=tenant).values_list(
            "task", "text", "label"
        ):
            by_task[task][0].append(text)
            by_task[task][1].append(label)
        labelled = set(by_task[SENTIMENT][0]) if SENTIMENT in by_task else set()
        weak = 0
        for text, rating in (
            reviews(tenant=tenant).values_list("text", "value").iterator(chunk_size=5000)
        ):
            label = weak_label(rating)
            if label and text not in labelled:
                by_task[SENTIMENT][0].append(text)
                by_task[SENTIMENT][1].append(label)
                weak += 1
    return {
        task: (texts, labels, weak if task == SENTIMENT else 0)
        for task, (texts, labels) in by_task.items()
        if texts
    }


def example_counts(*, tenant: Tenant | int) -> dict[str, dict[str, int]]:
    """Uploaded examples per task and label."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        LabelledExample.objects.filter(tenant=tenant)
        .values("task", "label")
        .annotate(n=Count("pk"))
        .values_list("task", "label", "n")
    )
    for task, label, n in rows:
        counts[task][label] = n
    return dict(counts)


def reviews_to_score(
    *, tenant: Tenant, version_id: int, only_new: bool = True
) -> list[tuple[int, str]]:
    """(interaction id, text) of reviews the version has not read yet (or all of them)."""
    rows = reviews(tenant=tenant)
    if only_new:
        read = ReviewSentiment.objects.filter(version_id=version_id, interaction=OuterRef("pk"))
        rows = rows.filter(~Exists(read))
    return list(rows.order_by("id").values_list("id", "text"))


def product_texts(*, tenant: Tenant) -> tuple[np.ndarray, list[str], list[str]]:
    """Every product's internal id, its text (title, description, tags) and category."""
    with tenant_scope(tenant):
        rows = list(
            Product.objects.filter(tenant=tenant)
            .order_by("id")
            .values_list("id", "title", "description", "category", "tags")
        )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    texts = [" ".join([t, d, " ".join(str(x) for x in tags or [])]) for _, t, d, _, tags in rows]
    return ids, texts, [r[3] for r in rows]


def review_texts(*, tenant: Tenant, limit: int = 200_000) -> list[str]:
    with tenant_scope(tenant):
        return list(reviews(tenant=tenant).order_by("-id").values_list("text", flat=True)[:limit])


def product_sequences(*, tenant: Tenant) -> list[list[str]]:
    """Each customer's products in time order (views, clicks, carts, purchases), as
    strings of internal ids: the sentences of item2vec."""
    arrays, _ = interaction_arrays(tenant=tenant)
    from recommender.ml.data import KIND_CODE

    keep = np.isin(arrays.kind, [KIND_CODE[k] for k in SEQUENCE_KINDS]) & (arrays.product >= 0)
    customer, product, stamp = arrays.customer[keep], arrays.product[keep], arrays.timestamp[keep]
    order = np.lexsort((stamp, customer))
    customer, product = customer[order], product[order]
    bounds = np.flatnonzero(np.diff(customer)) + 1
    return [
        [str(p) for p in chunk.tolist()] for chunk in np.split(product, bounds) if len(chunk) >= 2
    ]


def _active_version_id(tenant: Tenant | int, kind: str) -> int | None:
    return (
        ActiveModel.objects.filter(tenant=tenant, kind=kind)
        .values_list("version_id", flat=True)
        .first()
    )


def sentiment_of(*, tenant: Tenant | int, customer_id: int | None = None,
                 product_id: int | None = None) -> dict | None:  # fmt: skip
    """{"reviews", "positive_share", "mean_positive"} of a customer's or product's reviews
    as the active text classifier reads them; None when there is nothing to say."""
    version_id = _active_version_id(tenant, TEXT_KIND)
    if version_id is None:
        return None
    subject = Q(customer_id=customer_id) if customer_id is not None else Q(product_id=product_id)
    row = (
        SentimentSummary.objects.filter(tenant=tenant, version_id=version_id)
        .filter(subject)
        .values("reviews", "positive_share", "mean_positive")
        .first()
    )
    return row


def customer_sentiments(*, tenant: Tenant | int) -> dict[int, tuple[int, float]]:
    """customer id -> (reviews, mean P(positive)) under the active text classifier."""
    version_id = _active_version_id(tenant, TEXT_KIND)
    if version_id is None:
        return {}
    rows = SentimentSummary.objects.filter(
        tenant=tenant, version_id=version_id, customer__isnull=False
    ).values_list("customer_id", "reviews", "mean_positive")
    return {customer: (n, mean) for customer, n, mean in rows}


def task_overview(*, tenant: Tenant) -> list[dict]:
    """Each task with uploaded examples or a trained classifier: examples per label, and
    the active text model's held-out report for it."""
    from training.selectors import active_version_get

    counts = example_counts(tenant=tenant)
    version = active_version_get(tenant=tenant, kind=TEXT_KIND)
    run = version.training_run if version else None  # its report keeps the per-task details
    reports = ((run.metrics or {}).get("details", {}) if run else {}).get("tasks", {})
    return [
        {"task": task, "examples": counts.get(task, {}), "trained": task in reports,
         "metrics": reports.get(task)}
        for task in sorted(set(counts) | set(reports))
    ]  # fmt: skip
