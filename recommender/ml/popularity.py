"""Item popularity with time decay and interaction-kind weights: the floor every recommender
falls back to. Scikit-learn style: fit returns self, learned attributes end in `_`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import Recommender
from recommender.ml.data import DEFAULT_HALF_LIFE_DAYS, InteractionArrays, interaction_weights
from recommender.ml.matrix import IdIndex

ARTIFACT_FILE = "popularity.npz"


class PopularityRecommender:
    def __init__(
        self,
        *,
        kind_weights: dict[str, float] | None = None,
        half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    ) -> None:
        self.kind_weights = kind_weights
        self.half_life_days = half_life_days

    def fit(self, arrays: InteractionArrays, *, now: float | None = None) -> PopularityRecommender:
        weights = interaction_weights(
            arrays, kind_weights=self.kind_weights, half_life_days=self.half_life_days, now=now
        )
        keep = (weights > 0) & (arrays.product >= 0)
        products, inverse = np.unique(arrays.product[keep], return_inverse=True)
        scores = np.bincount(inverse, weights=weights[keep], minlength=len(products))
        order = np.argsort(-scores, kind="stable")
        self.product_ids_ = products[order]
        self.scores_ = scores[order]
        return self

    def recommend(self, k: int, exclude: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k most popular products not in `exclude`, best first, with their scores."""
        if not exclude:
            return self.product_ids_[:k], self.scores_[:k]
        keep = ~np.isin(self.product_ids_[: k + len(exclude)], list(exclude))
        return self.product_ids_[: k + len(exclude)][keep][:k], self.scores_[: k + len(exclude)][
            keep
        ][:k]

    def save(self, directory: Path) -> None:
        np.savez(
            directory / ARTIFACT_FILE,
            product_ids=self.product_ids_,
            scores=self.scores_,
            half_life_days=np.array(self.half_life_days or 0.0),
        )

    @classmethod
    def load(cls, directory: Path) -> PopularityRecommender:
        with np.load(directory / ARTIFACT_FILE, allow_pickle=False) as data:
            model = cls(half_life_days=float(data["half_life_days"]) or None)
            model.product_ids_ = data["product_ids"]
            model.scores_ = data["scores"]
        return model


class PopularityModel(Recommender):
    """Popularity on the common matrix interface: the same list for everyone (minus their
    exclusions). `by="confidence"` sums the (time-decayed, kind-weighted) matrix per item,
    as PopularityRecommender does; `by="users"` counts distinct customers."""

    family = "popularity"

    def __init__(self, *, by: str = "confidence") -> None:
        if by not in ("confidence", "users"):
            raise ValueError('by must be "confidence" or "users"')
        self.by = by
        self.weighting = "raw" if by == "confidence" else "binary"

    def get_params(self) -> dict[str, Any]:
        return {"by": self.by}

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        totals = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        self.item_scores_ = totals
        self.item_prior_ = totals / max(totals.max(initial=0), 1e-12)  # ties: same order

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (rows.shape[0], self.n_items_)).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_scores_": self.item_scores_}

    @classmethod
    def from_recommender(
        cls, recommender: PopularityRecommender, products: IdIndex
    ) -> PopularityModel:
        """Adapt a fitted PopularityRecommender to the dense indices of `products`."""
        model = cls(by="confidence")
        scores = np.zeros(len(products))
        index = products.index_of(recommender.product_ids_)
        known = index >= 0
        scores[index[known]] = recommender.scores_[known]
        model.n_users_, model.n_items_ = 0, len(products)
        model.item_scores_ = scores
        model.item_prior_ = scores / max(scores.max(initial=0), 1e-12)
        return model
