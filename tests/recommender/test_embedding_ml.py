"""The recommender over the NLP app's embeddings, pure numeric (no database): the
`item2vec` and `w2v_content` families, the hybrid on Word2Vec content vectors, selection.

Vectors are given as arrays aligned with the catalogue, as the trainer passes them:
category vectors built with numpy (planted categories plus noise), or item2vec trained
with nlp.ml.embeddings on the customers' time-ordered products of the training window.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nlp.ml.embeddings import train_item2vec
from recommender.ml.evaluation import evaluate_model, time_split
from recommender.ml.families import load_model, make_model
from recommender.ml.hybrid import HybridRecommender
from recommender.ml.item2vec import Item2VecRecommender, unit_rows
from recommender.ml.matrix import IdIndex, build_matrices, relevance_matrix
from recommender.ml.popularity import PopularityModel
from recommender.ml.selection import select_model
from tests.recommender.planted import COLD, N_PRODUCTS, SMALL_GRIDS

VECTOR_GRIDS = {**SMALL_GRIDS, "item2vec": [{"neighbours": 50}], "w2v_content": [{}]}


def category_vectors(dataset, ids: np.ndarray, *, noise: float = 0.5, seed: int = 0):
    """One row per id in `ids`: its planted category's random direction plus noise (the
    cold product is listed like product 0, so it gets product 0's category)."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(dataset.config.n_categories, 16))
    category = dataset.product_category[np.where(ids == COLD, 0, ids)]
    return (centroids[category] + noise * rng.normal(size=(len(ids), 16))).astype(np.float32)


def _category_of(dataset, ids: np.ndarray) -> np.ndarray:
    return dataset.product_category[np.where(ids == COLD, 0, np.minimum(ids, N_PRODUCTS - 1))]


@pytest.fixture(scope="module")
def vectors(shop, matrices):
    """Item2vec and content vectors of the catalogue, in the matrices' column order."""
    dataset = shop[0]
    ids = matrices.products.ids
    return category_vectors(dataset, ids, seed=1), category_vectors(dataset, ids, seed=2)


@pytest.fixture(scope="module")
def holdout(shop):
    """The newest 20% of events held out; matrices of the rest, on the full catalogue."""
    _, arrays, ids, _ = shop
    split = time_split(arrays, 0.2)
    customers, products = IdIndex.from_ids(arrays.customer), IdIndex.from_ids(ids)
    train = build_matrices(split.train, customers=customers, products=products, now=split.cutoff)
    truth = relevance_matrix(split.test, customers, products)
    return split, train, truth


def _ndcg(model, train, truth) -> float:
    return evaluate_model(model, train.confidence, truth, exclude=train.exclusions(), k=10)[
        "ndcg@10"
    ]


def _trained_item2vec(split, products: IdIndex) -> np.ndarray:
    """Item2vec on each customer's time-ordered products of the training window only."""
    train = split.train
    order = np.lexsort((train.timestamp, train.customer))
    customers, products_seen = train.customer[order], train.product[order]
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
    sequences = [s.tolist() for s in np.split(products_seen, starts[1:])]
    words = train_item2vec(sequences, workers=1, seed=0)
    out = np.zeros((len(products), words.vector_size), dtype=np.float32)
    for i, product in enumerate(products.ids.tolist()):
        if str(product) in words:
            out[i] = words.vector(str(product))
    return out


def test_item2vec_ranks_the_held_out_products_far_better_than_popularity(holdout):
    # given item2vec vectors learnt from browsing sequences before the holdout's cutoff
    split, train, truth = holdout
    item_vectors = _trained_item2vec(split, train.products)
    assert (np.abs(item_vectors).sum(axis=1) > 0).sum() >= N_PRODUCTS - 5

    # when the item2vec family and popularity are fitted on the same training window
    item2vec = Item2VecRecommender().fit(train.confidence, item_vectors=item_vectors)
    popularity = PopularityModel().fit(train.confidence)

    # then item2vec's NDCG@10 on the held-out events is far above popularity's
    assert _ndcg(item2vec, train, truth) >= 1.5 * _ndcg(popularity, train, truth)


def test_item2vec_picks_fall_in_each_customers_planted_favourites(shop, matrices, vectors):
    # given item2vec vectors that encode the planted categories
    dataset = shop[0]
    model = make_model("item2vec").fit(matrices.confidence, item_vectors=vectors[0])
    users = np.flatnonzero(np.diff(matrices.confidence.indptr) >= 5)
    favourite = dataset.customer_tastes[matrices.customers.ids[users]] >= 0.25

    def favourite_share(recommender) -> float:
        items, _ = recommender.recommend(
            matrices.confidence[users], 10, matrices.exclusions()[users], users
        )
        category = _category_of(dataset, matrices.products.ids_of(items))
        return float(np.take_along_axis(favourite, category, axis=1).mean())

    # then its picks are mostly of each customer's favourite categories, unlike popularity
    popularity = PopularityModel().fit(matrices.confidence)
    assert favourite_share(model) >= 0.6
    assert favourite_share(model) >= 2 * favourite_share(popularity)


def test_items_without_an_item2vec_vector_fall_back_to_popularity(shop, matrices, vectors):
    # given vectors for every product but the five most popular ones
    popularity = PopularityModel().fit(matrices.confidence)
    top = popularity.recommend(sp.csr_matrix((1, matrices.shape[1])), 5)[0][0]
    item_vectors = vectors[0].copy()
    item_vectors[top] = 0.0
    model = make_model("item2vec").fit(matrices.confidence, item_vectors=item_vectors)

    # then those five are nobody's neighbour and have none
    assert model.similarity_[:, top].nnz == 0 and model.similarity_[top].nnz == 0
    assert (model.similar_items(top, 5)[0] == -1).all()
    # and a customer who liked only them is served the most popular other products
    row = sp.csr_matrix((np.full(2, 4.0), ([0, 0], top[:2])), shape=(1, matrices.shape[1]))
    items, _ = model.recommend(row, 10, exclude=row)
    prior = model.item_prior_.copy()
    prior[top[:2]] = -1
    assert set(items[0].tolist()) == set(np.argsort(-prior, kind="stable")[:10].tolist())
    assert (np.diff(model.item_prior_[items[0]]) <= 0).all()


def test_item2vec_keeps_a_sparse_neighbour_list_per_item(matrices, vectors):
    model = make_model("item2vec", {"neighbours": 7}).fit(
        matrices.confidence, item_vectors=vectors[0]
    )
    per_item = model.similarity_.getnnz(axis=1)
    assert per_item.max() <= 7 and model.similarity_.diagonal().sum() == 0
    assert (model.similarity_.data > 0).all()  # only positive cosines vote


def test_w2v_content_places_a_cold_product_among_its_category(shop, matrices, vectors):
    # given Word2Vec content vectors, and a product nobody has touched, listed like product 0
    dataset = shop[0]
    model = make_model("w2v_content").fit(matrices.confidence, content_vectors=vectors[1])
    cold, twin = matrices.products.index_of([COLD, 0])
    assert matrices.confidence[:, cold].nnz == 0

    # then its nearest products are of product 0's category
    items, scores = model.similar_items(np.array([cold]), 5)
    category = _category_of(dataset, matrices.products.ids_of(items[0]))
    assert (category == dataset.product_category[0]).all() and scores[0, 0] > 0.5
    # and a customer who just liked product 0 is offered it among the first
    row = sp.csr_matrix(([8.0], ([0], [twin])), shape=(1, matrices.shape[1]))
    category_size = int((dataset.product_category == dataset.product_category[0]).sum())
    assert cold in model.recommend(row, category_size, exclude=row)[0][0]


def test_the_hybrid_maps_cold_products_and_thin_customers_with_word2vec(
    shop, fitted, matrices, vectors, tmp_path
):
    # given an EASE bundle whose content model is Word2Vec, built without product texts
    dataset = shop[0]
    hybrid = HybridRecommender.build(
        fitted["ease"], matrices.confidence, None,
        content_vectors=vectors[1], content_family="w2v_content",
    )  # fmt: skip
    assert hybrid.content is not None and hybrid.content.family == "w2v_content"

    # then the cold product inherits from a warm product of its category
    cold = matrices.products.index_of([COLD])[0]
    assert cold in hybrid.cold_items
    neighbour = hybrid.cold_neighbours[hybrid.cold_items.tolist().index(cold)]
    assert dataset.product_category[matrices.products.ids[neighbour]] == dataset.product_category[0]
    # and a customer who liked product 3 only is shown mostly product 3's category
    row = sp.csr_matrix(([4.0], ([0], [3])), shape=(1, matrices.shape[1]))
    items, _, sources = hybrid.recommend(row, 10, exclude=row)
    category = _category_of(dataset, matrices.products.ids_of(items[0]))
    assert (category == dataset.product_category[3]).mean() >= 0.6
    assert set(sources[0]) == {"content+popularity"}

    # and it saves and loads to the same answers with no embeddings around, in npz files only
    hybrid.save(tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".npz"]
    loaded = HybridRecommender.load(tmp_path)
    rows, exclude = matrices.confidence[:80], matrices.exclusions()[:80]
    before, after = hybrid.recommend(rows, 10, exclude), loaded.recommend(rows, 10, exclude)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], rtol=1e-6)
    assert before[2] == after[2]
    np.testing.assert_array_equal(loaded.cold_neighbours, hybrid.cold_neighbours)


def test_the_hybrid_prefers_the_content_model_asked_for_and_falls_back(shop, fitted, matrices):
    texts = shop[3]
    tfidf = HybridRecommender.build(fitted["ease"], matrices.confidence, texts)
    assert tfidf.content is not None and tfidf.content.family == "content"
    # Word2Vec asked for but not there: TF-IDF; a w2v_content primary is reused as is
    fallback = HybridRecommender.build(
        fitted["ease"], matrices.confidence, texts, content_family="w2v_content"
    )
    assert fallback.content is not None and fallback.content.family == "content"
    primary = make_model("w2v_content").fit(
        matrices.confidence, content_vectors=np.eye(matrices.shape[1], 8, dtype=np.float32)
    )
    reused = HybridRecommender.build(
        primary, matrices.confidence, texts,
        content_vectors=primary.item_vectors_, content_family="w2v_content",
    )  # fmt: skip
    assert reused.content is primary
    with pytest.raises(ValueError, match="content_family"):
        HybridRecommender.build(primary, matrices.confidence, texts, content_family="bm25")


@pytest.mark.parametrize("family", ["item2vec", "w2v_content"])
def test_vector_families_save_and_load_to_identical_scores(family, matrices, vectors, tmp_path):
    inputs = {"item_vectors": vectors[0], "content_vectors": vectors[1]}
    name = "item_vectors" if family == "item2vec" else "content_vectors"
    model = make_model(family).fit(matrices.confidence, **{name: inputs[name]})
    model.save(tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.suffix != ".npz"]
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    rows, users = matrices.confidence[:60], np.arange(60)
    before = model.recommend(rows, 10, matrices.exclusions()[:60], users)
    after = loaded.recommend(rows, 10, matrices.exclusions()[:60], users)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(
        model.similar_items(np.arange(10), 5)[0], loaded.similar_items(np.arange(10), 5)[0]
    )


def test_a_blend_with_vector_families_refits_with_their_vectors(matrices, vectors):
    spec = {
        "components": [
            {"family": "item2vec", "params": {"neighbours": 30}},
            {"family": "w2v_content", "params": {}},
            {"family": "content", "params": {}},
        ],
        "weights": [0.5, 0.3, 0.2],
    }
    texts = [f"product {i}" for i in range(matrices.shape[1])]
    blend = make_model("blend", spec).fit(
        matrices.confidence, item_texts=texts, item_vectors=vectors[0], content_vectors=vectors[1]
    )
    items, scores = blend.recommend(matrices.confidence[:20], 10, matrices.exclusions()[:20])
    assert (items >= 0).all() and np.isfinite(scores).all()


def test_selection_offers_the_vector_families_only_when_vectors_are_given(shop):
    _, arrays, ids, texts = shop
    dataset = shop[0]
    families = ("itemknn", "content", "w2v_content", "item2vec")

    # given no vectors: both vector families are skipped, each with its reason
    without = select_model(
        arrays, product_ids=ids, item_texts=texts, families=families, grids=VECTOR_GRIDS,
        time_budget=30, blend=False,
    )  # fmt: skip
    assert {"item2vec", "w2v_content"}.isdisjoint(without.validation)
    assert "item2vec" in without.skipped["item2vec"]
    assert "Word2Vec" in without.skipped["w2v_content"]
    assert without.content_family() == "content"

    # given vectors aligned with `ids` (in the caller's order, not sorted)
    shuffle = np.random.default_rng(0).permutation(len(ids))
    item_vectors = category_vectors(dataset, ids, seed=1)
    content_vectors = category_vectors(dataset, ids, seed=2)
    result = select_model(
        arrays, product_ids=ids[shuffle], item_texts=[texts[i] for i in shuffle],
        item_vectors=item_vectors[shuffle], content_vectors=content_vectors[shuffle],
        vectors_through=float(arrays.timestamp.max()), families=families,
        grids=VECTOR_GRIDS, time_budget=30,
    )  # fmt: skip

    # then both are tried, scored on validation and test next to the others
    assert {"item2vec", "w2v_content"} <= set(result.validation) & set(result.test)
    assert {"item2vec", "w2v_content"}.isdisjoint(result.skipped)
    assert result.test["item2vec"]["ndcg@10"] > result.test["popularity"]["ndcg@10"]
    assert result.test["w2v_content"]["ndcg@10"] > result.test["popularity"]["ndcg@10"]
    # and vectors trained on the held-out events are flagged as such
    assert "optimistic" in result.summary()["notes"]["item2vec"]
    # and the vectors were put in the catalogue's order for the refit
    np.testing.assert_array_equal(result.item_vectors, item_vectors)
    model, matrices = result.refit_on_all(arrays)
    assert model.n_items_ == len(ids) and matrices.products.ids.tolist() == sorted(ids.tolist())
    expected = "w2v_content" if result.validation["w2v_content"]["ndcg@10"] > (
        result.validation["content"]["ndcg@10"]
    ) else "content"  # fmt: skip
    assert result.content_family() == expected


def test_selection_says_so_when_no_product_has_a_vector(shop):
    _, arrays, ids, texts = shop
    result = select_model(
        arrays, product_ids=ids, item_vectors=np.zeros((len(ids), 8), np.float32),
        families=("item2vec",), time_budget=10,
    )  # fmt: skip
    assert result.skipped["item2vec"] == "no product has a vector"
    assert result.winner == "popularity"


def test_unit_rows_centre_known_rows_only_and_check_the_shape():
    vectors = np.array([[1.0, 1.0], [1.0, 3.0], [0.0, 0.0], [3.0, 1.0]], dtype=np.float32)
    unit = unit_rows(vectors, 4, center=True)
    assert not unit[2].any()  # no vector stays no vector
    np.testing.assert_allclose(np.linalg.norm(unit[[0, 1, 3]], axis=1), 1.0, rtol=1e-6)
    assert unit[1] @ unit[3] < 0  # centred: the two unlike products now point apart
    assert vectors[0, 0] == 1.0  # the caller's array is untouched
    with pytest.raises(ValueError, match="one vector per item"):
        unit_rows(vectors, 5)
