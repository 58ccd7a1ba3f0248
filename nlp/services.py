"""Writes of the nlp app: labelled examples, review sentiment and its summaries, and the
classifier and embeddings answers the API gives."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, Q
from django.utils import timezone

from customers.ingest.validation import RowError, check_unicode
from nlp import selectors
from nlp.ml.classifier import TextClassifier
from nlp.ml.embeddings import UnknownTerm
from nlp.models import LabelledExample, ReviewSentiment, SentimentSummary
from tenants.context import tenant_scope
from tenants.errors import BadRequest, NotFound
from tenants.models import Tenant
from training.models import ActiveModel, ModelVersion
from training.selectors import active_model_load

TASK_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_TEXT = 5_000  # characters
MAX_LABEL = 100
MAX_EXAMPLES = 10_000  # per bulk request
MAX_CLASSIFY = 1_000  # texts per classify request
SCORE_CHUNK = 2_000


def check_task(task: object, path: str = "task") -> str:
    if not isinstance(task, str) or not TASK_PATTERN.match(task):
        raise BadRequest(
            f"{path}: a task name is 1-50 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (e.g. 'sentiment', 'topic')."
        )
    return task


def _text_error(text: object) -> str | None:
    if not isinstance(text, str):
        return "must be a string"
    if not text.strip():
        return "must not be empty"
    if len(text) > MAX_TEXT:
        return f"at most {MAX_TEXT} characters (got {len(text)})"
    return _unstorable(text)


def _unstorable(text: str) -> str | None:
    """What a database cannot store: NUL characters and lone surrogates."""
    try:
        check_unicode(text, "")
    except RowError as error:
        return error.reason
    return None


# --- labelled examples -----------------------------------------------------------------------


@dataclass
class ExamplesResult:
    created: int = 0
    updated: int = 0
    rejected: list[dict] = field(default_factory=list)


def examples_upsert(*, tenant: Tenant, rows: object) -> ExamplesResult:
    """Store `[{"text", "label", "task"}, ...]`; a text already labelled for the task gets
    the new label. Bad rows are reported by index with the field and reason; the valid rows
    are kept."""
    if not isinstance(rows, list):
        raise BadRequest("Send a JSON array of {text, label, task} objects.")
    if len(rows) > MAX_EXAMPLES:
        raise BadRequest(f"At most {MAX_EXAMPLES} examples per request (got {len(rows)}).")
    result = ExamplesResult()
    valid: dict[tuple[str, str], LabelledExample] = {}
    for index, row in enumerate(rows):
        problem = _example_problem(row)
        if problem:
            result.rejected.append({"index": index, "field": problem[0], "reason": problem[1]})
            continue
        key = example_key(row["task"], row["text"])
        # The last row wins when one request labels the same text twice.
        valid[key] = LabelledExample(
            tenant=tenant, task=row["task"], text=row["text"], key=key, label=row["label"].strip()
        )
    if valid:
        with tenant_scope(tenant):
            existing = set(
                LabelledExample.objects.filter(tenant=tenant, key__in=list(valid)).values_list(
                    "key", flat=True
                )
            )
            now = timezone.now()
            for example in valid.values():
                example.updated_at = now
            LabelledExample.objects.bulk_create(
                list(valid.values()), batch_size=2_000, update_conflicts=True,
                unique_fields=["tenant", "key"], update_fields=["label", "updated_at"],
            )  # fmt: skip
        result.updated = len(existing & set(valid))
        result.created = len(valid) - result.updated
    return result


def example_key(task: str, text: str) -> str:
    """One example per task and text: sha256 over both."""
    return hashlib.sha256(f"{task}\0{text}".encode()).hexdigest()


def _example_problem(row: object) -> tuple[str, str] | None:
    if not isinstance(row, dict):
        return "", "must be an object with text, label and task"
    # What the list route shows may be sent back as is; other fields are likely typos.
    unknown = set(row) - {"text", "label", "task", "id", "key", "created_at", "updated_at"}
    if unknown:
        return sorted(unknown)[0], "unknown field"
    text_error = _text_error(row.get("text"))
    if text_error:
        return "text", text_error
    label = row.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        return "label", f"a non-empty string of at most {MAX_LABEL} characters"
    if _unstorable(label):
        return "label", _unstorable(label)
    try:
        check_task(row.get("task"))
    except BadRequest:
        return "task", "1-50 lower-case letters, digits, '-' or '_'"
    return None


# --- using the classifier --------------------------------------------------------------------


def _classifier(tenant: Tenant, task: str) -> TextClassifier:
    loaded = active_model_load(tenant=tenant, kind=selectors.TEXT_KIND)
    classifiers = loaded[1].classifiers if loaded else {}
    if task not in classifiers:
        known = ", ".join(sorted(classifiers)) or "none yet"
        raise NotFound(
            f"No trained classifier for task {task!r} (tasks with one: {known}). Upload "
            "labelled examples and train the 'text' kind."
        )
    return classifiers[task]


def texts_classify(*, tenant: Tenant, task: object, texts: object) -> list[dict[str, Any]]:
    """Label and class probabilities of each text, in order."""
    task = check_task(task)
    if not isinstance(texts, list) or not texts:
        raise BadRequest("texts: give a non-empty list of strings.")
    if len(texts) > MAX_CLASSIFY:
        raise BadRequest(f"texts: at most {MAX_CLASSIFY} per request (got {len(texts)}).")
    for index, text in enumerate(texts):
        problem = _text_error(text)
        if problem:
            raise BadRequest(f"texts[{index}]: {problem}.")
    classifier = _classifier(tenant, task)
    probabilities = classifier.predict_proba(texts)
    labels = [str(label) for label in classifier.classes_]
    best = probabilities.argmax(axis=1)
    return [
        {"label": labels[b], "probabilities": dict(zip(labels, row.round(6).tolist(), strict=True))}
        for b, row in zip(best.tolist(), probabilities, strict=True)
    ]


def similar_terms(*, tenant: Tenant, term: object, limit: int = 10) -> list[dict]:
    if not isinstance(term, str) or not term.strip():
        raise BadRequest("term: give a word, e.g. ?term=shoe")
    loaded = active_model_load(tenant=tenant, kind=selectors.EMBEDDINGS_KIND)
    if loaded is None:
        raise NotFound("No word embeddings are trained yet: train the 'embeddings' kind.")
    words = loaded[1].words
    from nlp.ml.text import normalize_text

    key = normalize_text(term.strip())
    try:
        found = words.similar(key, limit=limit)
    except UnknownTerm:
        raise NotFound(
            f"No vector for {term!r}: it does not appear in the tenant's product texts and "
            "reviews, or too rarely."
        ) from None
    return [{"term": t, "similarity": round(float(s), 6)} for t, s in found]


# --- review sentiment ------------------------------------------------------------------------


def reviews_score(
    *, tenant: Tenant, version: ModelVersion, classifier: TextClassifier, only_new: bool = True
) -> int:
    """Read the sentiment of the tenant's reviews with `classifier` (the `sentiment` model
    of `version`) and refresh the summaries of the customers and products concerned."""
    with tenant_scope(tenant):
        unread = selectors.reviews_to_score(tenant=tenant, version_id=version.pk, only_new=only_new)
    if not unread:
        return 0
    labels = [str(label) for label in classifier.classes_]
    positive = labels.index(selectors.POSITIVE) if selectors.POSITIVE in labels else None
    for start in range(0, len(unread), SCORE_CHUNK):
        chunk = unread[start : start + SCORE_CHUNK]
        probabilities = classifier.predict_proba([text for _, text in chunk])
        best = probabilities.argmax(axis=1)
        # A chunk's readings and the summaries they change commit together: a worker killed
        # between chunks leaves no review read without its summaries, and the next run (or
        # the sweep) reads the rest.
        with transaction.atomic(), tenant_scope(tenant):
            ReviewSentiment.objects.bulk_create(
                [
                    ReviewSentiment(
                        tenant=tenant,
                        version=version,
                        interaction_id=pk,
                        label=labels[b],
                        positive=None if positive is None else float(row[positive]),
                    )  # fmt: skip
                    for (pk, _), b, row in zip(chunk, best.tolist(), probabilities, strict=True)
                ],
                ignore_conflicts=True,
            )
            _summaries_refresh(tenant, version, [pk for pk, _ in chunk], positive is not None)
    return len(unread)


def _summaries_refresh(
    tenant: Tenant, version: ModelVersion, interaction_ids: list[int], has_positive: bool
) -> None:
    """Recompute the summaries of every customer and product the given reviews touch."""
    with tenant_scope(tenant):
        touched = selectors.reviews(tenant=tenant).filter(pk__in=interaction_ids)
        customers = set(touched.values_list("customer_id", flat=True))
        products = set(touched.exclude(product=None).values_list("product_id", flat=True))
        _summaries_rebuild(tenant, version, {"customer": customers, "product": products},
                           has_positive)  # fmt: skip


def _summaries_rebuild(
    tenant: Tenant, version: ModelVersion, subjects: dict[str, set[int]], has_positive: bool
) -> None:
    """Replace the version's summaries of these customers and products (field -> ids) with
    ones computed from its review rows now."""
    read = ReviewSentiment.objects.filter(tenant=tenant, version=version)
    positive = Q(label=selectors.POSITIVE)
    for subject, ids in subjects.items():
        SentimentSummary.objects.filter(
            tenant=tenant, version=version, **{f"{subject}_id__in": ids}
        ).delete()
        rows = (
            read.filter(**{f"interaction__{subject}_id__in": ids})
            .values(f"interaction__{subject}_id")
            .annotate(n=Count("pk"), pos=Count("pk", filter=positive), mean=Avg("positive"))
        )
        SentimentSummary.objects.bulk_create(
            [
                SentimentSummary(
                    tenant=tenant,
                    version=version,
                    reviews=row["n"],
                    positive_share=row["pos"] / row["n"],
                    mean_positive=float(row["mean"])
                    if has_positive and row["mean"] is not None
                    else row["pos"] / row["n"],
                    **{f"{subject}_id": row[f"interaction__{subject}_id"]},
                )  # fmt: skip
                for row in rows
            ],
            batch_size=5_000,
        )


def customer_reviews_forget(*, tenant: Tenant, customer_id: int) -> dict[str, int]:
    """Before a customer is erased: drop what every version read in their reviews, and
    recompute the summaries of the products they reviewed without them."""
    with tenant_scope(tenant):
        read = ReviewSentiment.objects.filter(tenant=tenant, interaction__customer_id=customer_id)
        products: dict[int, set[int]] = {}
        for version_id, product_id in read.exclude(interaction__product=None).values_list(
            "version_id", "interaction__product_id"
        ):
            products.setdefault(version_id, set()).add(product_id)
        removed, _ = read.delete()
        SentimentSummary.objects.filter(tenant=tenant, customer_id=customer_id).delete()
        for version in ModelVersion.objects.filter(tenant=tenant, pk__in=list(products)):
            _summaries_rebuild(tenant, version, {"product": products[version.pk]}, True)
    return {"review_sentiments": removed}


def reviews_score_new(*, tenant_id: int) -> int:
    """Score reviews that arrived since the active text classifier read the others."""
    return _score_unread(Tenant.objects.get(pk=tenant_id))


def reviews_score_unread_all() -> dict[str, int]:
    """The sweep: every tenant's reviews its active classifier has not read (a scoring task
    lost with its worker, or published while the broker was down). Returns slug -> read."""
    tenants = list(Tenant.objects.all())
    with tenant_scope(tenants=[tenant.pk for tenant in tenants]):
        with_model = set(
            ActiveModel.objects.filter(kind=selectors.TEXT_KIND).values_list("tenant_id", flat=True)
        )
    read = {tenant.slug: _score_unread(tenant) for tenant in tenants if tenant.pk in with_model}
    return {slug: scored for slug, scored in read.items() if scored}


def _score_unread(tenant: Tenant) -> int:
    loaded = active_model_load(tenant=tenant, kind=selectors.TEXT_KIND)
    if loaded is None or selectors.SENTIMENT not in loaded[1].classifiers:
        return 0
    version, bundle = loaded
    return reviews_score(
        tenant=tenant, version=version, classifier=bundle.classifiers[selectors.SENTIMENT]
    )


def has_active_text_model(tenant: Tenant | int) -> bool:
    with tenant_scope(tenant):
        return ActiveModel.objects.filter(tenant=tenant, kind=selectors.TEXT_KIND).exists()
