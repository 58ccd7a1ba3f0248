"""Pure-numeric recommender models and model selection (no database).

Data: the synthetic shop with planted tastes (customers.synthetic), small enough that
the whole module runs in seconds on two shared cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.base import apply_weighting, top_k
from recommender.ml.content import ContentRecommender
from recommender.ml.data import SECONDS_PER_DAY, InteractionArrays
from recommender.ml.evaluation import evaluate_model, ranking_metrics
from recommender.ml.factorization import ALSRecommender
from recommender.ml.families import FAMILIES, load_model, make_model
from recommender.ml.matrix import IdIndex, build_matrices, load_indices, save_indices
from recommender.ml.popularity import PopularityModel, PopularityRecommender
from recommender.ml.selection import select_model
from tests.recommender.planted import COLD, N_PRODUCTS, SMALL_GRIDS


def test_selected_model_beats_popularity_and_recovers_planted_tastes(shop):
    # Given a shop whose customers have planted favourite categories
    dataset, arrays, ids, texts = shop
    # When selection runs on the time split
    result = select_model(
        arrays,
        product_ids=ids,
        item_texts=texts,
        families=("ease", "als", "itemknn", "content"),
        grids=SMALL_GRIDS,
        time_budget=20,
    )
    # Then the winner was chosen on validation and is far better than popularity on test
    assert result.winner != "popularity"
    best_validation = max(m["ndcg@10"] for m in result.validation.values())
    assert result.validation[result.winner]["ndcg@10"] == best_validation
    assert result.test[result.winner]["ndcg@10"] >= 1.5 * result.test["popularity"]["ndcg@10"]
    assert {t.family for t in result.trials} >= {"popularity", "ease", "als", "itemknn"}
    assert result.summary()["trials"][0]["fit_seconds"] >= 0
    # And refitted on everything, its picks fall mostly in each customer's favourites
    model, matrices = result.refit_on_all(arrays)
    users = np.flatnonzero(np.diff(matrices.confidence.indptr) >= 5)
    favourite = dataset.customer_tastes[matrices.customers.ids[users]] >= 0.25

    def favourite_share(recommender) -> float:
        items, _ = recommender.recommend(
            matrices.confidence[users], 10, matrices.exclusions()[users], user_indices=users
        )
        products = matrices.products.ids_of(items)
        category = dataset.product_category[np.minimum(products, N_PRODUCTS - 1)]
        return float(np.take_along_axis(favourite, category, axis=1)[products < COLD].mean())

    popularity = PopularityModel().fit(matrices.confidence)
    assert favourite_share(model) >= 0.6
    assert favourite_share(model) >= 3 * favourite_share(popularity)


@pytest.mark.parametrize("family", [*FAMILIES])
def test_excluded_items_never_come_back(family, fitted, matrices):
    # Given each customer's disliked and seen items, plus an explicit exclusion list
    model = fitted[family]
    rng = np.random.default_rng(0)
    n_users, n_items = matrices.shape
    explicit = sp.random(n_users, n_items, density=0.05, format="csr", random_state=rng)
    exclude = (matrices.exclusions(exclude_seen=True) + explicit).tocsr()
    allowed = rng.random(n_items) > 0.2  # e.g. inactive products or a category filter
    # When recommending for everyone
    items, scores = model.recommend(
        matrices.confidence, 10, exclude, np.arange(n_users), allowed_items=allowed
    )
    # Then no excluded or disallowed item appears, and padding is -1 / -inf only
    users, positions = np.nonzero(items >= 0)
    picked = items[users, positions]
    assert not np.asarray(exclude[users, picked]).any()
    assert allowed[picked].all()
    assert np.isfinite(scores[items >= 0]).all() and np.isneginf(scores[items < 0]).all()
    assert (np.diff(scores, axis=1)[np.isfinite(scores[:, 1:])] <= 0).all()  # best first


def test_disliked_items_are_excluded_even_without_exclude_seen(fitted, matrices):
    assert matrices.disliked.nnz > 0
    assert not matrices.confidence.multiply(matrices.disliked).nnz  # never counted as liking
    items, _ = fitted["ease"].recommend(
        matrices.confidence, 20, matrices.exclusions(exclude_seen=False)
    )
    users, positions = np.nonzero(items >= 0)
    assert not np.asarray(matrices.disliked[users, items[users, positions]]).any()


def test_cold_product_is_reachable_through_content(fitted, matrices):
    # Given a product nobody has interacted with, listed like product 0
    content = fitted["content"]
    cold, twin = matrices.products.index_of([COLD, 0])
    assert matrices.confidence[:, cold].nnz == 0
    # Then it is product 0's nearest content neighbour, and vice versa
    assert content.similar_items(np.array([twin]), 5)[0][0, 0] == cold
    assert content.similar_items(np.array([cold]), 5)[0][0, 0] == twin
    # And a customer who just bought product 0 is offered it first
    row = sp.csr_matrix(([8.0], ([0], [twin])), shape=(1, matrices.shape[1]))
    assert content.recommend(row, 5, exclude=row)[0][0, 0] == cold


def test_customer_with_no_history_gets_popular_items(fitted, matrices):
    empty = sp.csr_matrix((2, matrices.shape[1]), dtype=np.float32)
    for family, model in fitted.items():
        items, _ = model.recommend(empty, 10, user_indices=np.array([-1, -1]))
        prior = model.item_prior_[items[0]]
        assert (items >= 0).all(), family
        assert prior[0] == model.item_prior_.max(), family
        assert (np.diff(prior) <= 0).all(), family  # in popularity order
        assert (items[0] == items[1]).all(), family


def test_save_and_load_give_identical_recommendations(fitted, matrices, tmp_path):
    rows, users = matrices.confidence[:50], np.arange(50)
    for family, model in fitted.items():
        directory = tmp_path / family
        directory.mkdir()
        model.save(directory)
        assert not [p for p in directory.rglob("*") if p.suffix not in (".npz", "")]
        loaded = load_model(directory)
        assert type(loaded) is type(model)
        before = model.recommend(rows, 10, matrices.exclusions()[:50], users)
        after = loaded.recommend(rows, 10, matrices.exclusions()[:50], users)
        np.testing.assert_array_equal(before[0], after[0], err_msg=family)
        np.testing.assert_allclose(before[1], after[1], rtol=1e-6, err_msg=family)
        np.testing.assert_array_equal(
            model.similar_items(np.arange(5), 5)[0], loaded.similar_items(np.arange(5), 5)[0]
        )


def test_pruned_ease_and_indices_round_trip(matrices, tmp_path):
    ease = make_model("ease", {"max_neighbours": 20}).fit(matrices.confidence)
    assert sp.issparse(ease.weights_) and ease.weights_.getnnz(axis=1).max() <= 20
    ease.save(tmp_path)
    save_indices(tmp_path, matrices.customers, matrices.products)
    loaded = load_model(tmp_path)
    customers, products = load_indices(tmp_path)
    rows = matrices.confidence[:30]
    np.testing.assert_array_equal(ease.recommend(rows, 10)[0], loaded.recommend(rows, 10)[0])
    np.testing.assert_array_equal(products.ids, matrices.products.ids)
    np.testing.assert_array_equal(customers.ids, matrices.customers.ids)


def test_als_refolds_a_new_customer_from_their_row(shop, fitted, matrices):
    dataset = shop[0]
    als: ALSRecommender = fitted["als"]
    # Given a customer unseen at training who bought three products of one category
    category = int(dataset.product_category[0])
    in_category = np.flatnonzero(dataset.product_category == category)[:3]
    row = sp.csr_matrix((np.full(3, 8.0), (np.zeros(3), in_category)), shape=(1, N_PRODUCTS + 1))
    # Then the refolded customer is recommended mostly that category
    items, _ = als.recommend(row, 10, exclude=row)
    picked = items[0][items[0] < N_PRODUCTS]
    assert (dataset.product_category[picked] == category).mean() >= 0.6
    # And refolding a training customer gives back (nearly) their learned factors
    users = np.flatnonzero(np.diff(matrices.confidence.indptr) >= 5)[:100]
    refolded = als.refold(apply_weighting(matrices.confidence[users], als.weighting))
    learned = als.user_factors_[users]
    cosine = (refolded * learned).sum(1) / (
        np.linalg.norm(refolded, axis=1) * np.linalg.norm(learned, axis=1)
    )
    assert np.median(cosine) >= 0.95


def test_als_refold_is_implicits_least_squares_solve(fitted, matrices):
    from implicit.cpu.als import AlternatingLeastSquares

    als: ALSRecommender = fitted["als"]
    rows = apply_weighting(matrices.confidence[:40], als.weighting)
    reference = AlternatingLeastSquares(
        factors=als.factors, regularization=als.regularization, num_threads=1
    )
    reference.item_factors = als.item_factors_
    reference.user_factors = als.user_factors_
    confidence = rows.copy()
    confidence.data = 1.0 + als.alpha * confidence.data
    expected = reference.recalculate_user(np.arange(40), confidence)
    np.testing.assert_allclose(als.refold(rows), expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("family", "params"),
    [("als", {"num_threads": 2}), ("bpr", {}), ("svd", {}), ("ease", {}), ("itemknn", {})],
)
def test_fits_are_deterministic_for_a_seed(family, params, matrices):
    rows = matrices.confidence[:100]
    first = make_model(family, params).fit(matrices.confidence).recommend(rows, 10)
    second = make_model(family, params).fit(matrices.confidence).recommend(rows, 10)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_svd_via_arpack_is_deterministic_and_agrees_with_lapack(matrices, monkeypatch):
    from recommender.ml import factorization

    rows = matrices.confidence[:100]
    dense = make_model("svd", {"rank": 16}).fit(matrices.confidence).recommend(rows, 10)[0]
    monkeypatch.setattr(factorization, "DENSE_SVD_ENTRIES", 0)
    first = make_model("svd", {"rank": 16}).fit(matrices.confidence).recommend(rows, 10)[0]
    second = make_model("svd", {"rank": 16}).fit(matrices.confidence).recommend(rows, 10)[0]
    np.testing.assert_array_equal(first, second)
    assert (first[:, :5] == dense[:, :5]).mean() >= 0.9


def test_selection_is_deterministic(shop):
    _, arrays, ids, texts = shop
    runs = [
        select_model(arrays, families=("ease", "als"), grids=SMALL_GRIDS, time_budget=60)
        for _ in range(2)
    ]
    assert runs[0].winner == runs[1].winner
    assert runs[0].winner_params == runs[1].winner_params

    def scores(result) -> dict:
        return {
            f: {k: v for k, v in m.items() if k != "fit_seconds"} for f, m in result.test.items()
        }

    assert scores(runs[0]) == scores(runs[1])


def test_feedback_matrix_weights_dislikes_and_seen():
    day = SECONDS_PER_DAY
    rows = [
        (1, 10, "view", None, 0.0),
        (1, 10, "view", None, 0.0),
        (1, 10, "purchase", 20.0, 0.0),  # duplicates summed: 1 + 1 + 8
        (1, 11, "rating", 2.0, 0.0),  # disliked: seen, never liked
        (2, 11, "rating", 1.0, 0.0),
        (2, 11, "rating", 5.0, day),  # revised to 5: liked after all
        (2, 12, "purchase", 9.0, 0.0),
        (2, 12, "rating", 2.0, day),  # bought, then disliked: removed from confidence
        (3, None, "view", None, 0.0),  # no product: ignored
        (3, 10, "click", None, 0.0),
    ]
    arrays = InteractionArrays.from_rows(rows)
    m = build_matrices(arrays, half_life_days=None)

    def at(matrix: sp.csr_matrix, customer: int, product: int) -> float:
        row, col = m.customers.index_of(customer)[0], m.products.index_of(product)[0]
        return float(matrix[row, col])

    assert at(m.confidence, 1, 10) == 10.0 and at(m.confidence, 1, 11) == 0.0
    assert at(m.confidence, 2, 11) == 5.0 and at(m.confidence, 2, 12) == 0.0
    assert at(m.confidence, 3, 10) == 2.0
    assert at(m.disliked, 1, 11) == 1.0 and at(m.disliked, 2, 12) == 1.0
    assert m.disliked.nnz == 2
    assert [at(m.seen, 2, p) for p in (10, 11, 12)] == [0.0, 1.0, 1.0]
    # Time decay: a one-day-old view is worth half with a one-day half-life
    decayed = build_matrices(
        InteractionArrays.from_rows([(1, 10, "view", None, 0.0), (1, 11, "view", None, day)]),
        half_life_days=1.0,
    )
    np.testing.assert_allclose(decayed.confidence.toarray(), [[0.5, 1.0]])


def test_id_index_maps_both_ways():
    index = IdIndex.from_ids([30, 10, 20, 10])
    assert index.ids.tolist() == [10, 20, 30]
    assert index.index_of([20, 99, 10]).tolist() == [1, -1, 0]
    assert index.ids_of(np.array([2, -1])).tolist() == [30, -1]
    assert IdIndex.from_ids([]).index_of([5]).tolist() == [-1]


def test_vectorised_evaluation_matches_the_reference_metrics():
    rng = np.random.default_rng(1)
    n_users, n_items = 30, 40
    truth = sp.random(n_users, n_items, density=0.1, format="csr", random_state=rng)
    history = sp.random(n_users, n_items, density=0.1, format="csr", random_state=rng)
    model = PopularityModel(by="users").fit(history)
    fast = evaluate_model(model, history, truth, exclude=history, k=10)
    recommended, relevant = {}, {}
    items, _ = model.recommend(history, 10, exclude=history)
    for user in range(n_users):
        found = set(truth[user].indices) - set(history[user].indices)
        if found:
            relevant[user] = found
            recommended[user] = [int(i) for i in items[user] if i >= 0]
    reference = ranking_metrics(recommended, relevant, k=10, n_items=n_items)
    assert fast.keys() == reference.keys()
    for key in fast:
        assert fast[key] == pytest.approx(reference[key]), key


def test_top_k_pads_when_fewer_items_are_allowed():
    scores = np.array([[0.1, -np.inf, 0.3, -np.inf]])
    items, values = top_k(scores, 4)
    assert items.tolist() == [[2, 0, -1, -1]]
    assert np.isneginf(values[0, 2:]).all()
    items, values = top_k(scores, 6)  # k beyond the catalogue
    assert items.shape == (1, 6) and items[0, 2:].tolist() == [-1] * 4


def test_popularity_adapter_keeps_the_old_api(shop, matrices):
    arrays = shop[1]
    old = PopularityRecommender().fit(arrays)
    ids, _ = old.recommend(5, exclude={int(old.product_ids_[0])})
    assert len(ids) == 5 and ids[0] == old.product_ids_[1]
    adapted = PopularityModel.from_recommender(old, matrices.products)
    items, _ = adapted.recommend(sp.csr_matrix((1, matrices.shape[1])), 5)
    assert matrices.products.ids_of(items[0]).tolist() == old.product_ids_[:5].tolist()


def test_content_needs_one_text_per_item(matrices):
    with pytest.raises(ValueError, match="one text per item"):
        ContentRecommender().fit(matrices.confidence, item_texts=["too few"])
