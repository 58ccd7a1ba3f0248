"""A weighted blend of fitted recommenders: hybrid serving and ensembles from selection.

Each component's scores are standardised per row (mean 0, standard deviation 1 over the
catalogue) before the weighted sum, so models on different scales mix. A component with
no signal for a row (constant scores, e.g. content for an empty history) contributes 0.
Saved as `blend.npz` (components and weights, JSON) plus one subdirectory per component.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import Recommender, apply_weighting


class BlendRecommender(Recommender):
    family = "blend"
    weighting = "raw"  # every component weights the rows its own way

    def __init__(self, *, components: list[dict[str, Any]], weights: list[float]) -> None:
        """`components`: [{"family": ..., "params": {...}}, ...]; `weights` aligned."""
        if len(components) != len(weights) or not components:
            raise ValueError("A blend needs one weight per component, and a component.")
        self.components = components
        self.weights = weights

    @classmethod
    def of(cls, models: list[Recommender], weights: list[float]) -> BlendRecommender:
        """A blend of already fitted models (same item columns), without refitting."""
        components = [{"family": m.family, "params": m.get_params()} for m in models]
        blend = cls(components=components, weights=list(weights))
        blend._adopt(models)
        return blend

    def _fit(self, matrix: sp.csr_matrix, **kwargs: Any) -> None:
        from recommender.ml.families import fit_inputs, make_model  # families imports us

        models = []
        for spec in self.components:
            model = make_model(spec["family"], spec["params"])
            models.append(model.fit(matrix, **fit_inputs(spec["family"], kwargs)))
        self._adopt(models)

    def _adopt(self, models: list[Recommender]) -> None:
        n_items = {m.n_items_ for m in models}
        if len(n_items) != 1:
            raise ValueError("Blended models must share their item columns.")
        self.models_ = models
        self.n_items_ = n_items.pop()
        self.n_users_ = max(m.n_users_ for m in models)
        # The tie-break follows the components' popularity (they saw the same matrix).
        self.item_prior_ = models[0].item_prior_

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        total = np.zeros((rows.shape[0], self.n_items_))
        for model, weight in zip(self.models_, self.weights, strict=True):
            scores = np.asarray(
                model._score(apply_weighting(rows, model.weighting), user_indices), np.float64
            )
            spread = scores.std(axis=1, keepdims=True)
            total += (
                weight
                * (scores - scores.mean(axis=1, keepdims=True))
                / np.where(spread > 0, spread, 1.0)
            )
        return total

    def save(self, directory: Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        params = {"components": self.components, "weights": self.weights}
        np.savez(directory / "blend.npz", params=np.array(json.dumps(params)))
        for position, model in enumerate(self.models_):
            part = directory / f"blend-{position}"
            part.mkdir()
            model.save(part)

    @classmethod
    def load(cls, directory: Path) -> Self:
        from recommender.ml.families import load_model

        directory = Path(directory)
        with np.load(directory / "blend.npz", allow_pickle=False) as data:
            params = json.loads(str(data["params"]))
        blend = cls(**params)
        blend._adopt([load_model(directory / f"blend-{i}") for i in range(len(params["weights"]))])
        return blend
