"""Served recommendations: the model's own ranking, the filters, and the fallbacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from django.db.models import Count

from customers.models import Customer, Interaction, Product
from customers.synthetic import SyntheticConfig, SyntheticDataset
from recommender.ml.hybrid import HybridRecommender
from recommender.ml.matrix import IdIndex, build_matrices, load_indices
from recommender.selectors import interaction_arrays
from recommender.serving import recommendations_for_customer
from tenants.context import tenant_scope
from training import services
from training.models import ModelVersion
from training.selectors import active_model_load

pytestmark = pytest.mark.django_db


def _buyer(tenant) -> Customer:
    with tenant_scope(tenant):
        return (
            Customer.objects.filter(interactions__kind="purchase").order_by("external_id").first()
        )


def _product_ids(tenant, **filters) -> set[str]:
    with tenant_scope(tenant):
        return set(Product.objects.filter(**filters).values_list("external_id", flat=True))


def test_a_known_customer_gets_the_model_ranking_without_what_they_bought(trained_shop):
    customer = _buyer(trained_shop)
    results = recommendations_for_customer(tenant=trained_shop, external_id=customer.external_id)
    assert len(results) == 10
    assert results[0].source != "popularity"
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    with tenant_scope(trained_shop):
        bought = set(
            Interaction.objects.filter(
                customer=customer, kind__in=["purchase", "rating"]
            ).values_list("product__external_id", flat=True)
        )
    assert not bought & {r.product for r in results}
    again = recommendations_for_customer(
        tenant=trained_shop, external_id=customer.external_id, exclude_seen=False
    )
    assert len(again) == 10


def test_inactive_excluded_and_other_category_products_never_appear(trained_shop):
    customer = _buyer(trained_shop)
    first = recommendations_for_customer(tenant=trained_shop, external_id=customer.external_id)
    with tenant_scope(trained_shop):
        Product.objects.filter(external_id=first[0].product).update(is_active=False)
    results = recommendations_for_customer(
        tenant=trained_shop, external_id=customer.external_id, exclude=[first[1].product]
    )
    shown = {r.product for r in results}
    assert first[0].product not in shown and first[1].product not in shown
    with tenant_scope(trained_shop):
        category = Product.objects.get(external_id=first[2].product).category
    in_category = recommendations_for_customer(
        tenant=trained_shop, external_id=customer.external_id, category=category
    )
    assert in_category and {r.product for r in in_category} <= _product_ids(
        trained_shop, category=category
    )


def test_an_unknown_customer_gets_popular_products(trained_shop):
    results = recommendations_for_customer(tenant=trained_shop, external_id="never-seen", limit=5)
    assert len(results) == 5 and {r.source for r in results} == {"popularity"}


def test_a_tenant_with_no_model_gets_an_empty_list(tenant_a, artifact_root):
    assert recommendations_for_customer(tenant=tenant_a, external_id="x") == []


def test_popular_over_the_api_is_bounded_and_filtered(trained_shop, client_for):
    api = client_for(trained_shop, scopes=("read",))
    body = api.get("/api/v1/recommendations/popular/?limit=5").json()
    assert len(body["results"]) == 5 and body["results"][0]["source"] == "popularity"
    category = body["results"][0]["product"]
    with tenant_scope(trained_shop):
        category = Product.objects.get(external_id=category).category
    in_category = api.get(f"/api/v1/recommendations/popular/?category={category}").json()
    assert {r["product"] for r in in_category["results"]} <= _product_ids(
        trained_shop, category=category
    )
    too_many = api.get("/api/v1/recommendations/popular/?limit=101")
    assert too_many.status_code == 400 and "limit" in too_many.json()["errors"]


# --- the served list is the active model's own answer ---------------------------------------


def _expected(tenant, version, external_id: str, limit: int = 10) -> list[tuple[str, float]]:
    """What the version's artifact says for the customer, computed from scratch: its
    bundle loaded afresh, the customer's row rebuilt from all their interactions."""
    directory = Path(version.artifact_path)
    customers, products = load_indices(directory)
    bundle = HybridRecommender.load(directory)
    settings = json.loads((directory / "matrix_settings.json").read_text())
    arrays, _ = interaction_arrays(tenant=tenant)
    with tenant_scope(tenant):
        customer = Customer.objects.get(external_id=external_id)
        inactive = list(Product.objects.filter(is_active=False).values_list("id", flat=True))
        titles = dict(Product.objects.values_list("id", "external_id"))
    mine = arrays.customer == customer.pk
    history = arrays.subset(mine)
    matrices = build_matrices(
        history, customers=IdIndex.from_ids([customer.pk]), products=products,
        now=time.time(), **settings,
    )  # fmt: skip
    allowed = np.ones(len(products), dtype=bool)
    allowed[products.index_of(inactive)] = False
    items, scores, _ = bundle.recommend(
        matrices.confidence, limit, matrices.exclusions(), customers.index_of([customer.pk]),
        allowed_items=allowed,
    )  # fmt: skip
    ids = products.ids_of(items[0])
    return [(titles[i], float(s)) for i, s in zip(ids, scores[0], strict=True) if i >= 0]


def _served(tenant, external_id: str) -> list[tuple[str, float]]:
    return [
        (r.product, r.score)
        for r in recommendations_for_customer(tenant=tenant, external_id=external_id)
    ]


def _same(served, expected) -> bool:
    return [p for p, _ in served] == [p for p, _ in expected] and np.allclose(
        [s for _, s in served], [s for _, s in expected], rtol=1e-4
    )


def test_the_served_list_is_the_active_versions_answer_even_after_a_new_activation(trained_shop):
    # given the active version and a few customers with a history
    first = active_model_load(tenant=trained_shop, kind="recommender")[0]
    with tenant_scope(trained_shop):
        buyers = list(
            Customer.objects.filter(interactions__kind="purchase")
            .distinct().order_by("external_id").values_list("external_id", flat=True)[:5]
        )  # fmt: skip
    for external_id in buyers:  # the cache is warm after the first request
        assert _same(
            _served(trained_shop, external_id), _expected(trained_shop, first, external_id)
        )

    # when a different model is trained and activated by hand
    run = services.training_run_train_now(
        tenant=trained_shop,
        kind="recommender",
        parameters={"time_budget": 10, "families": ["itemknn"]},
    )
    with tenant_scope(trained_shop):
        second = ModelVersion.objects.get(training_run_id=run.pk)
    services.model_version_activate(tenant=trained_shop, version=second)

    # then every customer is served from the new version at once, not the cached old one
    changed = 0
    for external_id in buyers:
        served = _served(trained_shop, external_id)
        assert _same(served, _expected(trained_shop, second, external_id))
        changed += not _same(served, _expected(trained_shop, first, external_id))
    assert changed, "the two versions agree on every customer: the test would prove nothing"


def test_served_recommendations_recover_the_planted_tastes(trained_shop):
    # given the generator's ground truth for the demo data: each customer's favourites
    dataset = SyntheticDataset(SyntheticConfig(n_customers=300, n_products=80, n_days=90, seed=5))
    names = dataset.category_names
    position = {external_id: i for i, external_id in enumerate(dataset.customer_ids)}
    with tenant_scope(trained_shop):
        category = dict(Product.objects.values_list("external_id", "category"))
        regulars = list(
            Customer.objects.annotate(n=Count("interactions")).filter(n__gte=30)
            .order_by("external_id").values_list("external_id", flat=True)[:40]
        )  # fmt: skip
    assert len(regulars) >= 20

    def favourite_share(external_id: str | None, served_for: str) -> float:
        tastes = dataset.customer_tastes[position[served_for]]
        favourites = {names[i] for i in np.flatnonzero(tastes >= 0.25)}
        results = recommendations_for_customer(tenant=trained_shop, external_id=external_id)
        return np.mean([category[r.product] in favourites for r in results])

    # when each is served, then the lists fall mostly in their favourite categories,
    # far more than the popular list (what knowing nothing of them gives) does
    served = np.mean([favourite_share(c, c) for c in regulars])
    popular = np.mean([favourite_share(None, c) for c in regulars])
    assert served >= 0.5
    assert served >= 2 * popular
