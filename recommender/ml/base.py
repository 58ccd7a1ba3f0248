"""The common interface of the matrix-level recommenders, and what they share.

Scikit-learn style: `__init__` stores parameters, `fit` returns self, learned attributes
end in `_`, `recommend` and `similar_items` never mutate. Everything is in dense indices
of a `matrix.IdIndex`; mapping to product ids is the caller's job.

`recommend` contract (every model):
- `user_rows` (n x n_items CSR) are the users' CURRENT rows, weighted like the training
  matrix; item-based models and ALS score from them, so interactions that arrived after
  training count, and users unseen at training get answers;
- returns `(items, scores)`, both n x k, best first; items excluded (by `exclude`, or
  outside `allowed_items`) get -inf and are never returned; when fewer than k items are
  allowed the row is padded with item -1 and score -inf;
- ties, and rows with no signal at all (an empty history), are broken by item
  popularity in the training matrix, so an empty row gets the popular items.

Persistence: `save(directory)` writes `<family>.npz` (dense arrays plus the parameters as
a JSON string) and `<family>.<name>.npz` for sparse arrays (scipy.sparse.save_npz);
`load` reads them with allow_pickle=False. No pickle anywhere.
"""

from __future__ import annotations

import functools
import inspect
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

SCORE_BLOCK = 1 << 22  # score entries computed at once (32 MiB of float64)
TIE_BREAK = 1e-9  # popularity nudge, relative to a row's largest score
WEIGHTINGS = ("raw", "log", "binary")


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()  # scans the loaded libraries once (~10 ms), not per call


def blas_threads(limit: int) -> Any:
    """Context manager setting the BLAS thread count (implicit trains with 1; the EASE
    inverse uses every core). Serving processes should run with OPENBLAS_NUM_THREADS=1:
    on busy shared cores a threaded one-row product costs ~8 ms instead of ~0.3 ms."""
    return _blas_controller().limit(limits=limit, user_api="blas")


def apply_weighting(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Rescale confidences: "raw" as is, "binary" 1 per pair, "log" log2(1 + c)
    (1 stays 1, a pair seen 20 times counts ~4.4, not 20)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {weighting!r}")
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.data = np.maximum(matrix.data, 0)  # negative feedback lives in `exclude`
    if weighting == "binary":
        matrix.data = (matrix.data > 0).astype(np.float32)
    elif weighting == "log":
        matrix.data = np.log2(1.0 + matrix.data).astype(np.float32)
    matrix.eliminate_zeros()
    return matrix


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k per row, best first; -inf entries come back as item -1 (padding)."""
    n, m = scores.shape
    kk = min(k, m)
    items = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, k), -np.inf)
    if kk == 0 or n == 0:
        return items, values
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(m), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    allowed = np.isfinite(best_scores)
    items[:, :kk] = np.where(allowed, best, -1)
    values[:, :kk] = np.where(allowed, best_scores, -np.inf)
    return items, values


class Recommender(ABC):
    """Base of every model. Subclasses implement `_fit` and `_score`, list their learned
    arrays in `_arrays`, and may override `similar_items`."""

    family: ClassVar[str]
    weighting: str = "log"

    # --- fitting ---------------------------------------------------------------------

    def fit(self, matrix: sp.csr_matrix, **kwargs: Any) -> Self:
        matrix = sp.csr_matrix(matrix)
        self.n_items_ = matrix.shape[1]
        self.n_users_ = matrix.shape[0]
        # Popularity by distinct users, in [0, 1]: the tie-break and the empty-row answer.
        users_per_item = np.bincount(matrix.indices[matrix.data > 0], minlength=self.n_items_)
        self.item_prior_ = (users_per_item / max(users_per_item.max(initial=0), 1)).astype(
            np.float64
        )
        self._fit(apply_weighting(matrix, self.weighting), **kwargs)
        return self

    @abstractmethod
    def _fit(self, matrix: sp.csr_matrix, **kwargs: Any) -> None: ...

    @abstractmethod
    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        """Dense n x n_items scores for weighted rows (higher is better)."""

    # --- serving ---------------------------------------------------------------------

    def recommend(
        self,
        user_rows: sp.csr_matrix,
        k: int,
        exclude: sp.csr_matrix | None = None,
        user_indices: np.ndarray | None = None,
        *,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items per row of `user_rows` (see the module docstring for the contract).

        `exclude`: n x n_items, nonzero = never return (disliked, seen, filtered out).
        `user_indices`: each row's user index in the training matrix (-1 if unknown);
        only models that keep per-user state (BPR) use it.
        `allowed_items`: bool mask over items (active products, a category filter).
        """
        self._check_fitted()
        rows = sp.csr_matrix(user_rows, dtype=np.float32)
        n = rows.shape[0]
        if rows.shape[1] != self.n_items_:
            raise ValueError(f"user_rows has {rows.shape[1]} columns, model has {self.n_items_}")
        if exclude is not None and exclude.shape != rows.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, expected {rows.shape}")
        if user_indices is not None:
            user_indices = np.asarray(user_indices, dtype=np.int64)
        rows = apply_weighting(rows, self.weighting)
        step = max(1, SCORE_BLOCK // max(self.n_items_, 1))
        items = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k))
        for start in range(0, n, step):
            block = slice(start, min(start + step, n))
            ui = None if user_indices is None else user_indices[block]
            raw = np.asarray(self._score(rows[block], ui), dtype=np.float64)
            raw[np.isnan(raw)] = -np.inf
            scale = np.abs(np.where(np.isfinite(raw), raw, 0)).max(axis=1, keepdims=True)
            raw += TIE_BREAK * np.where(scale > 0, scale, 1.0) * self.item_prior_
            if exclude is not None:
                mask = sp.csr_matrix(exclude[block])
                r, c = mask.nonzero()
                raw[r, c] = -np.inf
            if allowed_items is not None:
                raw[:, ~np.asarray(allowed_items, dtype=bool)] = -np.inf
            items[block], scores[block] = top_k(raw, k)
        return items, scores

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Items most like each given item, itself excluded; n x k, padded like recommend.

        Default: recommend for a user whose history is that one item, i.e. "customers who
        liked this also liked"; factor and content models override with cosine similarity.
        """
        self._check_fitted()
        item_indices = np.asarray(item_indices, dtype=np.int64)
        n = len(item_indices)
        one_hot = sp.csr_matrix(
            (np.ones(n, np.float32), (np.arange(n), item_indices)), shape=(n, self.n_items_)
        )
        return self.recommend(one_hot, k, exclude=one_hot, allowed_items=allowed_items)

    # --- parameters and persistence ----------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

    def _arrays(self) -> dict[str, np.ndarray | sp.spmatrix]:
        """Learned state to save, beyond n_items_/n_users_/item_prior_."""
        return {}

    def _restore(self, arrays: dict[str, Any]) -> None:
        for name, value in arrays.items():
            setattr(self, name, value)

    def save(self, directory: Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        dense: dict[str, np.ndarray] = {
            "params": np.array(json.dumps(self.get_params())),
            "shape": np.array([self.n_users_, self.n_items_]),
            "item_prior_": self.item_prior_,
        }
        sparse_names = []
        for name, value in self._arrays().items():
            if sp.issparse(value):
                sp.save_npz(directory / f"{self.family}.{name}.npz", sp.csr_matrix(value))
                sparse_names.append(name)
            else:
                dense[name] = np.asarray(value)
        dense["sparse_names"] = np.array(sparse_names, dtype=str)
        np.savez(directory / f"{self.family}.npz", **dense)

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        with np.load(directory / f"{cls.family}.npz", allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        model = cls(**json.loads(str(arrays.pop("params"))))
        model.n_users_, model.n_items_ = (int(x) for x in arrays.pop("shape"))
        for name in arrays.pop("sparse_names").tolist():
            arrays[name] = sp.load_npz(directory / f"{cls.family}.{name}.npz").tocsr()
        model._restore(arrays)
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_prior_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first.")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def cosine_top_k(
    vectors: np.ndarray | sp.csr_matrix,
    item_indices: np.ndarray,
    k: int,
    allowed_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine neighbours of the given items among all rows of `vectors`, self excluded."""
    if sp.issparse(vectors):
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1))).ravel()
        unit = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors
        scores = np.asarray((unit[item_indices] @ unit.T).todense(), dtype=np.float64)
    else:
        norms = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.maximum(norms, 1e-12)[:, None]
        scores = (unit[item_indices] @ unit.T).astype(np.float64)
    scores[np.arange(len(item_indices)), item_indices] = -np.inf
    scores[:, norms == 0] = -np.inf  # no representation: nothing to be similar by
    if allowed_items is not None:
        scores[:, ~np.asarray(allowed_items, dtype=bool)] = -np.inf
    return top_k(scores, k)
