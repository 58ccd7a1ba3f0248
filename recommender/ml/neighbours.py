"""Item-item models: cosine item-kNN ("customers who bought this also bought") and EASE."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from recommender.ml.base import Recommender, blas_threads, top_k

# EASE inverts an n_items x n_items matrix. Measured on this 2-core EPYC (OpenBLAS,
# float32 Cholesky inverse, cores shared with other work): 8k items ~5-10 s, 12k ~33 s
# (gram 3 s, potrf 9 s, potri 17 s, symmetrise 3 s), 20k 60-150 s with 1.6 GiB per
# matrix copy (peak ~3.5 GiB RSS). Above the bound the model refuses; selection skips
# EASE when its estimated fit (n³ scaling) does not fit in the time budget left.
EASE_MAX_ITEMS = 20_000
EASE_SECONDS_AT_10K = 20.0  # the estimate used before the first EASE fit is timed
EASE_DENSE_ITEMS = 10_000  # keep B dense up to here; above, the largest weights per row
EASE_AUTO_NEIGHBOURS = 1_000


def ease_fit_seconds(n_items: int) -> float:
    """Rough EASE fit time on this class of machine (n³ scaling from the measurements)."""
    return EASE_SECONDS_AT_10K * (n_items / 10_000) ** 3


class ItemKNNRecommender(Recommender):
    """Cosine similarity between item columns, the `neighbours` most similar kept per item
    (as implicit's CosineRecommender, multi-threaded). `similarity_` row i holds item i's
    neighbours: `similar_items` reads it directly, and a candidate j is scored from the
    history items among ITS neighbours, score = row · Sᵀ (classic item-based CF; scoring
    with row · S, each history item voting for its own neighbours, was 0.37 vs 0.40
    NDCG@10 on MovieLens-100K)."""

    family = "itemknn"

    def __init__(
        self, *, neighbours: int = 100, weighting: str = "log", num_threads: int = 0
    ) -> None:
        self.neighbours = neighbours
        self.weighting = weighting
        self.num_threads = num_threads

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        from implicit.nearest_neighbours import ItemItemRecommender

        # Cosine = dot products of unit-length item columns (what CosineRecommender does,
        # but kept in CSR). K + 1: every item is its own nearest neighbour; dropped below.
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0))).ravel()
        unit = (matrix @ sp.diags(1.0 / np.maximum(norms, 1e-12))).tocsr().astype(np.float64)
        knn = ItemItemRecommender(
            K=self.neighbours + 1, num_threads=self.num_threads or os.cpu_count() or 1
        )
        knn.fit(unit, show_progress=False)
        similarity = sp.csr_matrix(knn.similarity, dtype=np.float32)
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        self.similarity_ = similarity
        self._by_candidate = similarity.T.tocsr()

    def _restore(self, arrays: dict[str, Any]) -> None:
        super()._restore(arrays)
        self._by_candidate = self.similarity_.T.tocsr()

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        return (rows @ self._by_candidate).toarray()

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        scores = self.similarity_[np.asarray(item_indices)].toarray().astype(np.float64)
        scores[scores <= 0] = -np.inf  # not a neighbour: nothing in common
        if allowed_items is not None:
            scores[:, ~np.asarray(allowed_items, dtype=bool)] = -np.inf
        return top_k(scores, k)

    def _arrays(self) -> dict[str, sp.csr_matrix]:
        return {"similarity_": self.similarity_}


class EASERecommender(Recommender):
    """EASE (Steck 2019): B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, diag(B) = 0;
    score = row · B. Closed form, no iterations; only for catalogues up to EASE_MAX_ITEMS.

    `variant="dlae"`: the denoising linear autoencoder (Steck 2020, "Autoencoders that
    don't overfit towards the identity"), B = (G + Λ)⁻¹ G = I - P Λ with P = (G + Λ)⁻¹,
    Λ = λI + dropout / (1 - dropout) · diag(G): popular items are regularised more. Its
    diagonal is zeroed too (it only ever scores a user's own items). Same cost as EASE.

    `max_neighbours`: keep only the largest |B| weights per item row (sparse B, smaller
    artifact and memory). None = dense up to EASE_DENSE_ITEMS items, else
    EASE_AUTO_NEIGHBOURS per row.
    """

    family = "ease"

    def __init__(
        self,
        *,
        l2: float = 250.0,
        variant: str = "ease",
        dropout: float = 0.0,
        weighting: str = "log",
        max_neighbours: int | None = None,
    ) -> None:
        self.l2 = l2
        self.variant = variant
        self.dropout = dropout
        self.weighting = weighting
        self.max_neighbours = max_neighbours

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        n = matrix.shape[1]
        if n > EASE_MAX_ITEMS:
            raise ValueError(f"EASE is bounded to {EASE_MAX_ITEMS} items; this has {n}.")
        dtype = np.float64 if n <= 4096 else np.float32  # float32 halves memory at scale
        if self.variant not in ("ease", "dlae") or not 0 <= self.dropout < 1:
            raise ValueError('variant must be "ease" or "dlae", and 0 <= dropout < 1')
        gram = (matrix.T @ matrix).toarray().astype(dtype)
        diagonal = np.diag(gram).copy()
        penalty = self.l2 + self.dropout / (1 - self.dropout) * diagonal
        gram[np.diag_indices(n)] += penalty
        inverse = _spd_inverse(gram)  # in place: `gram` is gone
        if self.variant == "ease":
            inverse /= -np.diag(inverse)[None, :]
        else:
            inverse *= -penalty[None, :].astype(dtype)
        weights = inverse
        weights[np.diag_indices(n)] = 0.0
        keep = self.max_neighbours
        if keep is None and n > EASE_DENSE_ITEMS:
            keep = EASE_AUTO_NEIGHBOURS
        if keep is not None and keep < n - 1:
            self.weights_: np.ndarray | sp.csr_matrix = _prune_rows(weights, keep)
        else:
            self.weights_ = _row_major(weights)

    def _restore(self, arrays: dict[str, Any]) -> None:
        super()._restore(arrays)
        if not sp.issparse(self.weights_):
            self.weights_ = _row_major(self.weights_)

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        scores = rows @ self.weights_
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores)

    def _arrays(self) -> dict[str, Any]:
        return {"weights_": self.weights_}


def _row_major(weights: np.ndarray) -> np.ndarray:
    # LAPACK hands back column-major arrays; a sparse row times a column-major matrix makes
    # scipy copy all n² weights on every call (~3 ms per customer at 2,000 products).
    return np.ascontiguousarray(weights, dtype=np.float32)


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix by Cholesky (potrf + potri): about
    4x faster than np.linalg.inv, and in place."""
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    with blas_threads(os.cpu_count() or 1):
        factor, info = potrf(matrix, lower=False, overwrite_a=True, clean=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"Cholesky failed (info={info}); raise l2.")
        inverse, info = potri(factor, lower=False, overwrite_c=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"Inverse failed (info={info}).")
    inverse += np.triu(inverse, 1).T  # potri fills the upper triangle only
    return inverse


def _prune_rows(weights: np.ndarray, keep: int, block: int = 1024) -> sp.csr_matrix:
    n = weights.shape[0]
    indptr = np.arange(0, n * keep + 1, keep)
    indices = np.empty(n * keep, dtype=np.int32)
    data = np.empty(n * keep, dtype=np.float32)
    for start in range(0, n, block):
        rows = weights[start : start + block]
        top = np.argpartition(-np.abs(rows), keep - 1, axis=1)[:, :keep]
        span = slice(start * keep, (start + len(rows)) * keep)
        indices[span] = top.ravel()
        data[span] = np.take_along_axis(rows, top, axis=1).ravel()
    pruned = sp.csr_matrix((data, indices, indptr), shape=weights.shape)
    pruned.sort_indices()
    pruned.eliminate_zeros()
    return pruned
