"""Time-based holdout and top-k ranking metrics; pure numpy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender.ml.data import KIND_CODE, InteractionArrays, negative_mask

RELEVANT_KINDS = (KIND_CODE["click"], KIND_CODE["add_to_cart"], KIND_CODE["purchase"])


@dataclass(frozen=True)
class Holdout:
    train: InteractionArrays
    test: InteractionArrays
    cutoff: float


def time_split(arrays: InteractionArrays, test_fraction: float = 0.1) -> Holdout:
    """Everything before the cutoff trains; the newest `test_fraction` of events tests."""
    if len(arrays) < 2:
        raise ValueError("Not enough interactions to hold any out.")
    cutoff = float(np.quantile(arrays.timestamp, 1.0 - test_fraction))
    is_test = arrays.timestamp > cutoff
    return Holdout(arrays.subset(~is_test), arrays.subset(is_test), cutoff)


def relevant_items(test: InteractionArrays) -> dict[int, set[int]]:
    """Per customer, the products they engaged with positively in the test window."""
    positive = np.isin(test.kind, RELEVANT_KINDS) | (
        (test.kind == KIND_CODE["rating"]) & (test.value >= 4)
    )
    positive &= test.product >= 0
    relevant: dict[int, set[int]] = {}
    for customer, product in zip(test.customer[positive], test.product[positive], strict=True):
        relevant.setdefault(int(customer), set()).add(int(product))
    return relevant


def seen_items(train: InteractionArrays) -> dict[int, set[int]]:
    """Products not to recommend back: bought or rated (either way) in training."""
    mask = np.isin(train.kind, (KIND_CODE["purchase"], KIND_CODE["rating"])) | negative_mask(train)
    mask &= train.product >= 0
    seen: dict[int, set[int]] = {}
    for customer, product in zip(train.customer[mask], train.product[mask], strict=True):
        seen.setdefault(int(customer), set()).add(int(product))
    return seen


def ranking_metrics(
    recommended: dict[int, list[int]], relevant: dict[int, set[int]], *, k: int, n_items: int
) -> dict[str, float]:
    """Precision, recall, NDCG, MAP at k (binary relevance) and catalogue coverage."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg, average_precision = [], [], [], []
    shown: set[int] = set()
    for customer, truth in relevant.items():
        ranked = recommended.get(customer, [])[:k]
        shown.update(ranked)
        hits = np.array([item in truth for item in ranked], dtype=float)
        n_hits = hits.sum()
        precision.append(n_hits / k)
        recall.append(n_hits / len(truth))
        ideal = discounts[: min(len(truth), k)].sum()
        ndcg.append(float((hits * discounts[: len(hits)]).sum() / ideal))
        cumulative = np.cumsum(hits) / np.arange(1, len(hits) + 1) if len(hits) else np.array([])
        average_precision.append(float((cumulative * hits).sum() / min(len(truth), k)))
    if not relevant:
        return {f"{m}@{k}": 0.0 for m in ("precision", "recall", "ndcg", "map")} | {
            "coverage": 0.0, "evaluated_customers": 0.0,
        }  # fmt: skip
    return {
        f"precision@{k}": float(np.mean(precision)),
        f"recall@{k}": float(np.mean(recall)),
        f"ndcg@{k}": float(np.mean(ndcg)),
        f"map@{k}": float(np.mean(average_precision)),
        "coverage": len(shown) / max(n_items, 1),
        "evaluated_customers": float(len(relevant)),
    }


def evaluate_recommender(
    recommend: Callable[[int, set[int], int], list[int]],
    holdout: Holdout,
    *,
    k: int = 10,
    n_items: int,
) -> dict[str, float]:
    """Score `recommend(customer, exclude, k)` on the holdout's relevant items."""
    relevant = relevant_items(holdout.test)
    seen = seen_items(holdout.train)
    for customer in relevant:
        relevant[customer] -= seen.get(customer, set())
    relevant = {c: items for c, items in relevant.items() if items}
    recommended = {c: recommend(c, seen.get(c, set()), k) for c in relevant}
    return ranking_metrics(recommended, relevant, k=k, n_items=n_items)
