"""Matrix factorization: ALS and BPR (the `implicit` library) and PureSVD (scipy svds)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from recommender.ml.base import Recommender, blas_threads, cosine_top_k

DENSE_SVD_ENTRIES = 4_000_000  # up to here, np.linalg.svd on the dense matrix


def _implicit_threads(num_threads: int) -> int:
    return num_threads or os.cpu_count() or 1


class ALSRecommender(Recommender):
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008), trained with implicit.cpu.als.

    Confidence c = 1 + alpha * w for an observed pair (w the weighted matrix value), 1
    with preference 0 for the rest. Users are always refolded from the rows passed to
    `recommend`: the exact least-squares user solve against the learned item factors
    (what implicit's recalculate_user computes, done here in numpy so serving needs no
    implicit model and no thread pools), so new interactions and users unseen at training
    are handled the same way.
    """

    family = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 1.0,
        alpha: float = 2.0,
        iterations: int = 15,
        weighting: str = "log",
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        confidence = matrix.copy()
        confidence.data = (1.0 + self.alpha * confidence.data).astype(np.float32)
        # implicit parallelises over users itself and asks for a single-threaded BLAS.
        with blas_threads(1):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # the confidence is built above, the same way as in refold()
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=_implicit_threads(self.num_threads),
            )
            model.fit(confidence, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self._prepare()

    def _restore(self, arrays: dict[str, Any]) -> None:
        super()._restore(arrays)
        self._prepare()

    def _prepare(self) -> None:
        y = self.item_factors_.astype(np.float64)
        self._y = y
        self._gram = y.T @ y + self.regularization * np.eye(y.shape[1])

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        return self.refold(rows) @ self.item_factors_.T

    def refold(self, rows: sp.csr_matrix) -> np.ndarray:
        """User factors from weighted rows: x = (YᵀY + λI + Yᵀ(C - I)Y)⁻¹ YᵀC p.
        An empty row gets zeros (it then scores every item 0: popularity decides)."""
        rows = sp.csr_matrix(rows)
        out = np.zeros((rows.shape[0], self._y.shape[1]), dtype=np.float32)
        for user in range(rows.shape[0]):
            lo, hi = rows.indptr[user], rows.indptr[user + 1]
            if lo == hi:
                continue
            factors = self._y[rows.indices[lo:hi]]
            confidence = 1.0 + self.alpha * rows.data[lo:hi].astype(np.float64)
            system = self._gram + (factors.T * (confidence - 1.0)) @ factors
            out[user] = np.linalg.solve(system, factors.T @ confidence)
        return out

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return cosine_top_k(self.item_factors_, np.asarray(item_indices), k, allowed_items)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}


class BPRRecommender(Recommender):
    """Bayesian Personalised Ranking (Rendle et al. 2009) via implicit.cpu.bpr.

    BPR has no closed-form user solve: users known at training keep their learned factors
    (pass `user_indices`); unknown users (index -1 or None) are folded in as the mean of
    their items' factors, a heuristic, so for new customers prefer ALS or the content model.
    With num_threads > 1 implicit's SGD is Hogwild and not bit-for-bit reproducible, hence
    the single-thread default.
    """

    family = "bpr"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        weighting: str = "binary",
        random_state: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with blas_threads(1):  # implicit warns at construction if BLAS is threaded
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=_implicit_threads(self.num_threads),
            )
            model.fit(matrix, show_progress=False)
        # Last column: 1 in the user factors, the item bias in the item factors.
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        n = rows.shape[0]
        known = np.zeros(n, dtype=bool)
        if user_indices is not None:
            known = (user_indices >= 0) & (user_indices < len(self.user_factors_))
        users = np.empty((n, self.item_factors_.shape[1]), dtype=np.float32)
        if known.any():
            users[known] = self.user_factors_[user_indices[known]]
        if (~known).any():
            fresh = rows[~known]
            counts = np.maximum(np.asarray(fresh.sum(axis=1)).ravel(), 1e-12)[:, None]
            folded = (fresh @ self.item_factors_) / counts
            # The bias column stays 1 only with some history: an empty row scores all
            # zeros and so gets the popularity order, like every other model.
            folded[:, -1] = (np.diff(fresh.indptr) > 0).astype(np.float32)
            users[~known] = folded
        return users @ self.item_factors_.T

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        vectors = self.item_factors_[:, :-1]  # the bias column is not a taste
        return cosine_top_k(vectors, np.asarray(item_indices), k, allowed_items)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors_": self.user_factors_, "item_factors_": self.item_factors_}


class PureSVDRecommender(Recommender):
    """PureSVD (Cremonesi, Koren, Turrin 2010): R ≈ U Σ Vᵀ by truncated SVD; a user's
    scores are row · V Vᵀ, which folds in any user from their current row."""

    family = "svd"

    def __init__(self, *, rank: int = 64, weighting: str = "binary", random_state: int = 0) -> None:
        self.rank = rank
        self.weighting = weighting
        self.random_state = random_state

    def _fit(self, matrix: sp.csr_matrix, **_: Any) -> None:
        rank = max(1, min(self.rank, min(matrix.shape) - 1))
        if matrix.shape[0] * matrix.shape[1] <= DENSE_SVD_ENTRIES:
            # Small: exact LAPACK SVD is faster than ARPACK asked for many vectors.
            _, sigma, vt = np.linalg.svd(matrix.toarray().astype(np.float64), full_matrices=False)
            sigma, vt = sigma[:rank], vt[:rank]
        else:
            # A fixed start vector makes ARPACK deterministic for a seed.
            v0 = np.random.default_rng(self.random_state).uniform(-1, 1, min(matrix.shape))
            _, sigma, vt = svds(matrix.astype(np.float64), k=rank, v0=v0)
        order = np.argsort(-sigma)
        self.singular_values_ = sigma[order].astype(np.float32)
        self.item_factors_ = np.ascontiguousarray(vt[order].T, dtype=np.float32)

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        return (rows @ self.item_factors_) @ self.item_factors_.T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"singular_values_": self.singular_values_, "item_factors_": self.item_factors_}
