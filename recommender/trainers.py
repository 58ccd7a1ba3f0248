"""Recommender trainers registered with the training platform."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender.ml.data import DEFAULT_HALF_LIFE_DAYS, InteractionArrays
from recommender.ml.evaluation import evaluate_recommender, time_split
from recommender.ml.popularity import PopularityRecommender
from recommender.selectors import interaction_arrays
from tenants.models import Tenant
from training.registry import Progress, TrainedModel, TrainingData, register

EVALUATION_K = 10


def _tenant_settings(tenant: Tenant) -> dict:
    return (tenant.settings or {}).get("recommender", {})


class PopularityTrainer:
    kind = "popularity"
    primary_metric = f"ndcg@{EVALUATION_K}"
    libraries: tuple[str, ...] = ()

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        arrays, watermark = interaction_arrays(tenant=tenant)
        settings = _tenant_settings(tenant)
        payload = {
            "arrays": arrays,
            "kind_weights": settings.get("kind_weights"),
            "half_life_days": settings.get("half_life_days", DEFAULT_HALF_LIFE_DAYS),
        }
        return TrainingData(payload=payload, watermark=watermark, rows=len(arrays))

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        arrays: InteractionArrays = data.payload["arrays"]
        params = {
            "kind_weights": parameters.get("kind_weights", data.payload["kind_weights"]),
            "half_life_days": parameters.get("half_life_days", data.payload["half_life_days"]),
        }
        progress("splitting", 10)
        holdout = time_split(arrays, test_fraction=parameters.get("test_fraction", 0.1))
        n_items = int(np.unique(arrays.product[arrays.product >= 0]).size)
        progress("fitting", 30)
        candidate = PopularityRecommender(**params).fit(holdout.train, now=holdout.cutoff)
        progress("evaluating", 50)
        metrics = evaluate_recommender(
            lambda c, seen, k: candidate.recommend(k, seen)[0].tolist(),
            holdout, k=EVALUATION_K, n_items=n_items,
        )  # fmt: skip
        baseline = evaluate_recommender(
            _random_ranker(holdout.train, seed=parameters.get("seed", 0)),
            holdout, k=EVALUATION_K, n_items=n_items,
        )  # fmt: skip
        progress("refitting on all data", 80)
        model = PopularityRecommender(**params).fit(arrays)
        return TrainedModel(
            model=model,
            metrics=metrics,
            baseline_metrics=baseline,
            candidates={"popularity": metrics, "random": baseline},
            parameters=params,
        )

    def save(self, model: PopularityRecommender, directory: Path) -> None:
        model.save(directory)

    def load(self, directory: Path) -> PopularityRecommender:
        return PopularityRecommender.load(directory)


def _random_ranker(train: InteractionArrays, *, seed: int):
    """The baseline: products in a random order (what knowing nothing gives)."""
    products = np.unique(train.product[train.product >= 0])
    rng = np.random.default_rng(seed)

    def recommend(customer: int, seen: set[int], k: int) -> list[int]:
        picks = rng.choice(products, size=min(len(products), k + len(seen)), replace=False)
        return [int(p) for p in picks if p not in seen][:k]

    return recommend


register(PopularityTrainer())
