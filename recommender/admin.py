"""The recommender in the admin: a customer's recommendations and a product's similar products.

The customer and product admins belong to customers/admin.py; this module re-registers
subclasses of them with one more read-only field each, so customers need not know about
the recommender (recommender comes after customers in INSTALLED_APPS, so this runs later).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from customers.admin import CustomerAdmin, ProductAdmin
from customers.models import Customer, Product
from recommender.serving import (
    POPULARITY_KIND,
    RECOMMENDER,
    Recommendation,
    recommendations_for_customer,
    similar_products,
)
from tenants.context import tenant_scope
from tenants.errors import NotFound
from tenants.models import Tenant
from training.models import ModelVersion
from training.selectors import active_version_get

SHOWN = 10


def serving_version(tenant: Tenant) -> ModelVersion | None:
    """The version serving the tenant: its recommender, else its popularity model (as serving)."""
    with tenant_scope(tenant):
        return active_version_get(tenant=tenant, kind=RECOMMENDER) or active_version_get(
            tenant=tenant, kind=POPULARITY_KIND
        )


def no_model_line() -> SafeString:
    return format_html(
        '<p>No recommender trained yet — train one from <a href="{}">Training runs</a>.</p>',
        reverse("admin:training_trainingrun_changelist"),
    )


def recommendation_table(tenant: Tenant, picks: list[Recommendation], *, empty: str) -> SafeString:
    """Top picks as a table: product (linked to its change page), title, score, source."""
    version = serving_version(tenant)
    if version is None:  # serving returns [] too; say why rather than show an empty table
        return no_model_line()
    model = version.metrics.get("model") or version.kind
    served_by = format_html(
        '<p>From <a href="{}">{} v{}</a> ({}).</p>',
        reverse("admin:training_modelversion_change", args=[version.pk]),
        version.kind, version.version, model,
    )  # fmt: skip
    if not picks:
        return format_html("{}<p>{}</p>", served_by, empty)
    with tenant_scope(tenant):  # one query for every link, not one per row
        ids = dict(
            Product.objects.filter(
                tenant=tenant, external_id__in=[p.product for p in picks]
            ).values_list("external_id", "pk")
        )
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:customers_product_change", args=[ids[p.product]]),
                p.product,
                p.title,
                f"{p.score:.3f}",
                p.source,
            )
            for p in picks
            if p.product in ids
        ),
    )
    return format_html(
        '{}<table class="recommendations"><thead><tr><th>product</th><th>title</th>'
        "<th>score</th><th>source</th></tr></thead><tbody>{}</tbody></table>",
        served_by,
        rows,
    )


admin.site.unregister(Customer)
admin.site.unregister(Product)


@admin.register(Customer)
class CustomerRecommendationsAdmin(CustomerAdmin):
    fields = (*CustomerAdmin.fields, "recommendations")
    readonly_fields = (*CustomerAdmin.readonly_fields, "recommendations")

    @admin.display(description="Recommendations")
    def recommendations(self, obj: Customer) -> SafeString:
        picks = recommendations_for_customer(
            tenant=obj.tenant, external_id=obj.external_id, limit=SHOWN
        )
        return recommendation_table(
            obj.tenant, picks, empty="Nothing left to recommend to this customer."
        )


@admin.register(Product)
class ProductSimilarAdmin(ProductAdmin):
    fields = (*ProductAdmin.fields, "similar")
    readonly_fields = (*ProductAdmin.readonly_fields, "similar")

    @admin.display(description="Similar products")
    def similar(self, obj: Product) -> SafeString:
        try:
            picks = similar_products(tenant=obj.tenant, external_id=obj.external_id, limit=SHOWN)
        except NotFound:  # deleted or renamed while the page was being built
            picks = []
        return recommendation_table(obj.tenant, picks, empty="No similar active products.")
