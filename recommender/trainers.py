"""Recommender trainers registered with the training platform."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from recommender.ml.data import DEFAULT_HALF_LIFE_DAYS, InteractionArrays
from recommender.ml.evaluation import evaluate_recommender, time_split
from recommender.ml.hybrid import DEFAULT_MIN_HISTORY, HybridRecommender
from recommender.ml.matrix import IdIndex, load_indices, save_indices
from recommender.ml.popularity import PopularityRecommender
from recommender.ml.selection import select_model
from recommender.selectors import interaction_arrays, newest_interaction_time, product_texts
from tenants.models import Tenant
from training.errors import TRANSIENT_ERRORS
from training.registry import Progress, TrainedModel, TrainingData, register
from training.selectors import active_model_load

log = logging.getLogger(__name__)

EVALUATION_K = 10
MATRIX_SETTINGS = "matrix_settings.json"
DEFAULT_TIME_BUDGET = 120.0  # seconds of hyperparameter search; a tenant setting
EMBEDDINGS_KIND = "embeddings"  # the NLP app's Word2Vec / item2vec kind


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


class ProductVectors(Protocol):
    """What the recommender reads of a loaded `embeddings` model (nlp.ml.bundle.Embeddings)."""

    def content_of(self, product_ids: np.ndarray) -> np.ndarray: ...

    def item_vectors(self, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def embedding_inputs(*, tenant: Tenant, product_ids: np.ndarray) -> dict[str, Any]:
    """The tenant's active embeddings as plain arrays aligned with `product_ids` (zero rows
    for products without a vector), for the `w2v_content` and `item2vec` families; None
    without an active version, and `embeddings` says which version or why none."""
    inputs: dict[str, Any] = dict.fromkeys(("content_vectors", "item_vectors", "vectors_through"))
    try:
        found = active_model_load(tenant=tenant, kind=EMBEDDINGS_KIND)
        if found is None:
            return inputs | {"embeddings": {"version": None, "reason": "no active version"}}
        version, model = found[0], cast(ProductVectors, found[1])
        content = np.asarray(model.content_of(product_ids), dtype=np.float32)
        items, has_item = model.item_vectors(product_ids)
    except TRANSIENT_ERRORS:
        raise  # the database is away: the run is retried, not trained without embeddings
    except Exception as error:  # broken embeddings must not stop the recommender
        log.warning("embeddings of tenant %s not used", tenant.pk, exc_info=True)
        return inputs | {"embeddings": {"version": None, "reason": f"not loaded: {error}"}}
    has_item = np.asarray(has_item, dtype=bool)
    inputs["content_vectors"] = content
    inputs["item_vectors"] = np.where(has_item[:, None], items, 0).astype(np.float32)
    # When item2vec was trained, so that selection can say how much of the held-out data
    # its vectors have already seen.
    inputs["vectors_through"] = newest_interaction_time(
        tenant=tenant, up_to_id=version.watermark_interaction_id
    )
    info = {
        "version": version.version,
        "products": len(product_ids),
        "with_content_vector": int((np.abs(content).sum(axis=1) > 0).sum()),
        "with_item_vector": int(has_item.sum()),
    }
    return inputs | {"embeddings": info}


@dataclass(frozen=True)
class ServingModel:
    """The hybrid serving bundle and the id indices its rows and columns stand for."""

    model: HybridRecommender
    customers: IdIndex
    products: IdIndex
    matrix_settings: dict  # kind_weights, half_life_days: serving builds rows the same way


class RecommenderTrainer:
    """Model selection over the candidate families (ALS, BPR, PureSVD, item-kNN, EASE,
    content, blends; popularity as the baseline; w2v_content and item2vec when the tenant
    has an active `embeddings` version) on the tenant's own time-split data; the winner by
    validation NDCG@10 is refitted on all data."""

    kind = "recommender"
    primary_metric = f"ndcg@{EVALUATION_K}"
    libraries: tuple[str, ...] = ("implicit", "scipy", "scikit-learn")

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        arrays, watermark = interaction_arrays(tenant=tenant)
        product_ids, texts = product_texts(tenant=tenant)
        settings = _tenant_settings(tenant)
        payload = {
            "arrays": arrays,
            "product_ids": product_ids,
            "texts": texts,
            "kind_weights": settings.get("kind_weights"),
            "half_life_days": settings.get("half_life_days", DEFAULT_HALF_LIFE_DAYS),
            "time_budget": settings.get("time_budget_seconds", DEFAULT_TIME_BUDGET),
            "min_history": settings.get("min_history", DEFAULT_MIN_HISTORY),
            **embedding_inputs(tenant=tenant, product_ids=product_ids),
        }
        return TrainingData(payload=payload, watermark=watermark, rows=len(arrays))

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        payload = data.payload
        progress("selecting a model", 10)
        result = select_model(
            payload["arrays"],
            product_ids=payload["product_ids"],
            item_texts=payload["texts"],
            item_vectors=payload.get("item_vectors"),
            content_vectors=payload.get("content_vectors"),
            vectors_through=payload.get("vectors_through"),
            families=parameters.get("families"),
            time_budget=float(parameters.get("time_budget", payload["time_budget"])),
            kind_weights=payload["kind_weights"],
            half_life_days=payload["half_life_days"],
            k=EVALUATION_K,
        )
        progress(f"refitting {result.winner} on all data", 80)
        model, matrices = result.refit_on_all(payload["arrays"])
        progress("fitting the content and popularity companions", 90)
        hybrid = HybridRecommender.build(
            model, matrices.confidence, result.item_texts,
            content_vectors=result.content_vectors,
            content_family=result.content_family() or "content",
            min_history=payload["min_history"],
        )  # fmt: skip
        return TrainedModel(
            model=ServingModel(hybrid, matrices.customers, matrices.products, result.settings),
            metrics={**result.test[result.winner], "model": result.winner},
            baseline_metrics=result.test.get("popularity", {}),
            candidates=result.test,
            parameters={
                **result.summary(),
                "embeddings": payload.get("embeddings", {}),
                "serving": {
                    "min_history": hybrid.min_history,
                    "content": hybrid.content is not None,
                    "content_model": None if hybrid.content is None else hybrid.content.family,
                    "cold_products_reached": len(hybrid.cold_items),
                    "matrix_settings": result.settings,
                },
            },
        )

    def save(self, model: ServingModel, directory: Path) -> None:
        model.model.save(directory)
        save_indices(directory, model.customers, model.products)
        (directory / MATRIX_SETTINGS).write_text(json.dumps(model.matrix_settings))

    def load(self, directory: Path) -> ServingModel:
        customers, products = load_indices(directory)
        settings = json.loads((directory / MATRIX_SETTINGS).read_text())
        return ServingModel(HybridRecommender.load(directory), customers, products, settings)


register(PopularityTrainer())
register(RecommenderTrainer())
