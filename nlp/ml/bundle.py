"""What one `embeddings` version holds, and how it is evaluated. No Django.

- `words`: Word2Vec over the tenant's product titles, descriptions and review texts
  (`similar-terms`);
- `content`: one vector per product, the TF-IDF weighted mean of its words' vectors (zero
  when none of its words has a vector): content similarity for products nobody has
  touched yet;
- `items`: item2vec, Word2Vec over each customer's time-ordered products: "viewed
  together".

Product ids are the platform's internal ids (int64), sorted, so rows can be looked up by
binary search like the recommender's `IdIndex`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from nlp.ml.embeddings import WordVectors

FILE_PRODUCTS = "products.npz"


@dataclass
class Embeddings:
    words: WordVectors
    product_ids: np.ndarray  # int64, sorted: the rows of `content`
    content: np.ndarray  # float32 (n, d), unit rows or zero rows
    items: WordVectors | None  # item2vec; terms are str(product id)

    def content_of(self, product_ids: np.ndarray) -> np.ndarray:
        """Content vectors of `product_ids` (zero rows for ids without one)."""
        ids = np.asarray(product_ids, dtype=np.int64)
        out = np.zeros((len(ids), self.content.shape[1]), dtype=np.float32)
        if not len(self.product_ids):
            return out
        pos = np.minimum(np.searchsorted(self.product_ids, ids), len(self.product_ids) - 1)
        found = self.product_ids[pos] == ids
        out[found] = self.content[pos[found]]
        return out

    def item_vectors(self, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unit item2vec vectors, mask of ids that have one) for `product_ids`."""
        ids = [str(int(p)) for p in np.asarray(product_ids, dtype=np.int64)]
        if self.items is None:
            return np.zeros((len(ids), 1), dtype=np.float32), np.zeros(len(ids), dtype=bool)
        mask = np.array([p in self.items for p in ids], dtype=bool)
        out = np.zeros((len(ids), self.items.vector_size), dtype=np.float32)
        for i in np.flatnonzero(mask):
            vector = self.items.vector(ids[i])
            out[i] = vector / (np.linalg.norm(vector) or 1.0)
        return out, mask

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.words.save(directory / "words")
        if self.items is not None:
            self.items.save(directory / "items")
        np.savez(directory / FILE_PRODUCTS, product_ids=self.product_ids, content=self.content)
        (directory / "embeddings.json").write_text(json.dumps({"items": self.items is not None}))

    @classmethod
    def load(cls, directory: Path) -> Self:
        meta = json.loads((directory / "embeddings.json").read_text())
        with np.load(directory / FILE_PRODUCTS, allow_pickle=False) as arrays:
            product_ids, content = arrays["product_ids"], arrays["content"]
        items = WordVectors.load(directory / "items") if meta["items"] else None
        return cls(WordVectors.load(directory / "words"), product_ids, content, items)


def category_agreement(
    vectors: np.ndarray,
    categories: list[str],
    reference: np.ndarray,
    reference_categories: list[str],
) -> float:
    """Share of `vectors` whose nearest `reference` vector (cosine) has the same category:
    how well content vectors of held-out products place them among the others. Rows that
    are zero (no known word) count as misses."""
    if not len(vectors) or not len(reference):
        return 0.0
    nearest = np.argmax(vectors @ reference.T, axis=1)
    known = np.abs(vectors).sum(axis=1) > 0
    hits = [
        bool(k) and categories[i] == reference_categories[j]
        for i, (j, k) in enumerate(zip(nearest.tolist(), known.tolist(), strict=True))
    ]
    return float(np.mean(hits))


def chance_agreement(categories: list[str], reference_categories: list[str]) -> float:
    """What `category_agreement` would be for random vectors: sum over categories of the
    share among held-out products times the share among the reference."""
    if not categories or not reference_categories:
        return 0.0
    total = 0.0
    for category in set(categories):
        total += (categories.count(category) / len(categories)) * (
            reference_categories.count(category) / len(reference_categories)
        )
    return total
