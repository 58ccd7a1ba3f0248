"""Interaction arrays and their weighting; pure numpy, no Django."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("view", "click", "add_to_cart", "purchase", "rating", "review")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
SECONDS_PER_DAY = 86_400.0

DEFAULT_KIND_WEIGHTS = {
    "view": 1.0,
    "click": 2.0,
    "add_to_cart": 4.0,
    "purchase": 8.0,
    "rating": 5.0,  # ratings of 4-5; 1-2 are negative feedback, 3 is neutral
    "review": 0.5,
}
DEFAULT_HALF_LIFE_DAYS = 30.0


@dataclass(frozen=True)
class InteractionArrays:
    """One row per interaction, as parallel arrays (product is -1 when absent)."""

    customer: np.ndarray  # int64 internal ids
    product: np.ndarray  # int64 internal ids
    kind: np.ndarray  # int8 codes into KINDS
    value: np.ndarray  # float64, NaN when absent
    timestamp: np.ndarray  # float64 seconds since the epoch

    def __len__(self) -> int:
        return len(self.customer)

    def subset(self, mask: np.ndarray) -> InteractionArrays:
        return InteractionArrays(
            self.customer[mask], self.product[mask], self.kind[mask], self.value[mask],
            self.timestamp[mask],
        )  # fmt: skip

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> InteractionArrays:
        """Rows of (customer, product or None, kind name, value or None, timestamp)."""
        if not rows:
            empty = np.empty(0)
            return cls(empty.astype(np.int64), empty.astype(np.int64), empty.astype(np.int8),
                       empty, empty)  # fmt: skip
        customer, product, kind, value, timestamp = zip(*rows, strict=True)
        return cls(
            customer=np.asarray(customer, dtype=np.int64),
            product=np.asarray([-1 if p is None else p for p in product], dtype=np.int64),
            kind=np.asarray([KIND_CODE[k] for k in kind], dtype=np.int8),
            value=np.asarray([np.nan if v is None else v for v in value], dtype=np.float64),
            timestamp=np.asarray(timestamp, dtype=np.float64),
        )


def negative_mask(arrays: InteractionArrays) -> np.ndarray:
    """Ratings of 1-2: the customer disliked the product."""
    return (arrays.kind == KIND_CODE["rating"]) & (arrays.value <= 2)


def interaction_weights(
    arrays: InteractionArrays,
    *,
    kind_weights: dict[str, float] | None = None,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    now: float | None = None,
) -> np.ndarray:
    """Confidence of each interaction as positive feedback; 0 for negative or neutral ones."""
    weights_by_kind = {**DEFAULT_KIND_WEIGHTS, **(kind_weights or {})}
    table = np.array([weights_by_kind[kind] for kind in KINDS])
    weights = table[arrays.kind]
    is_rating = arrays.kind == KIND_CODE["rating"]
    weights = np.where(is_rating & ~(arrays.value >= 4), 0.0, weights)
    weights = np.where(arrays.product < 0, 0.0, weights)
    if half_life_days and len(arrays):
        now = arrays.timestamp.max() if now is None else now
        age_days = np.maximum(now - arrays.timestamp, 0.0) / SECONDS_PER_DAY
        weights = weights * np.power(0.5, age_days / half_life_days)
    return weights
