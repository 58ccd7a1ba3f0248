"""The hybrid serving bundle: tiers by history, cold products through content, persistence."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.ml.hybrid import HybridRecommender
from tests.recommender.planted import COLD


def _hybrid(fitted, matrices, shop, family: str = "ease") -> HybridRecommender:
    return HybridRecommender.build(fitted[family], matrices.confidence, shop[3])


def _row(matrices, items: list[int], weight: float = 4.0) -> sp.csr_matrix:
    cols = matrices.products.index_of(items)
    data = np.full(len(cols), weight, dtype=np.float32)
    return sp.csr_matrix((data, (np.zeros(len(cols)), cols)), shape=(1, matrices.shape[1]))


def test_the_tier_follows_the_history_a_customer_has_now(fitted, matrices, shop):
    # given the bundle of an EASE model, and customers with none, one and many products
    hybrid = _hybrid(fitted, matrices, shop)
    rows = sp.vstack([
        sp.csr_matrix((1, matrices.shape[1]), dtype=np.float32),
        _row(matrices, [3]),
        _row(matrices, [3, 4, 5, 6, 7]),
    ]).tocsr()  # fmt: skip

    # when all three are served at once
    items, scores, sources = hybrid.recommend(rows, 10)

    # then each gets ten products, from its own tier
    assert (items >= 0).all() and np.isfinite(scores).all()
    assert set(sources[0]) == {"popularity"}
    assert set(sources[1]) == {"content+popularity"}
    assert set(sources[2]) <= {"ease", "content"} and "ease" in sources[2]
    # and the customer with no history gets exactly the popularity ranking
    alone, _ = fitted["popularity"].recommend(rows[0], 10)
    assert (items[0] == alone[0]).all()


def test_a_thin_customer_is_shown_products_like_the_one_they_liked(fitted, matrices, shop):
    # given a customer whose only interaction is with product 3
    hybrid = _hybrid(fitted, matrices, shop)
    category = shop[0].product_category
    row = _row(matrices, [3])

    # when served, then the list leans to product 3's category far more than popularity does
    items, _, _ = hybrid.recommend(row, 10, exclude=row)
    popular, _ = fitted["popularity"].recommend(row, 10, exclude=row)

    def same_category(picks: np.ndarray) -> int:
        ids = matrices.products.ids_of(picks[0])
        return int((category[np.minimum(ids, len(category) - 1)][ids != COLD] == category[3]).sum())

    assert same_category(items) >= same_category(popular) + 3


def test_a_cold_product_reaches_the_customers_of_its_content_twin(fitted, matrices, shop):
    # given EASE, which cannot score a product nobody has touched, in the bundle
    hybrid = _hybrid(fitted, matrices, shop)
    cold, twin = matrices.products.index_of([COLD, 0])
    assert cold in hybrid.cold_items

    # when the customers who get the twin are served by the bundle
    rows = matrices.confidence[:300]
    twin_items, _ = fitted["ease"].recommend(rows, 10, matrices.exclusions()[:300])
    assert not (twin_items == cold).any(), "EASE alone never shows the cold product"
    gets_twin = np.flatnonzero((twin_items == twin).any(axis=1))
    assert len(gets_twin) > 0
    items, _, sources = hybrid.recommend(
        rows[gets_twin], 11, matrices.exclusions()[:300][gets_twin]
    )

    # then the cold product is in their lists too, labelled as placed by content
    reached = [i for i, row in enumerate(items) if cold in row]
    assert len(reached) >= 0.8 * len(gets_twin)
    for i in reached:
        assert sources[i][items[i].tolist().index(cold)] == "content"


def test_similar_products_of_a_cold_product_come_from_content(fitted, matrices, shop):
    hybrid = _hybrid(fitted, matrices, shop, family="als")
    cold, twin = matrices.products.index_of([COLD, 0])
    items, scores, sources = hybrid.similar_items(np.array([cold, twin]), 5)
    assert items[0, 0] == twin and set(sources[0]) == {"content"}
    assert cold not in items[1] and set(sources[1]) == {"als"}
    assert (np.diff(scores, axis=1) <= 0).all()


def test_the_bundle_saves_and_loads_to_the_same_answers(fitted, matrices, shop, tmp_path):
    for family in ("ease", "content"):
        hybrid = _hybrid(fitted, matrices, shop, family=family)
        directory = tmp_path / family
        directory.mkdir()
        hybrid.save(directory)
        loaded = HybridRecommender.load(directory)
        rows, exclude = matrices.confidence[:60], matrices.exclusions()[:60]
        before, after = hybrid.recommend(rows, 10, exclude), loaded.recommend(rows, 10, exclude)
        assert (before[0] == after[0]).all() and np.allclose(before[1], after[1])
        assert before[2] == after[2]
        assert (loaded.cold_items == hybrid.cold_items).all()


def test_without_product_text_thin_customers_get_the_selected_model(fitted, matrices):
    hybrid = HybridRecommender.build(fitted["itemknn"], matrices.confidence, None)
    assert hybrid.content is None and len(hybrid.cold_items) == 0
    _, _, sources = hybrid.recommend(_row(matrices, [3]), 5)
    assert set(sources[0]) == {"itemknn"}
