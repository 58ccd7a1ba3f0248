"""Customer intelligence trainers on the training platform: segments and purchase propensity.

Both read the customer feature matrix aggregated in the database
(`selectors.customer_feature_matrix`) and store what they say of every customer as rows
of their model version (`CustomerPrediction`), so the active version's rows are current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.db.models import Max, Min
from sklearn.metrics import silhouette_score

from customers.ml.features import CustomerFeatures
from customers.ml.propensity import (
    PropensityModel,
    propensity_metrics,
    quality_band,
    quality_curves,
    recency_baseline,
)
from customers.ml.segmentation import Segmenter
from customers.models import Interaction
from customers.selectors import customer_feature_matrix, purchasers_between
from customers.services import customer_predictions_store
from tenants.context import tenant_scope
from tenants.models import Tenant
from training.registry import Progress, TrainedModel, TrainingData, register
from training.selectors import active_model_load

DEFAULT_WINDOW_DAYS = 30  # "will they buy within the next N days": a tenant setting
SILHOUETTE_HOLDOUT = 0.2
SILHOUETTE_SAMPLE = 10_000


def _settings(tenant: Tenant) -> dict:
    return (tenant.settings or {}).get("customers", {})


def _data_span(tenant: Tenant) -> tuple[datetime, datetime, dict] | None:
    """First and last interaction time, and the watermark; None with no interactions."""
    with tenant_scope(tenant):
        row = Interaction.objects.filter(tenant=tenant).aggregate(
            first=Min("occurred_at"), last=Max("occurred_at"), newest=Max("id")
        )
    if row["last"] is None:
        return None
    return row["first"], row["last"], {"interaction_id": row["newest"]}


@dataclass
class Scored:
    """A fitted model and what it says of each customer (stored by store_outputs)."""

    model: object
    customer_ids: np.ndarray
    segments: np.ndarray | None = None
    scores: np.ndarray | None = None


REVIEW_SENTIMENT = "review_sentiment"


def _with_review_sentiment(tenant: Tenant, features: CustomerFeatures) -> CustomerFeatures:
    """The features plus how positive each customer's reviews read (mean P(positive) under
    the active text classifier; 0.5, neutral, for customers without reviews), when the
    tenant has a sentiment model: unhappy reviewers can then form a segment of their own."""
    from nlp.selectors import customer_sentiments

    with tenant_scope(tenant):
        sentiments = customer_sentiments(tenant=tenant)
    if not sentiments:
        return features
    column = np.array(
        [sentiments.get(int(pk), (0, 0.5))[1] for pk in features.customer_ids], dtype=np.float64
    )
    return CustomerFeatures(
        features.customer_ids, np.column_stack([features.X, column]),
        [*features.names, REVIEW_SENTIMENT],
    )  # fmt: skip


class SegmentationTrainer:
    """k-means segments of the customers' features; ids stay stable across retrains by
    matching the new centroids to the active version's. Fitted on 80% of the customers and
    evaluated by the silhouette of the other 20% (assigned by the fitted model) against
    random assignments; then every customer is assigned."""

    kind = "segmentation"
    primary_metric = "silhouette"
    libraries: tuple[str, ...] = ("scikit-learn", "scipy")

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        span = _data_span(tenant)
        if span is None:
            return TrainingData(payload=None, watermark={}, rows=0)
        features = customer_feature_matrix(tenant=tenant, as_of=span[1] + timedelta(seconds=1))
        features = _with_review_sentiment(tenant, features)
        previous = active_model_load(tenant=tenant, kind=self.kind)
        payload = {"features": features, "previous": previous[1] if previous else None}
        return TrainingData(payload=payload, watermark=span[2], rows=len(features.customer_ids))

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        features: CustomerFeatures = data.payload["features"]
        seed = int(parameters.get("seed", 0))
        rng = np.random.default_rng(seed)
        held_out = rng.random(len(features.customer_ids)) < SILHOUETTE_HOLDOUT
        if held_out.all() or not held_out.any() or len(held_out) < 10:
            held_out = np.zeros(len(held_out), dtype=bool)
        progress("clustering", 20)
        segmenter = Segmenter(random_state=seed).fit(
            features.X[~held_out], features.names, previous=data.payload["previous"]
        )
        progress("evaluating", 60)
        metrics, baseline = {"k": float(segmenter.k_)}, {}
        if held_out.sum() >= 10:
            X_test = features.X[held_out]
            labels = segmenter.predict(X_test, features.names)
            Z = segmenter.transform(X_test, features.names)
            metrics["silhouette"] = _silhouette(Z, labels, seed)
            random_labels = rng.permutation(labels)
            baseline["silhouette"] = _silhouette(Z, random_labels, seed)
        # The model fitted on the 80% serves: refitting on every customer would cost a
        # second clustering (~16 s at 1M customers) for centroids that barely move.
        progress("assigning every customer", 70)
        segments = segmenter.predict(features.X, features.names)
        metrics.setdefault("silhouette", max(segmenter.silhouette_.values(), default=0.0))
        return TrainedModel(
            model=Scored(segmenter, features.customer_ids, segments=segments),
            metrics=metrics,
            baseline_metrics=baseline,
            candidates={
                f"k={k}": {"silhouette": float(s)} for k, s in segmenter.silhouette_.items()
            },
            parameters={
                "profiles": segmenter.profiles(features.X, features.names),
                "names": {str(k): v for k, v in segmenter.names_.items()},
                "map": segmenter.map_2d(features.X, features.names, random_state=seed),
            },
        )

    def store_outputs(self, *, tenant: Tenant, version, model: Scored, data: TrainingData) -> None:
        customer_predictions_store(
            tenant=tenant, version=version, customer_ids=model.customer_ids,
            segments=model.segments,
        )  # fmt: skip

    def save(self, model: Scored, directory: Path) -> None:
        model.model.save(directory)

    def load(self, directory: Path) -> Segmenter:
        return Segmenter.load(directory)


def _silhouette(Z: np.ndarray, labels: np.ndarray, seed: int) -> float:
    if len(np.unique(labels)) < 2:
        return 0.0
    size = min(len(Z), SILHOUETTE_SAMPLE)
    return float(silhouette_score(Z, labels, sample_size=size, random_state=seed))


class PropensityTrainer:
    """Probability that a customer purchases within the next N days (tenant setting
    `customers.propensity_window_days`, default 30).

    Time split: fit on features as of end - 2N with labels from [end - 2N, end - N);
    test on features as of end - N with labels from [end - N, end), against recency
    alone. The model is then refitted on the latest window and scores every customer as
    of now. Churn risk is derived from the same score (1 - propensity, for buyers)."""

    kind = "propensity"
    primary_metric = "roc_auc"
    libraries: tuple[str, ...] = ("scikit-learn", "skops")

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        span = _data_span(tenant)
        if span is None:
            return TrainingData(payload=None, watermark={}, rows=0)
        first, last, watermark = span
        window = timedelta(days=int(_settings(tenant).get("propensity_window_days",
                                                          DEFAULT_WINDOW_DAYS)))  # fmt: skip
        end = last + timedelta(seconds=1)
        test_start, train_start = end - window, end - 2 * window
        if train_start <= first:
            raise ValueError(
                f"Propensity needs more than {2 * window.days} days of history "
                f"(it has {(end - first).days}): one window to learn from, one to test on."
            )
        payload = {
            "train": self._labelled(tenant, train_start, test_start),
            "test": self._labelled(tenant, test_start, end),
            "now": customer_feature_matrix(tenant=tenant, as_of=end),
            "window_days": window.days,
        }
        return TrainingData(payload=payload, watermark=watermark, rows=len(payload["now"].X))

    @staticmethod
    def _labelled(tenant: Tenant, start: datetime, end: datetime) -> tuple:
        features = customer_feature_matrix(tenant=tenant, as_of=start)
        buyers = purchasers_between(tenant=tenant, start=start, end=end)
        return features, np.isin(features.customer_ids, buyers)

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        (train_x, train_y), (test_x, test_y) = data.payload["train"], data.payload["test"]
        seed = int(parameters.get("seed", 0))
        names = _common_names(train_x, test_x, data.payload["now"])
        progress("fitting", 20)
        model = PropensityModel(random_state=seed).fit(_columns(train_x, names), train_y, names)
        progress("evaluating on the next window", 60)
        X_test = _columns(test_x, names)
        if test_y.all() or not test_y.any():
            raise ValueError(
                "Every customer, or none, bought in the latest window: nothing to test a "
                "propensity model on. A longer window (customers.propensity_window_days) helps."
            )
        tested = model.predict_proba(X_test)
        metrics = propensity_metrics(test_y, tested)
        baseline = propensity_metrics(test_y, recency_baseline(X_test, names))
        baseline.pop("brier", None)  # recency is a ranking, not a probability
        metrics["quality_band"] = quality_band(metrics["roc_auc"])
        progress("refitting on the latest window", 75)
        final = PropensityModel(random_state=seed).fit(X_test, test_y, names)
        now = data.payload["now"]
        scores = final.predict_proba(_columns(now, names))
        return TrainedModel(
            model=Scored(final, now.customer_ids, scores=scores),
            metrics=metrics,
            baseline_metrics=baseline,
            candidates={
                **{name: dict(values) for name, values in model.candidate_metrics_.items()},
                "recency": baseline,
            },
            parameters={
                "window_days": data.payload["window_days"],
                "chosen": model.chosen_,
                "calibration": model.calibration_,
                "train_customers": int(len(train_y)),
                "train_base_rate": float(np.mean(train_y)),
                "test_customers": int(len(test_y)),
                "curves": quality_curves(test_y, tested),
            },
        )

    def store_outputs(self, *, tenant: Tenant, version, model: Scored, data: TrainingData) -> None:
        customer_predictions_store(
            tenant=tenant, version=version, customer_ids=model.customer_ids, scores=model.scores
        )

    def save(self, model: Scored, directory: Path) -> None:
        model.model.save(directory)

    def load(self, directory: Path) -> PropensityModel:
        return PropensityModel.load(directory)


def _common_names(*matrices: CustomerFeatures) -> list[str]:
    """The columns every matrix has (the top categories can differ between cut-offs)."""
    names = [n for n in matrices[0].names if all(n in m.names for m in matrices[1:])]
    return names


def _columns(features: CustomerFeatures, names: list[str]) -> np.ndarray:
    index = [features.names.index(name) for name in names]
    return features.X[:, index] if len(features.X) else np.empty((0, len(names)))


register(SegmentationTrainer())
register(PropensityTrainer())
