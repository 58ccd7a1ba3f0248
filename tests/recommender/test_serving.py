"""Served recommendations: the model's own ranking, the filters, and the fallbacks."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from customers.models import Customer, Interaction, Product
from recommender.serving import recommendations_for_customer
from tenants.context import tenant_scope
from tests.factories import TenantFactory
from training import services
from training.selectors import model_cache

pytestmark = pytest.mark.django_db
FAST_SEARCH = {"time_budget": 15, "families": ["popularity", "als", "itemknn"]}


@pytest.fixture
def shop(artifact_root):
    tenant = TenantFactory(slug="shop")
    call_command("load_demo_data", "shop", customers=300, products=80, days=90, seed=5, verbosity=0)
    model_cache.clear()
    services.training_run_train_now(tenant=tenant, kind="popularity")
    services.training_run_train_now(tenant=tenant, kind="recommender", parameters=FAST_SEARCH)
    return tenant


def _buyer(tenant) -> Customer:
    with tenant_scope(tenant):
        return (
            Customer.objects.filter(interactions__kind="purchase").order_by("external_id").first()
        )


def _product_ids(tenant, **filters) -> set[str]:
    with tenant_scope(tenant):
        return set(Product.objects.filter(**filters).values_list("external_id", flat=True))


def test_a_known_customer_gets_the_model_ranking_without_what_they_bought(shop):
    customer = _buyer(shop)
    results = recommendations_for_customer(tenant=shop, external_id=customer.external_id)
    assert len(results) == 10
    assert results[0].source != "popularity"
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    with tenant_scope(shop):
        bought = set(
            Interaction.objects.filter(
                customer=customer, kind__in=["purchase", "rating"]
            ).values_list("product__external_id", flat=True)
        )
    assert not bought & {r.product for r in results}
    again = recommendations_for_customer(
        tenant=shop, external_id=customer.external_id, exclude_seen=False
    )
    assert len(again) == 10


def test_inactive_excluded_and_other_category_products_never_appear(shop):
    customer = _buyer(shop)
    first = recommendations_for_customer(tenant=shop, external_id=customer.external_id)
    with tenant_scope(shop):
        Product.objects.filter(external_id=first[0].product).update(is_active=False)
    results = recommendations_for_customer(
        tenant=shop, external_id=customer.external_id, exclude=[first[1].product]
    )
    shown = {r.product for r in results}
    assert first[0].product not in shown and first[1].product not in shown
    with tenant_scope(shop):
        category = Product.objects.get(external_id=first[2].product).category
    in_category = recommendations_for_customer(
        tenant=shop, external_id=customer.external_id, category=category
    )
    assert in_category and {r.product for r in in_category} <= _product_ids(shop, category=category)


def test_an_unknown_customer_gets_popular_products(shop):
    results = recommendations_for_customer(tenant=shop, external_id="never-seen", limit=5)
    assert len(results) == 5 and {r.source for r in results} == {"popularity"}


def test_a_tenant_with_no_model_gets_an_empty_list(tenant_a, artifact_root):
    assert recommendations_for_customer(tenant=tenant_a, external_id="x") == []


def test_popular_over_the_api_is_bounded_and_filtered(shop, client_for):
    api = client_for(shop, scopes=("read",))
    body = api.get("/api/v1/recommendations/popular/?limit=5").json()
    assert len(body["results"]) == 5 and body["results"][0]["source"] == "popularity"
    category = body["results"][0]["product"]
    with tenant_scope(shop):
        category = Product.objects.get(external_id=category).category
    in_category = api.get(f"/api/v1/recommendations/popular/?category={category}").json()
    assert {r["product"] for r in in_category["results"]} <= _product_ids(shop, category=category)
    too_many = api.get("/api/v1/recommendations/popular/?limit=101")
    assert too_many.status_code == 400 and "limit" in too_many.json()["errors"]
