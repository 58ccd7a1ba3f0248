"""Per-customer features as of a moment, from interaction arrays; pure numpy, no Django.

This module is the reference definition: the SQL version must give the same numbers.
Only interactions with `timestamp < as_of` count; a customer with none is not in the
output. Times are seconds since the epoch, a day is 86,400 s. Column by column:

- `recency_days`: (as_of - last purchase) / 86400; for a customer who never purchased,
  (as_of - first interaction of any kind) / 86400.
- `frequency`: number of purchase interactions.
- `monetary`: sum of the purchases' values; a purchase without a value adds 0.
- `tenure_days`: (as_of - first interaction of any kind) / 86400.
- `avg_order_value`: monetary / frequency; 0 when frequency is 0.
- `interpurchase_days`: (last purchase - first purchase) / 86400 / (frequency - 1) when
  frequency >= 2, else 0.
- `views_30d`, `clicks_30d`, `carts_30d`: number of view / click / add_to_cart
  interactions with as_of - 30 days <= timestamp < as_of.
- `share:<category>`, only when `product_category` is given: the tenant's top
  `max_categories` categories by number of interactions of any kind with a product in that
  category (before as_of), ordered by that count descending, then by name ascending;
  categories with no such interaction get no column, so there may be fewer. The value is
  the customer's interactions in that category divided by all their interactions that have
  a product (of any kind, categorised or not); 0 when they have none with a product.

`product_category` is two aligned arrays `(product_ids, codes)`: each product id's category
as an index into `category_names`. A product missing from it, or with a negative code, has
no category: it counts in the share denominator but in no category. Without
`category_names`, category `c` is named `str(c)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.ml.data import KIND_CODE, SECONDS_PER_DAY, InteractionArrays

RECENT_DAYS = 30.0
FEATURE_NAMES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "interpurchase_days",
    "views_30d",
    "clicks_30d",
    "carts_30d",
)
SHARE_PREFIX = "share:"


@dataclass(frozen=True)
class CustomerFeatures:
    """One row per customer (ids sorted ascending), one column per name."""

    customer_ids: np.ndarray  # int64
    X: np.ndarray  # float64, len(customer_ids) x len(names)
    names: list[str]

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


def customer_features(
    arrays: InteractionArrays,
    *,
    as_of: float,
    product_category: tuple[np.ndarray, np.ndarray] | None = None,
    category_names: list[str] | None = None,
    max_categories: int = 10,
) -> CustomerFeatures:
    """The features of the module docstring for every customer active before `as_of`."""
    before = arrays.subset(arrays.timestamp < as_of)
    customer_ids, row = np.unique(before.customer, return_inverse=True)
    customer_ids = customer_ids.astype(np.int64)
    n = len(customer_ids)
    t = before.timestamp

    first_seen = np.full(n, np.inf)
    np.minimum.at(first_seen, row, t)

    bought = before.kind == KIND_CODE["purchase"]
    buyer, bought_at = row[bought], t[bought]
    frequency = np.bincount(buyer, minlength=n).astype(np.float64)
    monetary = np.bincount(buyer, weights=np.nan_to_num(before.value[bought]), minlength=n)
    first_buy = np.full(n, np.inf)
    last_buy = np.full(n, -np.inf)
    np.minimum.at(first_buy, buyer, bought_at)
    np.maximum.at(last_buy, buyer, bought_at)
    recency = (as_of - np.where(frequency > 0, last_buy, first_seen)) / SECONDS_PER_DAY
    tenure = (as_of - first_seen) / SECONDS_PER_DAY
    avg_order = monetary / np.maximum(frequency, 1.0)  # monetary is 0 when frequency is
    span = np.where(frequency >= 2, last_buy - first_buy, 0.0)  # -inf - inf: no NaN
    interpurchase = span / SECONDS_PER_DAY / np.maximum(frequency - 1, 1.0)

    recent = t >= as_of - RECENT_DAYS * SECONDS_PER_DAY
    counts = [
        np.bincount(row[recent & (before.kind == KIND_CODE[kind])], minlength=n)
        for kind in ("view", "click", "add_to_cart")
    ]

    columns = [recency, frequency, monetary, tenure, avg_order, interpurchase, *counts]
    names = list(FEATURE_NAMES)
    if product_category is not None:
        shares, share_names = _category_shares(
            before, row, n, product_category, category_names, max_categories
        )
        columns += list(shares.T)
        names += share_names
    X = np.column_stack(columns).astype(np.float64) if n else np.empty((0, len(names)))
    return CustomerFeatures(customer_ids, X, names)


def _category_shares(
    before: InteractionArrays,
    row: np.ndarray,
    n: int,
    product_category: tuple[np.ndarray, np.ndarray],
    category_names: list[str] | None,
    max_categories: int,
) -> tuple[np.ndarray, list[str]]:
    """n x k shares of each customer's product interactions in the top k categories."""
    product_ids, codes = (np.asarray(a) for a in product_category)
    if product_ids.shape != codes.shape:
        raise ValueError("product_category must be two aligned arrays (product_ids, codes)")
    codes = codes.astype(np.int64)
    n_codes = int(codes.max(initial=-1)) + 1
    names = category_names if category_names is not None else [str(c) for c in range(n_codes)]
    if n_codes > len(names):
        raise ValueError(f"category code {n_codes - 1} has no name in category_names")
    # Category code of every interaction, by binary search in the sorted product ids.
    order = np.argsort(product_ids, kind="stable")
    sorted_ids, sorted_codes = product_ids[order], codes[order]
    with_product = before.product >= 0
    code = np.full(len(before), -1, dtype=np.int64)
    if len(sorted_ids):
        pos = np.minimum(np.searchsorted(sorted_ids, before.product), len(sorted_ids) - 1)
        found = with_product & (sorted_ids[pos] == before.product)
        code = np.where(found, sorted_codes[pos], -1)

    categorised = code >= 0
    per_category = np.bincount(code[categorised], minlength=len(names))
    present = np.flatnonzero(per_category > 0)
    # Count descending, then name ascending (lexsort: last key is the primary one).
    ranked = present[np.lexsort((np.array([names[c] for c in present]), -per_category[present]))]
    top = ranked[:max_categories]
    column_of = np.full(len(names), -1, dtype=np.int64)
    column_of[top] = np.arange(len(top))

    k = len(top)
    column = np.where(categorised, column_of[np.maximum(code, 0)], -1)
    hit = column >= 0
    in_top = np.bincount(row[hit] * k + column[hit], minlength=n * k).reshape(n, k)
    denominator = np.bincount(row[with_product], minlength=n).astype(np.float64)
    shares = in_top / np.maximum(denominator, 1.0)[:, None]
    return shares, [f"{SHARE_PREFIX}{names[c]}" for c in top]


def purchase_labels(
    arrays: InteractionArrays, customer_ids: np.ndarray, *, start: float, end: float
) -> np.ndarray:
    """Whether each customer made a purchase with start <= timestamp < end (bool array)."""
    in_window = (
        (arrays.kind == KIND_CODE["purchase"])
        & (arrays.timestamp >= start)
        & (arrays.timestamp < end)
    )
    return np.isin(np.asarray(customer_ids), arrays.customer[in_window])
