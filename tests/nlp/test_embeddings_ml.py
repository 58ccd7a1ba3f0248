"""Word2Vec, item2vec and document vectors on generated text with planted categories."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.ml import synthetic
from nlp.ml.embeddings import (
    FILE_VECTORS,
    FILE_VOCABULARY,
    UnknownTerm,
    WordVectors,
    document_vectors,
    idf_weights,
    train_item2vec,
    train_word2vec,
)
from nlp.ml.text import tokenize

# Measured (seed 0, 2,000 descriptions): mean cosine 0.998 within a category, 0.32
# across, in both languages; every top-5 neighbour from the same category.
MIN_COSINE_GAP = 0.3


@pytest.fixture(scope="module", params=["en", "zh"])
def corpus(request):
    language = request.param
    pairs = synthetic.product_descriptions(2000, language=language, seed=0)
    docs = [tokenize(text) for text, _ in pairs]
    vectors = train_word2vec(docs, vector_size=50, workers=1, seed=0)
    category_of = {
        word: category
        for category, words in synthetic.CATEGORY_WORDS[language].items()
        for word in words
        if word in vectors
    }
    return docs, [category for _, category in pairs], vectors, category_of


def _within_and_across(matrix: np.ndarray, groups: list[str]) -> tuple[float, float]:
    """Mean cosine of pairs in the same group and of pairs in different groups."""
    cosine = matrix @ matrix.T
    groups_ = np.asarray(groups)
    same = groups_[:, None] == groups_[None, :]
    np.fill_diagonal(same, False)
    different = groups_[:, None] != groups_[None, :]
    return float(cosine[same].mean()), float(cosine[different].mean())


def test_words_of_a_category_are_closer_to_each_other(corpus):
    _, _, vectors, category_of = corpus
    words = list(category_of)
    assert len(words) >= 40  # nearly every planted word got a vector

    within, across = _within_and_across(
        np.array([vectors.vector(word) for word in words]), [category_of[w] for w in words]
    )

    assert within > across + MIN_COSINE_GAP


def test_nearest_neighbours_come_from_the_same_category(corpus):
    _, _, vectors, category_of = corpus

    shares = [
        np.mean([category_of.get(other) == category for other, _ in vectors.similar(word, 5)])
        for word, category in category_of.items()
    ]

    assert np.mean(shares) >= 0.8
    neighbours = vectors.similar(next(iter(category_of)), limit=5)
    assert len(neighbours) == 5
    assert all(isinstance(term, str) and -1.0 <= cosine <= 1.0 for term, cosine in neighbours)
    assert [c for _, c in neighbours] == sorted((c for _, c in neighbours), reverse=True)


def test_unknown_term_raises_a_key_error(corpus):
    _, _, vectors, _ = corpus

    with pytest.raises(UnknownTerm):
        vectors.similar("no-such-word")
    with pytest.raises(KeyError):
        vectors.vector("no-such-word")
    assert "no-such-word" not in vectors


def test_save_and_load_round_trip_without_pickle(corpus, tmp_path):
    _, _, vectors, category_of = corpus
    word = next(iter(category_of))

    vectors.save(tmp_path)
    loaded = WordVectors.load(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_VECTORS, FILE_VOCABULARY]
    with np.load(tmp_path / FILE_VECTORS, allow_pickle=False) as arrays:
        assert arrays["vectors"].shape == (len(vectors), vectors.vector_size)
    assert loaded.terms == vectors.terms
    np.testing.assert_array_equal(loaded.unit_vectors(), vectors.unit_vectors())
    assert loaded.similar(word, 5) == vectors.similar(word, 5)
    assert loaded.params == vectors.params
    kv = loaded.keyed_vectors
    assert kv.get_vecattr(word, "count") == vectors.keyed_vectors.get_vecattr(word, "count")


def test_same_seed_single_worker_gives_the_same_vectors(corpus):
    docs, _, vectors, _ = corpus

    again = train_word2vec(docs, vector_size=50, workers=1, seed=0)

    np.testing.assert_array_equal(again.unit_vectors(), vectors.unit_vectors())


def test_document_vectors_of_a_category_are_closer(corpus):
    docs, categories, vectors, _ = corpus

    matrix = document_vectors(docs, vectors, idf_weights(docs))
    within, across = _within_and_across(matrix[:600], categories[:600])

    assert matrix.shape == (len(docs), vectors.vector_size)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert within > across + MIN_COSINE_GAP


def test_document_without_known_words_is_a_zero_vector(corpus):
    _, _, vectors, category_of = corpus
    word = next(iter(category_of))

    matrix = document_vectors([[], ["no-such-word"], [word]], vectors, idf=None)

    np.testing.assert_array_equal(matrix[:2], 0.0)
    np.testing.assert_allclose(matrix[2], vectors.vector(word), rtol=1e-5, atol=1e-6)


def test_item2vec_similar_products_share_the_planted_category():
    sequences, category_of = synthetic.product_sequences(800, seed=0)

    vectors = train_item2vec(sequences, workers=1, seed=0)
    shares = [
        np.mean(
            [
                category_of[other] == category_of[product]
                for other, _ in vectors.similar(product, 10)
            ]
        )
        for product in vectors.terms
    ]

    assert len(vectors) == len(category_of)  # min_count=1: every browsed product
    assert np.mean(shares) >= 0.8  # measured 1.0; a random neighbour: 0.2


def test_too_little_text_is_a_clear_error():
    with pytest.raises(ValueError, match="Too little text"):
        train_word2vec([["one"], ["two"]], min_count=2)
