"""Customer x product feedback matrices (scipy CSR) built from interaction arrays.

Three matrices share one pair of indices:

- `confidence`: summed interaction weights (kind weights, ratings 4-5 positive, optional
  time decay); a pair the customer disliked is removed, whatever else they did with it;
- `disliked`: 1 where the customer's latest rating of the product is 1-2: never recommend;
- `seen`: 1 where the customer bought or rated the product: left out when exclude_seen.

`catalogue` / `catalogue_rows` put a catalogue's product ids in index order, with the
texts and vectors aligned with them. Pure numpy/scipy, no Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommender.ml.data import (
    DEFAULT_HALF_LIFE_DAYS,
    KIND_CODE,
    InteractionArrays,
    interaction_weights,
)
from recommender.ml.evaluation import relevance_mask


@dataclass(frozen=True)
class IdIndex:
    """Internal integer ids <-> dense indices 0..n-1, by binary search on the sorted ids."""

    ids: np.ndarray  # sorted, unique int64

    @classmethod
    def from_ids(cls, ids: np.ndarray | Sequence[int]) -> IdIndex:
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, ids: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """Dense index of each id; -1 for ids not in the index."""
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        if not len(self.ids):
            return np.full(ids.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        found = self.ids[np.minimum(pos, len(self.ids) - 1)] == ids
        return np.where(found, pos, -1).astype(np.int64)

    def ids_of(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """Id at each dense index; -1 stays -1 (the padding of recommend())."""
        indices = np.asarray(indices, dtype=np.int64)
        out = np.full(indices.shape, -1, dtype=np.int64)
        valid = indices >= 0
        out[valid] = self.ids[indices[valid]]
        return out


INDEX_FILE = "index.npz"


def save_indices(directory: Path, customers: IdIndex, products: IdIndex) -> None:
    """Store the indices a model was fitted on next to it (models know only positions)."""
    np.savez(Path(directory) / INDEX_FILE, customers=customers.ids, products=products.ids)


def load_indices(directory: Path) -> tuple[IdIndex, IdIndex]:
    with np.load(Path(directory) / INDEX_FILE, allow_pickle=False) as data:
        return IdIndex(data["customers"]), IdIndex(data["products"])


@dataclass(frozen=True)
class FeedbackMatrices:
    customers: IdIndex
    products: IdIndex
    confidence: sp.csr_matrix  # float32, positive feedback only
    disliked: sp.csr_matrix  # float32 ones
    seen: sp.csr_matrix  # float32 ones; includes disliked pairs (they were rated)
    now: float | None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.customers), len(self.products)

    def exclusions(self, *, exclude_seen: bool = True) -> sp.csr_matrix:
        """What recommend() must never return for these customers: disliked (+ seen)."""
        return _union(self.disliked, self.seen) if exclude_seen else self.disliked


def build_matrices(
    arrays: InteractionArrays,
    *,
    customers: IdIndex | None = None,
    products: IdIndex | None = None,
    kind_weights: dict[str, float] | None = None,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    now: float | None = None,
) -> FeedbackMatrices:
    """The matrices of `arrays` on the given indices (default: ids seen in `arrays`).

    Interactions of customers or products outside the indices are dropped, so passing the
    training indices gives rows that line up with a fitted model. `now` anchors the time
    decay (default: the newest interaction).
    """
    has_product = arrays.product >= 0
    if customers is None:
        customers = IdIndex.from_ids(arrays.customer)
    if products is None:
        products = IdIndex.from_ids(arrays.product[has_product])
    if now is None and len(arrays):
        now = float(arrays.timestamp.max())
    shape = (len(customers), len(products))
    rows = customers.index_of(arrays.customer)
    cols = products.index_of(arrays.product)
    known = (rows >= 0) & (cols >= 0) & has_product
    weights = interaction_weights(
        arrays, kind_weights=kind_weights, half_life_days=half_life_days, now=now
    )
    disliked = _disliked(arrays, rows, cols, known, shape)
    positive = known & (weights > 0)
    confidence = sp.csr_matrix(
        (weights[positive], (rows[positive], cols[positive])), shape=shape, dtype=np.float64
    )  # duplicates are summed
    confidence.sum_duplicates()
    confidence = (confidence - confidence.multiply(disliked > 0)).tocsr()
    confidence.eliminate_zeros()
    is_seen = known & np.isin(arrays.kind, (KIND_CODE["purchase"], KIND_CODE["rating"]))
    seen = _ones(rows[is_seen], cols[is_seen], shape)
    return FeedbackMatrices(
        customers=customers,
        products=products,
        confidence=confidence.astype(np.float32),
        disliked=disliked,
        seen=_union(seen, disliked),
        now=now,
    )


def relevance_matrix(
    arrays: InteractionArrays, customers: IdIndex, products: IdIndex
) -> sp.csr_matrix:
    """Binary matrix of what counts as a hit in offline evaluation (see evaluation.py)."""
    rows = customers.index_of(arrays.customer)
    cols = products.index_of(arrays.product)
    keep = relevance_mask(arrays) & (rows >= 0) & (cols >= 0)
    return _ones(rows[keep], cols[keep], (len(customers), len(products)))


def _disliked(
    arrays: InteractionArrays,
    rows: np.ndarray,
    cols: np.ndarray,
    known: np.ndarray,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    # The latest rating of a pair decides: a 2 later revised to a 5 is no longer disliked.
    is_rating = known & (arrays.kind == KIND_CODE["rating"]) & ~np.isnan(arrays.value)
    idx = np.flatnonzero(is_rating)
    if not len(idx):
        return _ones(np.empty(0, np.int64), np.empty(0, np.int64), shape)
    order = idx[np.lexsort((arrays.timestamp[idx], cols[idx], rows[idx]))]
    pair = rows[order] * shape[1] + cols[order]
    last = np.r_[pair[1:] != pair[:-1], True]
    latest = order[last]
    bad = latest[arrays.value[latest] <= 2]
    return _ones(rows[bad], cols[bad], shape)


def _ones(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _union(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    union = (a + b).tocsr()
    union.data[:] = 1.0
    return union


def catalogue(
    arrays: InteractionArrays,
    product_ids: np.ndarray | None,
    item_texts: Sequence[str] | None,
) -> tuple[IdIndex, list[str] | None]:
    """The product index and the texts in its (sorted) order."""
    if product_ids is None:
        if item_texts is not None:
            raise ValueError("item_texts needs the product_ids it is aligned with.")
        return IdIndex.from_ids(arrays.product[arrays.product >= 0]), None
    product_ids = np.asarray(product_ids, dtype=np.int64)
    products = IdIndex.from_ids(product_ids)
    if len(products) != len(product_ids):
        raise ValueError("product_ids has duplicates.")
    if item_texts is None:
        return products, None
    if len(item_texts) != len(product_ids):
        raise ValueError("item_texts must have one text per product id.")
    order = np.argsort(product_ids, kind="stable")
    return products, [item_texts[i] for i in order]


def catalogue_rows(
    product_ids: np.ndarray | None, vectors: np.ndarray | None, name: str
) -> np.ndarray | None:
    """`vectors` (aligned with `product_ids`) in the catalogue's sorted order."""
    if vectors is None:
        return None
    if product_ids is None:
        raise ValueError(f"{name} needs the product_ids it is aligned with.")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(product_ids):
        raise ValueError(f"{name} must have one row per product id.")
    return vectors[np.argsort(np.asarray(product_ids, dtype=np.int64), kind="stable")]
