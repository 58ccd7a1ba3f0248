"""The recommendation routes as an engineer calls them: answers, filters, fallbacks, 4xx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customers.models import Customer, Interaction, Product
from tenants.context import tenant_scope
from training import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(trained_shop, client_for):
    return client_for(trained_shop, scopes=("read", "write"))


def _buyer(tenant) -> str:
    with tenant_scope(tenant):
        return (
            Customer.objects.filter(interactions__kind="purchase")
            .order_by("external_id")
            .values_list("external_id", flat=True)
            .first()
        )


def _recommend(api, customer: str, query: str = "") -> list[dict]:
    response = api.get(f"/api/v1/customers/{customer}/recommendations/?{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _events(api, rows: list[dict]) -> None:
    now = datetime.now(UTC).isoformat()
    body = [{"occurred_at": now, **row} for row in rows]
    response = api.post("/api/v1/interactions/bulk/", body, format="json")
    assert response.status_code == 200 and response.json()["rejected"] == [], response.content


def test_a_customers_recommendations_are_ranked_products_with_their_source(api, trained_shop):
    results = _recommend(api, _buyer(trained_shop), "limit=7")
    assert len(results) == 7
    assert set(results[0]) == {"product", "title", "score", "source"}
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert results[0]["source"] not in ("popularity", "content+popularity")
    with tenant_scope(trained_shop):
        titles = dict(Product.objects.values_list("external_id", "title"))
    assert all(titles[r["product"]] == r["title"] for r in results)


def test_exclude_takes_repeated_and_comma_separated_ids(api, trained_shop):
    customer = _buyer(trained_shop)
    first = [r["product"] for r in _recommend(api, customer)]
    repeated = _recommend(api, customer, f"exclude={first[0]}&exclude={first[1]}")
    commas = _recommend(api, customer, f"exclude={first[0]},{first[1]}")
    assert repeated == commas
    assert not {first[0], first[1]} & {r["product"] for r in repeated}


def test_bought_products_come_back_only_when_asked(api, trained_shop):
    customer = _buyer(trained_shop)
    with tenant_scope(trained_shop):
        bought = set(
            Interaction.objects.filter(customer__external_id=customer, kind="purchase")
            .values_list("product__external_id", flat=True)
        )  # fmt: skip
    default = {r["product"] for r in _recommend(api, customer, "limit=100")}
    everything = {r["product"] for r in _recommend(api, customer, "limit=100&exclude_seen=false")}
    assert not default & bought
    assert everything & bought


def test_a_product_rated_badly_after_training_never_comes_back(api, trained_shop):
    # given a customer's top product, which they then rate 1 star
    customer = _buyer(trained_shop)
    top = _recommend(api, customer, "exclude_seen=false")[0]["product"]
    _events(api, [{"event_id": "bad-1", "customer": customer, "product": top, "kind": "rating",
                   "value": 1}])  # fmt: skip

    # then it is gone, even when seen products are asked for
    for query in ("limit=100", "limit=100&exclude_seen=false"):
        assert top not in {r["product"] for r in _recommend(api, customer, query)}


def test_an_unknown_customer_gets_popular_products_not_an_error(api):
    results = _recommend(api, "nobody-ever", "limit=5")
    popular = api.get("/api/v1/recommendations/popular/?limit=5").json()["results"]
    assert results == popular and {r["source"] for r in results} == {"popularity"}


def test_a_new_customer_with_one_interaction_gets_content_and_popularity(api, trained_shop):
    # given a product, and a customer created after training who viewed it once
    with tenant_scope(trained_shop):
        product = Product.objects.filter(is_active=True).order_by("external_id").first()
        same_category = set(
            Product.objects.filter(category=product.category).values_list("external_id", flat=True)
        )
    _events(api, [{"event_id": "new-1", "customer": "brand-new", "product": product.external_id,
                   "kind": "purchase", "value": 20}])  # fmt: skip

    # when served, then they get a full list led by products like it, from the thin tier
    results = _recommend(api, "brand-new")
    assert len(results) == 10 and {r["source"] for r in results} == {"content+popularity"}
    assert product.external_id not in {r["product"] for r in results}
    assert sum(r["product"] in same_category for r in results[:5]) >= 3


def test_the_limit_is_bounded_with_a_clear_400(api, trained_shop):
    customer = _buyer(trained_shop)
    for query in ("limit=101", "limit=0", "limit=ten", "exclude_seen=maybe"):
        response = api.get(f"/api/v1/customers/{customer}/recommendations/?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.json()["errors"], response.json()


def test_similar_products_leave_out_the_product_and_inactive_ones(api, trained_shop):
    with tenant_scope(trained_shop):
        product = Product.objects.filter(is_active=True).order_by("external_id").first()
        inactive = set(
            Product.objects.filter(is_active=False).values_list("external_id", flat=True)
        )
    response = api.get(f"/api/v1/products/{product.external_id}/similar/?limit=20")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 20
    shown = {r["product"] for r in results}
    assert product.external_id not in shown and not shown & inactive


def test_a_product_newer_than_the_model_gets_its_categorys_popular_products(api, trained_shop):
    # given a product created after training, in an existing category
    with tenant_scope(trained_shop):
        category = Product.objects.order_by("external_id").first().category
    created = api.post(
        "/api/v1/products/", {"external_id": "fresh", "title": "Fresh", "category": category},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content

    # then its similar products are the popular ones of that category
    results = api.get("/api/v1/products/fresh/similar/?limit=5").json()["results"]
    assert results and {r["source"] for r in results} == {"popularity"}
    with tenant_scope(trained_shop):
        categories = set(
            Product.objects.filter(external_id__in=[r["product"] for r in results]).values_list(
                "category", flat=True
            )
        )
    assert categories == {category}


def test_an_unknown_product_is_404(api):
    response = api.get("/api/v1/products/no-such-product/similar/")
    assert response.status_code == 404 and "no-such-product" in response.json()["detail"]


def test_another_tenants_customer_id_gets_the_callers_own_popular_products(
    api, trained_shop, tenant_b, client_for
):
    # given tenant B with a few products of its own, bought, and its popularity trained
    as_b = client_for(tenant_b, scopes=("read", "write"))
    _events(as_b, [
        {"event_id": f"b{i}", "customer": f"b-buyer-{i % 3}", "product": f"b-prod-{i % 7}",
         "kind": "purchase", "value": 10}
        for i in range(30)
    ])  # fmt: skip
    services.training_run_train_now(tenant=tenant_b, kind="popularity")

    # when B asks for the recommendations of one of the shop's customers
    results = _recommend(as_b, _buyer(trained_shop))

    # then B gets its own popular products, as for any customer it has never sent
    assert results and all(r["product"].startswith("b-prod-") for r in results)
    assert results == _recommend(as_b, "nobody-ever")
