"""Hybrid serving: the selected model where it has evidence, content and popularity where not.

Three tiers, chosen per customer from the row they have NOW (not at training):
- no positive history: popularity;
- fewer than `min_history` distinct liked products (thin): a blend of content (their
  profile from what little they did) and popularity, or the primary model when the
  tenant has no product text nor Word2Vec product vectors;
- otherwise the primary model (the selection's winner). Its scores for cold products
  (no interactions when it was fitted, so it knows nothing of them) are replaced by the
  score of each one's closest content neighbour among warm products, lowered by how
  unlike that neighbour it is: a new product reaches the customers of products like it.

The content model is TF-IDF over product texts ("content") or the same over Word2Vec
product vectors ("w2v_content", from the NLP app's embeddings), as the trainer chooses
(`SelectionResult.content_family`); either is saved in the bundle's own npz files, so
serving never needs the embeddings version it was built from.

Every returned item carries its source: the primary family, "content" (a cold product
placed through its content neighbour), "content+popularity" (the thin tier), "popularity".
Saved as `hybrid.npz` (parameters and the cold-product mapping) plus one subdirectory per
component model. No Django.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import Recommender, apply_weighting, cosine_top_k
from recommender.ml.blend import BlendRecommender
from recommender.ml.content import ContentRecommender
from recommender.ml.families import fit_inputs, load_model, make_model
from recommender.ml.popularity import PopularityModel

DEFAULT_MIN_HISTORY = 3  # distinct liked products before the primary model is trusted
COLD_MIN_SIMILARITY = 0.2  # content cosine below which a cold product inherits nothing
THIN_WEIGHTS = (1.0, 0.5)  # content, popularity (standardised scores)
_COLD_BLOCK = 512  # cold products compared with the catalogue at once

POPULARITY, CONTENT, THIN = "popularity", "content", "content+popularity"


class _ColdStart(Recommender):
    """The primary model, with cold products scored through their content neighbours."""

    family = "cold-start"
    weighting = "raw"  # the primary weights rows its own way

    def __init__(self, primary: Recommender, cold: np.ndarray, neighbour: np.ndarray,
                 similarity: np.ndarray) -> None:  # fmt: skip
        self.primary, self.cold, self.neighbour, self.similarity = (
            primary, cold, neighbour, similarity
        )  # fmt: skip
        self.n_items_, self.n_users_ = primary.n_items_, primary.n_users_
        self.item_prior_ = primary.item_prior_

    def _fit(self, matrix: sp.csr_matrix, **kwargs: Any) -> None:
        raise NotImplementedError("Built from a fitted primary model.")

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        primary = self.primary
        scores = np.asarray(
            primary._score(apply_weighting(rows, primary.weighting), user_indices), np.float64
        )
        if len(self.cold):
            spread = scores.std(axis=1, keepdims=True)
            inherited = scores[:, self.neighbour] - (1.0 - self.similarity) * spread
            scores[:, self.cold] = inherited
        return scores


class HybridRecommender:
    """The serving bundle of a recommender version (see the module docstring)."""

    def __init__(
        self,
        primary: Recommender,
        popularity: PopularityModel,
        content: ContentRecommender | None = None,
        *,
        min_history: int = DEFAULT_MIN_HISTORY,
        cold_items: np.ndarray | None = None,
        cold_neighbours: np.ndarray | None = None,
        cold_similarity: np.ndarray | None = None,
    ) -> None:
        self.primary, self.popularity, self.content = primary, popularity, content
        self.min_history = min_history
        empty = np.empty(0, dtype=np.int64)
        self.cold_items = empty if cold_items is None else np.asarray(cold_items, np.int64)
        self.cold_neighbours = (
            empty if cold_neighbours is None else np.asarray(cold_neighbours, np.int64)
        )
        self.cold_similarity = (
            np.empty(0) if cold_similarity is None else np.asarray(cold_similarity, np.float64)
        )
        self._cold_set = np.zeros(primary.n_items_, dtype=bool)
        self._cold_set[self.cold_items] = True
        self._full = _ColdStart(primary, self.cold_items, self.cold_neighbours,
                                self.cold_similarity)  # fmt: skip
        self._thin = (
            BlendRecommender.of([content, popularity], list(THIN_WEIGHTS))
            if content is not None
            else primary
        )

    @classmethod
    def build(
        cls,
        primary: Recommender,
        confidence: sp.csr_matrix,
        item_texts: Sequence[str] | None,
        *,
        content_vectors: np.ndarray | None = None,
        content_family: str = "content",
        min_history: int = DEFAULT_MIN_HISTORY,
        min_similarity: float = COLD_MIN_SIMILARITY,
    ) -> HybridRecommender:
        """Fit the companions of a fitted `primary` on the same matrix, and map each cold
        product to its closest warm one by content.

        `content_family`: "content" (TF-IDF over `item_texts`) or "w2v_content" (over
        `content_vectors`, rows aligned with the columns); when its input is missing the
        other one is used, and without either there is no content model. A primary of
        that family is reused as is."""
        popularity = PopularityModel(by="confidence").fit(confidence)
        inputs = {"item_texts": item_texts, "content_vectors": content_vectors}
        content = _content_model(primary, confidence, inputs, content_family)
        cold, neighbours, similarity = _cold_mapping(confidence, content, min_similarity)
        return cls(
            primary, popularity, content, min_history=min_history, cold_items=cold,
            cold_neighbours=neighbours, cold_similarity=similarity,
        )  # fmt: skip

    # --- serving -------------------------------------------------------------------------

    def tiers(self, rows: sp.csr_matrix) -> np.ndarray:
        """Per row: 0 popularity (no history), 1 thin, 2 primary."""
        liked = np.diff(sp.csr_matrix(rows > 0).indptr)
        return np.where(liked == 0, 0, np.where(liked < self.min_history, 1, 2))

    def recommend(
        self,
        rows: sp.csr_matrix,
        k: int,
        exclude: sp.csr_matrix | None = None,
        user_indices: np.ndarray | None = None,
        *,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """Like Recommender.recommend, plus each item's source (see the module docstring)."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        n = rows.shape[0]
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf)
        sources: list[list[str]] = [[] for _ in range(n)]
        tiers = self.tiers(rows)
        for tier, model in enumerate((self.popularity, self._thin, self._full)):
            selected = np.flatnonzero(tiers == tier)
            if not len(selected):
                continue
            got_items, got_scores = model.recommend(
                rows[selected], k,
                None if exclude is None else sp.csr_matrix(exclude)[selected],
                None if user_indices is None else np.asarray(user_indices)[selected],
                allowed_items=allowed_items,
            )  # fmt: skip
            items[selected], scores[selected] = got_items, got_scores
            for position, row_items in zip(selected, got_items, strict=True):
                sources[position] = [self._source(tier, item) for item in row_items if item >= 0]
        return items, scores, sources

    def _source(self, tier: int, item: int) -> str:
        if tier == 0:
            return POPULARITY
        if tier == 1:
            return THIN if self.content is not None else self.primary.family
        return CONTENT if self._cold_set[item] else self.primary.family

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """Products like each given one: the primary model's neighbours for a warm product,
        content neighbours for a cold one (popularity when there is no text)."""
        item_indices = np.asarray(item_indices, dtype=np.int64)
        n = len(item_indices)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf)
        sources: list[list[str]] = [[] for _ in range(n)]
        cold = self._cold_set[item_indices]
        for is_cold in (False, True):
            selected = np.flatnonzero(cold == is_cold)
            if not len(selected):
                continue
            model = self.primary if not is_cold else (self.content or self.popularity)
            got_items, got_scores = model.similar_items(
                item_indices[selected], k, allowed_items=allowed_items
            )
            items[selected], scores[selected] = got_items, got_scores
            for position, row_items in zip(selected, got_items, strict=True):
                sources[position] = [model.family for item in row_items if item >= 0]
        return items, scores, sources

    # --- persistence ---------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        parts = {"primary": self.primary, "popularity": self.popularity}
        if self.content is not None and self.content is not self.primary:
            parts["content"] = self.content
        for name, model in parts.items():
            (directory / name).mkdir()
            model.save(directory / name)
        params = {
            "min_history": self.min_history,
            "content": "primary" if self.content is self.primary else
            ("content" if self.content is not None else None),
        }  # fmt: skip
        np.savez(
            directory / "hybrid.npz",
            params=np.array(json.dumps(params)),
            cold_items=self.cold_items,
            cold_neighbours=self.cold_neighbours,
            cold_similarity=self.cold_similarity,
        )

    @classmethod
    def load(cls, directory: Path) -> HybridRecommender:
        directory = Path(directory)
        with np.load(directory / "hybrid.npz", allow_pickle=False) as data:
            params = json.loads(str(data["params"]))
            arrays = {name: data[name] for name in data.files if name != "params"}
        primary = load_model(directory / "primary")
        content = {
            "primary": primary,
            "content": load_model(directory / "content")
            if params["content"] == "content"
            else None,
            None: None,
        }[params["content"]]
        popularity = load_model(directory / "popularity")
        return cls(primary, popularity, content, min_history=params["min_history"], **arrays)


def _content_model(
    primary: Recommender,
    confidence: sp.csr_matrix,
    inputs: dict[str, Any],
    preferred: str,
) -> ContentRecommender | None:
    needs = {"content": "item_texts", "w2v_content": "content_vectors"}
    if preferred not in needs:
        raise ValueError(f"content_family must be one of {sorted(needs)}, not {preferred!r}")
    order = [preferred, *(family for family in needs if family != preferred)]
    available = [family for family in order if inputs[needs[family]] is not None]
    if not available:
        return None
    family = available[0]
    if primary.family == family and isinstance(primary, ContentRecommender):
        return primary
    # Both content families are ContentRecommenders (w2v_content subclasses content).
    return cast(
        ContentRecommender, make_model(family).fit(confidence, **fit_inputs(family, inputs))
    )


def _cold_mapping(
    confidence: sp.csr_matrix, content: ContentRecommender | None, min_similarity: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cold products with a warm content neighbour at least `min_similarity` alike: the
    products, their neighbours, the cosines."""
    warm = np.diff(sp.csc_matrix(confidence).indptr) > 0
    cold = np.flatnonzero(~warm)
    if content is None or not len(cold) or not warm.any():
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    neighbours, similarity = [], []
    for start in range(0, len(cold), _COLD_BLOCK):
        block = cold[start : start + _COLD_BLOCK]
        items, scores = cosine_top_k(content.item_vectors_, block, 1, allowed_items=warm)
        neighbours.append(items[:, 0])
        similarity.append(scores[:, 0])
    neighbour, cosine = np.concatenate(neighbours), np.concatenate(similarity)
    keep = (neighbour >= 0) & (cosine >= min_similarity)
    return cold[keep], neighbour[keep], cosine[keep]
