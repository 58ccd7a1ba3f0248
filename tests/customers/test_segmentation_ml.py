"""Customer segmentation (customers.ml.segmentation): pure numpy, no database.

Data: customers drawn from planted behaviour groups (loyal high spenders, one-time buyers,
lapsed, new browsers), in the feature names customers.ml.features produces.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from customers.ml import segmentation
from customers.ml.features import FEATURE_NAMES
from customers.ml.segmentation import Anchors, Segmenter, segment_name

CATEGORIES = ("shoes", "books", "toys", "garden")
NAMES = [*FEATURE_NAMES, *(f"share:{c}" for c in CATEGORIES)]
LOYAL, ONE_TIME, LAPSED, BROWSERS = range(4)
MIN_ARI = 0.8  # planted groups are well apart; k-means on them should be near perfect


def planted(groups: np.ndarray, seed: int = 0) -> np.ndarray:
    """One row per customer of its group's behaviour, with noise."""
    rng = np.random.default_rng(seed)
    X = np.zeros((len(groups), len(NAMES)))
    col = {name: j for j, name in enumerate(NAMES)}
    for group in range(4):
        rows = np.flatnonzero(groups == group)
        n = len(rows)
        if group == LOYAL:
            freq = rng.poisson(20, n) + 5.0
            aov = rng.lognormal(np.log(80), 0.3, n)
            recency = rng.exponential(10, n)
            tenure = rng.uniform(400, 1500, n)
            engagement = (30, 10, 3)
        elif group == ONE_TIME:
            freq = np.ones(n)
            aov = rng.lognormal(np.log(40), 0.4, n)
            recency = rng.uniform(60, 300, n)
            tenure = recency + rng.uniform(0, 60, n)
            engagement = (3, 1, 0.2)
        elif group == LAPSED:
            freq = rng.poisson(4, n) + 2.0
            aov = rng.lognormal(np.log(50), 0.4, n)
            recency = rng.uniform(300, 700, n)
            tenure = recency + rng.uniform(200, 900, n)
            engagement = (0.3, 0.1, 0.0)
        else:  # new browsers: never bought, first seen recently, looking a lot
            freq = np.zeros(n)
            aov = np.zeros(n)
            recency = rng.uniform(0, 20, n)
            tenure = recency.copy()
            engagement = (25, 8, 1)
        X[rows, col["frequency"]] = freq
        X[rows, col["avg_order_value"]] = aov
        X[rows, col["monetary"]] = freq * aov
        X[rows, col["recency_days"]] = recency
        X[rows, col["tenure_days"]] = tenure
        span = np.maximum(tenure - recency, 0)
        X[rows, col["interpurchase_days"]] = np.where(freq >= 2, span / np.maximum(freq - 1, 1), 0)
        for name, rate in zip(("views_30d", "clicks_30d", "carts_30d"), engagement, strict=True):
            X[rows, col[name]] = rng.poisson(rate, n)
        # Category shares: a random taste, scaled by how much of the activity has a product.
        taste = rng.dirichlet(np.ones(len(CATEGORIES)), n) * rng.uniform(0.7, 1.0, (n, 1))
        X[rows, col["share:shoes"] : col["share:shoes"] + len(CATEGORIES)] = taste
    return X


@pytest.fixture(scope="module")
def population():
    groups = np.repeat(np.arange(4), 750)  # 3,000 customers
    return planted(groups), groups


@pytest.fixture(scope="module")
def fitted(population):
    X, _ = population
    return Segmenter().fit(X, NAMES)


def majority_segment(labels: np.ndarray, groups: np.ndarray, group: int) -> int:
    return int(np.bincount(labels[groups == group]).argmax())


def test_planted_groups_are_recovered_and_named(fitted, population):
    # Given 3,000 customers from 4 planted behaviour groups
    X, groups = population
    # When segmenting them (fixture)
    # Then k=4 is chosen by silhouette and the groups are recovered
    assert fitted.k_ == 4
    assert max(fitted.silhouette_, key=fitted.silhouette_.get) == 4
    assert adjusted_rand_score(groups, fitted.labels_) >= MIN_ARI
    assert np.array_equal(fitted.predict(X), fitted.labels_)
    # And the loyal and one-time groups get the names that describe them
    assert fitted.names_[majority_segment(fitted.labels_, groups, LOYAL)] == "high-value loyal"
    assert fitted.names_[majority_segment(fitted.labels_, groups, ONE_TIME)] == "one-time buyers"
    assert len(set(fitted.names_.values())) == 4
    # And the profiles describe every segment
    profiles = fitted.profiles(X, NAMES)
    assert [p["id"] for p in profiles] == fitted.segment_ids_.tolist()
    assert sum(p["size"] for p in profiles) == len(X)
    assert sum(p["share"] for p in profiles) == pytest.approx(1.0)
    loyal = next(p for p in profiles if p["name"] == "high-value loyal")
    assert loyal["frequency"] > 20 and loyal["recency_days"] < 20
    assert 1 <= len(loyal["top_categories"]) <= 3
    assert set(loyal["top_categories"]) <= set(CATEGORIES)


def test_columns_in_any_order_with_unknown_extras(fitted, population):
    # Given the same customers with shuffled columns and an extra unknown feature
    X, groups = population
    rng = np.random.default_rng(1)
    extra = rng.normal(0, 1, (len(X), 1))
    order = rng.permutation(len(NAMES))
    X2 = np.hstack([X[:, order], extra])
    names2 = [NAMES[j] for j in order] + ["loyalty_points"]
    # When segmenting them
    model = Segmenter().fit(X2, names2)
    # Then the groups are still recovered
    assert adjusted_rand_score(groups, model.labels_) >= MIN_ARI
    # And predict matches columns by name
    assert np.array_equal(model.predict(X2[:, ::-1], names2[::-1]), model.labels_)
    assert np.array_equal(fitted.predict(X2, names2), fitted.labels_)


def test_retraining_keeps_segment_ids(fitted, population):
    # Given a fitted segmentation
    X, groups = population
    # When retraining on the same data with another seed, passing the previous model
    same = Segmenter(random_state=7).fit(X, NAMES, previous=fitted)
    # Then every customer keeps their segment id
    assert np.array_equal(same.labels_, fitted.labels_)
    assert same.names_ == fitted.names_
    # When 5% of the customers are replaced by fresh ones and the rows are shuffled
    rng = np.random.default_rng(2)
    X2 = X.copy()
    replaced = rng.choice(len(X), len(X) // 20, replace=False)
    X2[replaced] = planted(groups[replaced], seed=3)
    order = rng.permutation(len(X))
    retrained = Segmenter(random_state=3).fit(X2[order], NAMES, previous=fitted.anchors())
    # Then at least 95% of the customers who stayed keep their id
    kept = np.setdiff1d(np.arange(len(X)), replaced)
    labels = np.empty_like(retrained.labels_)
    labels[order] = retrained.labels_
    assert (labels[kept] == fitted.labels_[kept]).mean() >= 0.95
    assert set(retrained.segment_ids_.tolist()) == set(fitted.segment_ids_.tolist())


def test_a_new_cluster_gets_a_new_id(population):
    # Given a segmentation of a shop without new browsers
    X, groups = population
    old = groups != BROWSERS
    first = Segmenter().fit(X[old], NAMES)
    assert first.k_ == 3
    # When browsers show up and the model is retrained with the previous one
    second = Segmenter(random_state=5).fit(X, NAMES, previous=first)
    # Then the old groups keep their ids and the browsers get the next one
    assert second.k_ == 4
    assert np.array_equal(second.labels_[old], first.labels_)
    browsers = majority_segment(second.labels_, groups, BROWSERS)
    assert browsers == first.segment_ids_.max() + 1
    assert second.segment_ids_.tolist() == [0, 1, 2, 3]


def test_previous_centroids_can_come_from_anchors_with_other_features(fitted, population):
    # Given anchors saved without the category shares (e.g. kept in a database row)
    X, _ = population
    a = fitted.anchors()
    keep = [j for j, name in enumerate(a.feature_names) if not name.startswith("share:")]
    anchors = Anchors(tuple(a.feature_names[j] for j in keep), a.centroids[:, keep], a.segment_ids)
    # When retraining with them
    model = Segmenter(random_state=9).fit(X, NAMES, previous=anchors)
    # Then the ids still follow the customers
    assert adjusted_rand_score(model.labels_, fitted.labels_) == 1.0
    assert np.array_equal(model.labels_, fitted.labels_)


def test_save_and_load_round_trip(fitted, population, tmp_path):
    # Given a fitted segmentation saved to a directory
    X, _ = population
    fitted.save(tmp_path)
    # When loading it back
    loaded = Segmenter.load(tmp_path)
    # Then predictions, names and profiles are identical
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.names_ == fitted.names_
    assert loaded.profiles(X, NAMES) == fitted.profiles(X, NAMES)
    assert loaded.profiles_ == fitted.profiles_
    assert loaded.silhouette_ == fitted.silhouette_
    assert loaded.get_params() == fitted.get_params()
    # And it can anchor the next retrain
    assert np.array_equal(Segmenter().fit(X, NAMES, previous=loaded).labels_, fitted.labels_)


def test_large_input_uses_minibatch_and_a_silhouette_sample(population, monkeypatch):
    # Given an input above the mini-batch threshold, and k-means forbidden
    X, groups = population
    sampled: list[int] = []
    real_silhouette = segmentation.silhouette_score

    def recording_silhouette(Z, labels, **kwargs):
        sampled.append(len(Z))
        return real_silhouette(Z, labels, **kwargs)

    def no_kmeans(*args, **kwargs):
        raise AssertionError("plain KMeans used on a large input")

    monkeypatch.setattr(segmentation, "silhouette_score", recording_silhouette)
    monkeypatch.setattr(segmentation, "KMeans", no_kmeans)
    # When segmenting
    model = Segmenter(minibatch_above=1000, silhouette_sample=800).fit(X, NAMES)
    # Then mini-batch k-means ran, silhouettes were scored on 800-row samples only
    assert model.algorithm_ == "minibatch"
    assert sampled and set(sampled) == {800}
    assert len(model.silhouette_) == 7  # k = 2..8
    # And the planted groups are still found
    assert model.k_ == 4
    assert adjusted_rand_score(groups, model.labels_) >= MIN_ARI


@pytest.mark.parametrize("n_rows", [1, 2, 3])
def test_tiny_inputs_do_not_crash(population, n_rows):
    # Given only a handful of customers, one from each of the first groups
    X, groups = population
    rows = [np.flatnonzero(groups == g)[0] for g in range(n_rows)]
    # When segmenting them
    model = Segmenter().fit(X[rows], NAMES)
    # Then k is capped by the number of rows (silhouette needs k <= n - 1 to score)
    assert model.k_ == max(1, min(2, n_rows))
    assert len(model.predict(X)) == len(X)
    assert len(model.profiles(X[rows], NAMES)) == model.k_
    assert len(set(model.names_.values())) == model.k_


def test_identical_rows_make_one_segment(population, tmp_path):
    # Given customers that all look the same (zero-variance columns everywhere)
    X, _ = population
    same = np.repeat(X[:1], 50, axis=0)
    # When segmenting them
    model = Segmenter().fit(same, NAMES)
    # Then there is one segment holding everyone, and it still serves and persists
    assert model.k_ == 1 and model.silhouette_ == {}
    assert set(model.labels_.tolist()) == {0}
    assert model.profiles(same, NAMES)[0]["size"] == 50
    model.save(tmp_path)
    assert np.array_equal(Segmenter.load(tmp_path).predict(X), model.predict(X))


def test_names_follow_the_rules_and_stay_unique():
    # Given segment medians/ranks for typical behaviours
    ranks_loyal = {"monetary": 0.9, "frequency": 0.9, "recency_days": 0.2, "tenure_days": 0.7}
    ranks_slowing = {"monetary": 0.6, "frequency": 0.8, "recency_days": 0.7, "tenure_days": 0.7}
    # Then each gets its name
    assert segment_name(20, ranks_loyal, new=False, engaged=True) == "high-value loyal"
    assert segment_name(8, ranks_slowing, new=False, engaged=True) == "at risk"
    assert segment_name(8, {**ranks_slowing, "recency_days": 0.9}, False, False) == "lapsed"
    assert segment_name(1, ranks_slowing, new=False, engaged=False) == "one-time buyers"
    assert segment_name(0, {}, new=True, engaged=True) == "new"
    assert segment_name(0, {}, new=False, engaged=True) == "browsers"
    assert segment_name(0, {}, new=False, engaged=False) == "inactive"
    assert segment_name(np.nan, {}, new=False, engaged=False) == "regular"
    # And duplicates are told apart by their top category, then by a number
    names = segmentation._unique_names(
        {0: "at risk", 1: "at risk", 2: "regular", 3: "regular"},
        {0: "shoes", 1: "books", 2: None, 3: None},
        {0: 10, 1: 20, 2: 5, 3: 30},
    )
    assert names == {0: "at risk (shoes)", 1: "at risk (books)", 2: "regular 2", 3: "regular"}
