"""Item popularity with time decay and interaction-kind weights: the floor every recommender
falls back to. Scikit-learn style: fit returns self, learned attributes end in `_`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender.ml.data import DEFAULT_HALF_LIFE_DAYS, InteractionArrays, interaction_weights

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
