"""Content-based recommendations from product text (title, description, category, tags).

Each product gets an L2-normalised TF-IDF vector (word n-grams, optionally plus character
n-grams, which also cover Chinese titles without a tokeniser). A customer's profile is
the normalised, interaction-weighted sum of their items' vectors; a product's score is
its cosine with the profile. Products with no interactions have vectors like any other,
so they are reachable at once; a customer with one or two interactions already has a
profile. Only the vectors are saved (sparse npz), not the vectorizer: serving never
transforms new text, new products arrive with the next retrain.

`W2VContentRecommender` ("w2v_content") is the same model over Word2Vec product vectors
given as an array (the NLP app's `embeddings`), offered when a tenant has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.ml.base import Recommender, cosine_top_k
from recommender.ml.item2vec import unit_rows

MIN_DOCS_FOR_MAX_DF = 20  # in a tiny catalogue a shared word still tells products apart


def product_text(product: Mapping[str, Any]) -> str:
    """One document per product: title, description, category and tags."""
    tags = product.get("tags") or []
    category = str(product.get("category") or "")
    parts = [
        str(product.get("title") or ""),
        str(product.get("description") or ""),
        category,
        category,  # the category counts twice: it is the most reliable signal of all
        " ".join(str(tag) for tag in tags),
    ]
    return "\n".join(part for part in parts if part)


class ContentRecommender(Recommender):
    family = "content"

    def __init__(
        self,
        *,
        char_ngrams: bool = False,
        min_df: int = 1,
        max_df: float = 0.5,
        max_features: int | None = 50_000,
        weighting: str = "log",
    ) -> None:
        """`char_ngrams` adds character 2-4-grams: they match Chinese titles (no word
        boundaries) and spelling variants, at ~8x the vector size and scoring time.
        `max_df` drops terms in more than that share of products (near stop words)."""
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.weighting = weighting

    def _fit(self, matrix: sp.csr_matrix, *, item_texts: Sequence[str] | None = None) -> None:
        if item_texts is None or len(item_texts) != matrix.shape[1]:
            raise ValueError("ContentRecommender.fit needs one text per item column.")
        texts = [text or "" for text in item_texts]
        blocks = [self._vectorize(texts, analyzer="word", ngram_range=(1, 2))]
        if self.char_ngrams:
            blocks.append(self._vectorize(texts, analyzer="char_wb", ngram_range=(2, 4)))
        vectors = sp.hstack(blocks, format="csr", dtype=np.float32)
        self.item_vectors_ = normalize(vectors).astype(np.float32)

    def _vectorize(self, texts: list[str], **options: Any) -> sp.csr_matrix:
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            min_df=self.min_df,
            max_df=self.max_df if len(texts) >= MIN_DOCS_FOR_MAX_DF else 1.0,
            max_features=self.max_features,
            dtype=np.float32,
            **options,
        )
        try:
            return vectorizer.fit_transform(texts)
        except ValueError:  # empty vocabulary (no text at all): no content signal
            return sp.csr_matrix((len(texts), 1), dtype=np.float32)

    def profiles(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Unit-length taste vectors: the weighted sum of each row's item vectors."""
        return normalize(rows @ self.item_vectors_)

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        # Sparse vectors x dense profiles: ~6x faster than a sparse-sparse product,
        # whose output is dense anyway. Chunked so a profile block stays ~64 MiB.
        profiles = self.profiles(rows)
        scores = np.empty((rows.shape[0], self.n_items_), dtype=np.float32)
        step = max(1, (1 << 24) // max(profiles.shape[1], 1))
        for start in range(0, rows.shape[0], step):
            block = profiles[start : start + step].toarray()
            scores[start : start + step] = (self.item_vectors_ @ block.T).T
        return scores

    def similar_items(
        self, item_indices: np.ndarray, k: int, *, allowed_items: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return cosine_top_k(self.item_vectors_, np.asarray(item_indices), k, allowed_items)

    def _arrays(self) -> dict[str, sp.csr_matrix]:
        return {"item_vectors_": self.item_vectors_}


class W2VContentRecommender(ContentRecommender):
    """The content model over Word2Vec product vectors (the NLP app's `embeddings`: the
    TF-IDF weighted mean of each product's word vectors) instead of TF-IDF terms. Same
    role and scoring: profile = the normalised, interaction-weighted sum of a customer's
    item vectors; score = cosine with the profile. Dense vectors, so a profile also
    matches products that share no word with it but use related ones.

    Vectors are centred (see item2vec.unit_rows) so that cosines, and the hybrid's
    cold-product threshold on them, mean the same as for TF-IDF. Products without a
    vector (zero rows: no known word) score 0 and rank by popularity; without any vectors
    the model is popularity. The vectors are saved with the model (dense npz).
    """

    family = "w2v_content"

    def __init__(self, *, center: bool = True, weighting: str = "log") -> None:
        self.center = center
        self.weighting = weighting

    def _fit(self, matrix: sp.csr_matrix, *, content_vectors: np.ndarray | None = None) -> None:
        self.item_vectors_ = unit_rows(content_vectors, matrix.shape[1], center=self.center)

    def _score(self, rows: sp.csr_matrix, user_indices: np.ndarray | None) -> np.ndarray:
        profiles = normalize(np.asarray(rows @ self.item_vectors_))
        return profiles @ self.item_vectors_.T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_vectors_": self.item_vectors_}
