"""Who is held out, and which content variant each recipient gets: a hash of the campaign
and customer ids, so the answer is the same on every retry and every worker, with no
state to keep. No Django."""

from __future__ import annotations

import hashlib

import numpy as np

_SCALE = float(1 << 64)


def _uniform(campaign_id: int, customer_ids: np.ndarray, purpose: str) -> np.ndarray:
    """One number in [0, 1) per customer, fixed for (campaign, customer, purpose)."""
    out = np.empty(len(customer_ids))
    for i, customer in enumerate(np.asarray(customer_ids, dtype=np.int64).tolist()):
        digest = hashlib.blake2b(f"{campaign_id}:{customer}:{purpose}".encode(), digest_size=8)
        out[i] = int.from_bytes(digest.digest(), "big") / _SCALE
    return out


def assign(
    campaign_id: int, customer_ids: np.ndarray, *, holdout_share: float, variants: int
) -> tuple[np.ndarray, np.ndarray]:
    """(is_control, variant index) per customer; variants are split evenly."""
    if not 0 <= holdout_share < 1 or variants < 1:
        raise ValueError("need 0 <= holdout_share < 1 and at least one variant")
    control = _uniform(campaign_id, customer_ids, "holdout") < holdout_share
    variant = np.minimum(
        (_uniform(campaign_id, customer_ids, "variant") * variants).astype(np.int64), variants - 1
    )
    return control, variant


def send_order(campaign_id: int, customer_ids: np.ndarray) -> np.ndarray:
    """Positions of `customer_ids` in a random order fixed for the campaign."""
    return np.argsort(_uniform(campaign_id, customer_ids, "order"), kind="stable")
