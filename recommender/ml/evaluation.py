"""Time-based holdout and top-k ranking metrics; pure numpy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

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


def relevance_mask(arrays: InteractionArrays) -> np.ndarray:
    """Interactions that count as a hit: click, cart, purchase, or a rating of 4-5."""
    positive = np.isin(arrays.kind, RELEVANT_KINDS) | (
        (arrays.kind == KIND_CODE["rating"]) & (arrays.value >= 4)
    )
    return positive & (arrays.product >= 0)


def relevant_items(test: InteractionArrays) -> dict[int, set[int]]:
    """Per customer, the products they engaged with positively in the test window."""
    positive = relevance_mask(test)
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


class BatchRecommender(Protocol):
    def recommend(
        self,
        user_rows: sp.csr_matrix,
        k: int,
        exclude: sp.csr_matrix | None = None,
        user_indices: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


def evaluate_model(
    model: BatchRecommender,
    history: sp.csr_matrix,
    truth: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix | None = None,
    k: int = 10,
    batch_users: int = 1024,
) -> dict[str, float]:
    """The metrics of `ranking_metrics`, vectorised over users, for a matrix-level model.

    Row u of `history` is what the model knows of user u (also its training row index),
    row u of `truth` what they went on to like; `exclude` is removed from both the
    recommendations and the truth (an excluded item can never be a hit). Only users with
    something left to find are scored, as in `evaluate_recommender`.
    """
    truth = sp.csr_matrix(truth, dtype=np.float32)
    if exclude is not None:
        truth = (truth - truth.multiply(exclude > 0)).tocsr()
    truth.eliminate_zeros()
    n_relevant = np.diff(truth.indptr)
    users = np.flatnonzero(n_relevant)
    n_items = truth.shape[1]
    keys = [f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map")]
    if not len(users):
        return dict.fromkeys(keys, 0.0) | {"coverage": 0.0, "evaluated_customers": 0.0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[1.0], np.cumsum(discounts)])  # IDCG by min(|relevant|, k)
    sums = np.zeros(4)
    shown = np.zeros(n_items, dtype=bool)
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        items, _ = model.recommend(
            history[batch], k, None if exclude is None else exclude[batch], user_indices=batch
        )
        shown[items[items >= 0]] = True
        dense = truth[batch].toarray() > 0
        hits = np.take_along_axis(dense, np.maximum(items, 0), axis=1) & (items >= 0)
        n_rel = n_relevant[batch]
        n_hits = hits.sum(axis=1)
        capped = np.minimum(n_rel, k)
        precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
        sums += [
            (n_hits / k).sum(),
            (n_hits / n_rel).sum(),
            ((hits * discounts).sum(axis=1) / ideal[capped]).sum(),
            ((precision_at * hits).sum(axis=1) / capped).sum(),
        ]
    means = sums / len(users)
    return {key: float(value) for key, value in zip(keys, means, strict=True)} | {
        "coverage": float(shown.sum() / max(n_items, 1)),
        "evaluated_customers": float(len(users)),
    }
