"""Recommenders over product vectors learnt elsewhere (the NLP app's `embeddings` kind).

- `Item2VecRecommender` ("item2vec"): item-kNN whose item-item similarity is the cosine
  of item2vec vectors ("viewed together", Word2Vec over customers' time-ordered product
  sequences) instead of co-occurrence columns of the training matrix.
- `unit_rows`: the vectors as given to `fit`, checked and made unit length (optionally
  centred: see there); the content family over Word2Vec vectors (`w2v_content`, in
  content.py) uses it too.

The vectors come in as plain arrays aligned with the item columns (zero rows for items
without one), so this module knows nothing of where they were trained. Only the sparse
neighbour graph is saved (npz), not the vectors: serving needs no embeddings version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.neighbours import ItemKNNRecommender

NEIGHBOUR_BLOCK = 512  # items whose neighbours are found at once: 512 x 20k float32 = 40 MiB


def unit_rows(vectors: np.ndarray | None, n_items: int, *, center: bool = False) -> np.ndarray:
    """(n_items, d) float32 rows of unit length, zero rows kept zero (no vector).

    `center` subtracts the mean of the non-zero rows first. Word2Vec vectors share a
    common direction (every product's mean word vector leans the same way), so raw
    cosines of unrelated products sit around 0.5-0.6 and a cosine threshold means
    little; centred, unrelated products fall below 0 and same-category ones stay near 1
    (measured on nlp.ml.synthetic product descriptions, 200-3,000 products).
    """
    if vectors is None:
        return np.zeros((n_items, 1), dtype=np.float32)
    vectors = np.array(vectors, dtype=np.float32)  # a copy: the caller's array is not ours
    if vectors.ndim != 2 or vectors.shape[0] != n_items:
        raise ValueError(f"Expected one vector per item column ({n_items}), got {vectors.shape}.")
    vectors[~np.isfinite(vectors).all(axis=1)] = 0.0
    known = np.abs(vectors).sum(axis=1) > 0
    if center and known.sum() > 1:
        vectors[known] -= vectors[known].mean(axis=0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    out[~known] = 0.0  # a product without a vector stays without one after centring
    return out


def neighbour_graph(
    unit: np.ndarray, neighbours: int, min_similarity: float = 0.0
) -> sp.csr_matrix:
    """Row i: item i's `neighbours` nearest items by cosine (itself excluded), those with
    a cosine above `min_similarity` only; items without a vector have no row and are
    nobody's neighbour. Blockwise, so 20k items never hold an n x n matrix: 20k items at
    d=64 take ~3 s on two shared cores, 50 neighbours each ~11 MB as CSR."""
    n = unit.shape[0]
    has = np.flatnonzero(np.abs(unit).sum(axis=1) > 0)
    kk = min(neighbours, len(has) - 1)
    if kk <= 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    candidates = np.ascontiguousarray(unit[has].T)
    rows, cols, data = [], [], []
    for start in range(0, len(has), NEIGHBOUR_BLOCK):
        block = has[start : start + NEIGHBOUR_BLOCK]
        scores = unit[block] @ candidates  # (b, |has|) float32
        scores[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        values = np.take_along_axis(scores, top, axis=1)
        keep = values > min_similarity
        rows.append(np.repeat(block, keep.sum(axis=1)))
        cols.append(has[top[keep]])
        data.append(values[keep])
    graph = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    graph.sort_indices()
    return graph


class Item2VecRecommender(ItemKNNRecommender):
    """Item-kNN over item2vec vectors: `similarity_` row i holds item i's `neighbours`
    nearest items by (optionally centred) cosine; a customer's score for candidate j is
    the sum, weighted by their row, of j's similarities to the items in their history
    (row · Sᵀ, as ItemKNNRecommender; `similar_items` reads the row directly).

    Items without a vector have no neighbours and are nobody's neighbour: they score 0
    and rank by popularity (the base class's tie-break), as does a customer none of whose
    items has a vector; without any vectors the model is popularity. Unlike item-kNN on
    the matrix, two products that co-occur in browsing sequences are neighbours even when
    few customers with a confidence row touched both.
    """

    family = "item2vec"

    def __init__(
        self,
        *,
        neighbours: int = 50,
        min_similarity: float = 0.0,
        center: bool = False,
        weighting: str = "log",
    ) -> None:
        """`min_similarity`: cosines at or below it are not neighbours (a negative cosine
        is no evidence of a shared taste). `center`: see `unit_rows`."""
        self.neighbours = neighbours
        self.min_similarity = min_similarity
        self.center = center
        self.weighting = weighting

    def _fit(self, matrix: sp.csr_matrix, *, item_vectors: np.ndarray | None = None) -> None:
        unit = unit_rows(item_vectors, matrix.shape[1], center=self.center)
        self.similarity_ = neighbour_graph(unit, self.neighbours, self.min_similarity)
        self._by_candidate = self.similarity_.T.tocsr()

    def _arrays(self) -> dict[str, Any]:
        return {"similarity_": self.similarity_}
