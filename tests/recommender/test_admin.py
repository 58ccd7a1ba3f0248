"""The recommender in the admin: recommendations on a customer's page, similar products on a
product's, and every candidate of a model version against popularity.

Each test signs in as a member of the tenant with the Django test client and reads the page.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from customers.models import Customer, Interaction, Product
from recommender.serving import Recommendation, recommendations_for_customer, similar_products
from tenants.context import tenant_scope
from tests.factories import CustomerFactory, ProductFactory, TenantFactory, member_of
from training.models import ModelVersion

pytestmark = pytest.mark.django_db

ROW = re.compile(
    r'<tr><td><a href="/admin/customers/product/(\d+)/change/">(.*?)</a></td>'
    r"<td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>"
)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def table_rows(html: str) -> list[tuple[str, str, str, str]]:
    """(product, title, score, source) of each row of the recommendations table."""
    table = re.search(r'<table class="recommendations">.*?</table>', html, re.S)
    assert table, "the page has no recommendations table"
    return [tuple(unescape(cell) for cell in row[1:]) for row in ROW.findall(table.group(0))]


def expected_rows(picks: list[Recommendation]) -> list[tuple[str, str, str, str]]:
    return [(p.product, p.title, f"{p.score:.3f}", p.source) for p in picks]


def _buyer(tenant) -> Customer:
    with tenant_scope(tenant):
        return (
            Customer.objects.filter(interactions__kind="purchase").order_by("external_id").first()
        )


def test_a_customers_page_lists_their_recommendations_with_sources(trained_shop):
    # Given a buyer of the trained shop, and one product whose title carries markup
    customer = _buyer(trained_shop)
    picks = recommendations_for_customer(tenant=trained_shop, external_id=customer.external_id)
    with tenant_scope(trained_shop):
        Product.objects.filter(external_id=picks[0].product).update(title="<b>Boots</b> & co")
    picks = recommendations_for_customer(tenant=trained_shop, external_id=customer.external_id)
    # When a viewer of the shop opens the customer's page
    page = signed_in(member_of(trained_shop, "viewer")).get(
        f"/admin/customers/customer/{customer.pk}/change/"
    )
    # Then the top 10 are listed as served, each linking to its product's page, escaped
    assert page.status_code == 200
    html = page.content.decode()
    assert "Recommendations" in html
    assert len(picks) == 10 and table_rows(html) == expected_rows(picks)
    assert {p.source for p in picks} - {"popularity"}, "the model, not only the floor"
    with tenant_scope(trained_shop):
        first_pk = Product.objects.get(external_id=picks[0].product).pk
    assert f'href="/admin/customers/product/{first_pk}/change/"' in html
    assert "&lt;b&gt;Boots&lt;/b&gt; &amp; co" in html and "<b>Boots</b>" not in html
    assert re.search(
        r'From <a href="/admin/training/modelversion/\d+/change/">recommender v1', html
    )


def test_a_products_page_lists_its_similar_products(trained_shop):
    # Given the shop's most interacted-with product
    with tenant_scope(trained_shop):
        product_id = (
            Interaction.objects.values_list("product", flat=True).order_by("product").first()
        )
        product = Product.objects.get(pk=product_id)
    picks = similar_products(tenant=trained_shop, external_id=product.external_id)
    # When an analyst opens its page
    page = signed_in(member_of(trained_shop, "analyst")).get(
        f"/admin/customers/product/{product.pk}/change/"
    )
    # Then its similar products are listed as served, and never the product itself
    assert page.status_code == 200
    html = page.content.decode()
    assert "Similar products" in html
    rows = table_rows(html)
    assert picks and rows == expected_rows(picks)
    assert product.external_id not in {row[0] for row in rows}


def test_a_model_versions_page_compares_every_candidate_with_popularity(trained_shop):
    # Given the shop's recommender and popularity versions
    with tenant_scope(trained_shop):
        recommender = ModelVersion.objects.get(kind="recommender")
        popularity = ModelVersion.objects.get(kind="popularity")
    client = signed_in(member_of(trained_shop, "viewer"))
    # When a viewer opens the recommender version
    html = client.get(f"/admin/training/modelversion/{recommender.pk}/change/").content.decode()
    # Then every candidate has a row, popularity at 1.00×, and the winner is bold
    table = re.search(r'<table class="model-candidates">.*?</table>', html, re.S).group(0)
    assert set(recommender.candidates) >= {"popularity", "als", "itemknn"}
    for family in recommender.candidates:
        assert f"<th>{family}</th>" in table or f"<strong>{family} (winner)</strong>" in table
    header = re.findall(r"<th>(.*?)</th>", table.split("</thead>")[0])
    assert header[:5] == ["candidate", "ndcg@10", "precision@10", "recall@10", "map@10"]
    assert header[5].startswith("coverage") and header[-1] == "vs popularity"
    popularity_row = re.search(r"<tr><th>(?:<strong>)?popularity.*?</tr>", table).group(0)
    assert popularity_row.endswith("<td>1.00×</td></tr>")
    winner = recommender.metrics["model"]
    assert f"<strong>{winner} (winner)</strong>" in table
    ratio = recommender.metrics["ndcg@10"] / recommender.candidates["popularity"]["ndcg@10"]
    assert f"<td>{ratio:.2f}×</td>" in table
    assert "won on validation ndcg@10" in html and "Serving:" in html
    # And the popularity kind's own version compares popularity with random
    html = client.get(f"/admin/training/modelversion/{popularity.pk}/change/").content.decode()
    assert "<strong>popularity (winner)</strong>" in html and "<th>random</th>" in html
    # And the list shows each version's lift over its baseline
    listing = client.get("/admin/training/modelversion/").content.decode()
    lift = recommender.primary_value / recommender.baseline_metrics["ndcg@10"]
    assert f'<td class="field-lift">{lift:.2f}×</td>' in listing


def test_a_tenant_without_a_model_is_told_so_rather_than_shown_an_error(db):
    # Given a tenant with a customer and a product but no trained model
    tenant = TenantFactory(slug="new-shop")
    customer = CustomerFactory(tenant=tenant)
    product = ProductFactory(tenant=tenant)
    client = signed_in(member_of(tenant, "owner"))
    # When its owner opens the customer's and the product's pages
    for url in (
        f"/admin/customers/customer/{customer.pk}/change/",
        f"/admin/customers/product/{product.pk}/change/",
    ):
        page = client.get(url)
        # Then each says in one line that no recommender is trained, and where to train one
        assert page.status_code == 200
        html = page.content.decode()
        assert "No recommender trained yet" in html
        assert 'href="/admin/training/trainingrun/"' in html
        assert '<table class="recommendations">' not in html


def test_a_member_of_another_tenant_cannot_open_the_shops_customer(trained_shop):
    # Given the shop's buyer, and an owner of another tenant
    customer = _buyer(trained_shop)
    client = signed_in(member_of(TenantFactory(slug="rival"), "owner"))
    # When they open the customer's page by its id
    page = client.get(f"/admin/customers/customer/{customer.pk}/change/", follow=True)
    # Then the admin sends them home saying there is no such row, and shows nothing of it
    assert page.redirect_chain == [("/admin/", 302)]
    html = page.content.decode()
    assert "doesn’t exist" in html
    assert customer.external_id not in html and "recommendations" not in html
