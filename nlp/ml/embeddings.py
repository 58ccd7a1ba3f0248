"""Word and item embeddings with gensim's Word2Vec, and document vectors built from them.

- `train_word2vec`: skip-gram with negative sampling over tokenised texts (skip-gram
  learns rare words better than CBOW, and a shop's vocabulary is mostly rare words).
- `train_item2vec`: the same over each customer's time-ordered product ids ("item2vec",
  Barkan & Koenigstein 2016): products viewed in the same sessions end up close, so
  `similar(product_id)` answers "viewed together". min_count=1: every product gets a
  vector, and a wider window, since a browsing session has no grammar to respect.
- `WordVectors`: what both return; `similar(term)` by cosine, `UnknownTerm` (a KeyError)
  for a term without a vector.
- `document_vectors`: the TF-IDF weighted mean of a document's unit word vectors,
  L2-normalised (a zero row when no word is known): content vectors for products that
  have no interactions yet.

Determinism: vectors start from `seed`; with workers=1 a training run is exactly
repeatable, with more workers thread scheduling makes runs differ slightly.

Persistence without pickle (gensim's own KeyedVectors.save pickles the object): the
vectors go to `vectors.npz` (loaded with allow_pickle=False) and the terms, their counts
and the training parameters to `vocabulary.json`; `load` rebuilds the KeyedVectors.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from gensim.models import KeyedVectors, Word2Vec

FILE_VECTORS = "vectors.npz"
FILE_VOCABULARY = "vocabulary.json"


class UnknownTerm(KeyError):
    """The term (a word or a product id) has no vector: unseen or below min_count."""

    def __str__(self) -> str:
        return f"no vector for {self.args[0]!r}: unseen in training or too rare"


class WordVectors:
    """Unit-normalised lookups over a trained gensim KeyedVectors."""

    def __init__(self, keyed_vectors: KeyedVectors, params: dict[str, Any] | None = None) -> None:
        self.keyed_vectors = keyed_vectors
        self.params = dict(params or {})

    @property
    def terms(self) -> list[str]:
        """Every term with a vector, most frequent first."""
        return list(self.keyed_vectors.index_to_key)

    @property
    def vector_size(self) -> int:
        return int(self.keyed_vectors.vector_size)

    def __contains__(self, term: object) -> bool:
        return term in self.keyed_vectors.key_to_index

    def __len__(self) -> int:
        return len(self.keyed_vectors.index_to_key)

    def vector(self, term: str) -> np.ndarray:
        """The term's unit-length vector."""
        self._check(term)
        return self.keyed_vectors.get_vector(term, norm=True)

    def similarity(self, a: str, b: str) -> float:
        self._check(a)
        self._check(b)
        return float(self.keyed_vectors.similarity(a, b))

    def similar(self, term: str, limit: int = 10) -> list[tuple[str, float]]:
        """The `limit` nearest other terms by cosine, nearest first."""
        self._check(term)
        if limit <= 0:
            return []
        return [
            (other, float(cosine))
            for other, cosine in self.keyed_vectors.most_similar(term, topn=limit)
        ]

    def unit_vectors(self) -> np.ndarray:
        """All vectors, unit length, rows in `terms` order."""
        return self.keyed_vectors.get_normed_vectors()

    def _check(self, term: str) -> None:
        if term not in self.keyed_vectors.key_to_index:
            raise UnknownTerm(term)

    # --- persistence -----------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        kv = self.keyed_vectors
        np.savez(directory / FILE_VECTORS, vectors=kv.vectors)
        counts = [int(kv.get_vecattr(term, "count")) for term in kv.index_to_key]
        vocabulary = {"terms": kv.index_to_key, "counts": counts, "params": self.params}
        (directory / FILE_VOCABULARY).write_text(json.dumps(vocabulary, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        vocabulary = json.loads((directory / FILE_VOCABULARY).read_text())
        with np.load(directory / FILE_VECTORS, allow_pickle=False) as arrays:
            vectors = arrays["vectors"]
        terms = [str(term) for term in vocabulary["terms"]]
        if len(terms) != len(vectors):
            raise ValueError(f"{directory}: {len(terms)} terms but {len(vectors)} vectors")
        kv = KeyedVectors(vector_size=vectors.shape[1], dtype=vectors.dtype)
        kv.add_vectors(terms, vectors)
        # Counts set directly: add_vectors(extras=...) is broken in gensim 4.3-4.4.
        kv.allocate_vecattrs(["count"], [np.int64])
        kv.expandos["count"][:] = np.asarray(vocabulary["counts"], dtype=np.int64)
        return cls(kv, vocabulary.get("params"))

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} terms x {self.vector_size})"


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    *,
    vector_size: int = 100,
    window: int = 5,
    min_count: int = 2,
    epochs: int = 10,
    workers: int | None = None,
    seed: int = 0,
    sg: bool = True,
    negative: int = 5,
    sample: float = 1e-3,
) -> WordVectors:
    """Word2Vec over tokenised sentences (lists of tokens); workers=None uses every core."""
    params = {
        "vector_size": vector_size,
        "window": window,
        "min_count": min_count,
        "epochs": epochs,
        "seed": seed,
        "sg": int(bool(sg)),
        "negative": negative,
        "sample": sample,
    }
    return _train(sentences, params, workers, what="words")


def train_item2vec(
    sequences: Sequence[Sequence[str]],
    *,
    vector_size: int = 64,
    window: int = 10,
    min_count: int = 1,
    epochs: int = 15,
    workers: int | None = None,
    seed: int = 0,
    negative: int = 10,
    sample: float = 1e-3,
) -> WordVectors:
    """Skip-gram over each customer's time-ordered product ids (ids as strings)."""
    params = {
        "vector_size": vector_size,
        "window": window,
        "min_count": min_count,
        "epochs": epochs,
        "seed": seed,
        "sg": 1,
        "negative": negative,
        "sample": sample,
    }
    sequences = [[str(item) for item in sequence] for sequence in sequences]
    return _train(sequences, params, workers, what="products")


def _train(
    sentences: Sequence[Sequence[str]], params: dict[str, Any], workers: int | None, what: str
) -> WordVectors:
    corpus = [list(sentence) for sentence in sentences if len(sentence) > 0]
    counts = Counter(token for sentence in corpus for token in sentence)
    if sum(1 for n in counts.values() if n >= params["min_count"]) < 2:
        raise ValueError(
            f"Too little text to learn from: fewer than two {what} occur at least "
            f"{params['min_count']} times."
        )
    model = Word2Vec(
        sentences=corpus,
        workers=max(1, workers or os.cpu_count() or 1),
        hs=0,
        **params,
    )
    return WordVectors(model.wv, params)


def idf_weights(tokenised_docs: Iterable[Sequence[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency, as scikit-learn's: ln((1 + n) / (1 + df)) + 1."""
    df: Counter[str] = Counter()
    n = 0
    for doc in tokenised_docs:
        df.update(set(doc))
        n += 1
    return {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}


def document_vectors(
    tokenised_docs: Sequence[Sequence[str]],
    word_vectors: WordVectors,
    idf: Mapping[str, float] | None = None,
) -> np.ndarray:
    """One unit-length row per document: sum over its known words of count x idf x unit
    word vector, normalised. idf None weights every word 1; a word with a vector but no
    idf gets the largest idf (a word no document frequency was counted for is rare)."""
    index = word_vectors.keyed_vectors.key_to_index
    weight = np.ones(len(index), dtype=np.float32)
    if idf is not None:
        fallback = max(idf.values(), default=1.0)
        for term, i in index.items():
            weight[i] = idf.get(term, fallback)
    rows: list[int] = []
    cols: list[int] = []
    for row, doc in enumerate(tokenised_docs):
        known = [index[token] for token in doc if token in index]
        rows.extend([row] * len(known))
        cols.extend(known)
    counts = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(tokenised_docs), len(index)),
    )  # duplicates are summed: term counts
    vectors = np.asarray(counts.multiply(weight[np.newaxis, :]) @ word_vectors.unit_vectors())
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
