"""The synthetic shop with planted tastes that the pure-numeric recommender tests share."""

from __future__ import annotations

import numpy as np

from customers.synthetic import SyntheticDataset
from recommender.ml.data import KIND_CODE, InteractionArrays

N_PRODUCTS = 150
COLD = 10_000  # a product id with no interactions at all
SMALL_GRIDS = {
    "ease": [{"l2": 100.0}],
    "als": [{"factors": 32, "regularization": 1.0, "alpha": 2.0}],
    "itemknn": [{"neighbours": 50}],
    "content": [{"char_ngrams": False}],
}


def to_arrays(dataset: SyntheticDataset) -> InteractionArrays:
    rows = list(dataset.interactions())
    stamps = np.array([r["occurred_at"][:-1] for r in rows], dtype="datetime64[s]")
    return InteractionArrays(
        customer=np.array([int(r["customer"][1:]) for r in rows], dtype=np.int64),
        product=np.array([int(r["product"][1:]) for r in rows], dtype=np.int64),
        kind=np.array([KIND_CODE[r["kind"]] for r in rows], dtype=np.int8),
        value=np.array([np.nan if r["value"] is None else r["value"] for r in rows]),
        timestamp=stamps.astype(np.int64).astype(np.float64),
    )
