"""Admin of customers, products and interactions, built on the tenant-scoped mixin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from customers import services
from customers.admin_charts import propensity_details, segmentation_details
from customers.erasure import customer_erase
from customers.models import ConsentEvent, Customer, ErasureRecord, Interaction, Product
from customers.selectors import customer_intelligence, customer_summary
from tenants.admin import TenantScopedAdminMixin, adopt_saved
from tenants.models import Tenant
from tenants.pseudonyms import pseudonym
from training.admin import DETAIL_RENDERERS


class ExternalIdAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Writes go through the app's services, as in the API; the client's external_id is fixed."""

    def create_service(self, *, tenant, data: dict) -> Any:
        raise NotImplementedError

    def update_service(self, obj: Any, data: dict) -> Any:
        raise NotImplementedError

    def delete_service(self, obj: Any) -> None:
        raise NotImplementedError

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "external_id"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Any, form, change: bool) -> None:
        data = {name: value for name, value in form.cleaned_data.items() if name != "tenant"}
        if change:
            self.update_service(obj, data)
        else:
            adopt_saved(obj, self.create_service(tenant=obj.tenant, data=data))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_service(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_service(obj)


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


@admin.register(Customer)
class CustomerAdmin(ExternalIdAdmin):
    list_display = ("external_id", "email", "email_opt_in", "tenant", "created_at")
    list_filter = ("email_opt_in", "created_at")
    search_fields = ("external_id", "email")
    fields = (
        *("tenant", "external_id", "email", "email_opt_in", "attributes"),
        *("rfm_summary", "created_at", "updated_at"),
    )
    readonly_fields = ("rfm_summary", "created_at", "updated_at")
    actions = ("erase",)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    @admin.action(description="Erase the selected customers (GDPR)", permissions=["erase"])
    def erase(self, request: HttpRequest, queryset: QuerySet) -> None:
        """As `DELETE customers/{id}/?erase=true`: data, derived data and a record of the
        erasure that does not name the customer."""
        erased = 0
        for customer in queryset:
            customer_erase(tenant=customer.tenant, customer=customer,
                           erased_by=f"user:{request.user.get_username()}")  # fmt: skip
            erased += 1
        self.message_user(request, f"Erased {erased} customer(s); the models trained on their "
                          "data retrain at their next scheduled run.", messages.SUCCESS)  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.tenant.pseudonymise_customers:
            return (*readonly, "email")  # a pseudonym, not an address a form could check
        return readonly

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, duplicates
        # Pseudonymising tenants: the whole id or email finds its customer.
        tenants = Tenant.objects.filter(pseudonymise_customers=True).values_list("pk", flat=True)
        stored = [value for tenant_id in tenants for kind in ("id", "email")
                  for value in [pseudonym(tenant_id, term, kind=kind)]]  # fmt: skip
        if stored:
            found = found | queryset.filter(Q(external_id__in=stored) | Q(email__in=stored))
        return found, duplicates

    def create_service(self, *, tenant, data: dict) -> Customer:
        return services.customer_create(tenant=tenant, data=data, source="admin")

    def update_service(self, obj: Customer, data: dict) -> Customer:
        return services.customer_update(customer=obj, data=data, source="admin")

    def delete_service(self, obj: Customer) -> None:
        services.customer_delete(customer=obj)

    @admin.display(description="RFM summary")
    def rfm_summary(self, obj: Customer) -> SafeString:
        summary = customer_summary(tenant=obj.tenant, customer=obj)
        models = customer_intelligence(
            tenant=obj.tenant, customer=obj, frequency=summary["frequency"]
        )
        segment = models["segment"]
        rows = [
            ("Recency (days since last purchase)", summary["recency_days"]),
            ("Frequency (purchases)", summary["frequency"]),
            ("Monetary (purchase value)", summary["monetary"]),
            ("Interactions", summary["interactions"]),
            ("First seen", summary["first_seen"]),
            ("Last seen", summary["last_seen"]),
            ("Last purchase", summary["last_purchase_at"]),
            ("Segment", f"{segment['name']} (#{segment['id']})" if segment else None),
            ("Purchase propensity", _percent(models["propensity"])),
            ("Churn risk", _percent(models["churn_risk"])),
        ]
        cells = ((label, display_for_value(value, "—")) for label, value in rows)
        return format_html(
            '<table class="rfm-summary">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", cells),
        )


@admin.register(Product)
class ProductAdmin(ExternalIdAdmin):
    list_display = ("external_id", "title", "category", "price", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("external_id", "title")
    fields = (
        *("tenant", "external_id", "title", "description", "category", "price"),
        *("tags", "attributes", "is_active", "created_at", "updated_at"),
    )
    readonly_fields = ("created_at", "updated_at")

    def create_service(self, *, tenant, data: dict) -> Product:
        return services.product_create(tenant=tenant, data=data)

    def update_service(self, obj: Product, data: dict) -> Product:
        return services.product_update(product=obj, data=data)

    def delete_service(self, obj: Product) -> None:
        services.product_delete(product=obj)


class CappedCountPaginator(Paginator):
    """Counts at most `count_cap` rows: a COUNT(*) over millions of interactions would
    cost more than the page itself. Past the cap, narrow the list with the filters."""

    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.count_cap].count()


@admin.register(Interaction)
class InteractionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only: interactions arrive through ingest. Deletable so customers can be deleted."""

    list_display = ("event_id", "customer_external_id", "product", "kind", "value", "occurred_at")
    list_filter = ("kind",)
    date_hierarchy = "occurred_at"
    list_select_related = ("customer", "product")
    raw_id_fields = ("customer", "product")
    search_fields = ("=event_id", "=customer__external_id")
    search_help_text = "An exact event id or customer external id."
    ordering = ("-occurred_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice, over millions of rows
    paginator = CappedCountPaginator
    fields = (
        *("tenant", "event_id", "customer", "product", "kind", "value", "text"),
        *("occurred_at", "received_at"),
    )
    readonly_fields = ("received_at",)

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: Interaction) -> str:
        return obj.customer.external_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


DETAIL_RENDERERS["segmentation"] = lambda details, metrics: segmentation_details(details)
DETAIL_RENDERERS["propensity"] = propensity_details


class ReadOnlyLogAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """An append-only log: shown, never added to, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyLogAdmin):
    """What was erased, when and by whom (never who), for the data-protection officer."""

    list_display = ("erased_at", "erased_by", "removed", "versions_marked")
    list_filter = ("erased_at",)
    readonly_fields = ("tenant", "erased_at", "erased_by", "removed", "versions_marked")


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyLogAdmin):
    list_display = ("occurred_at", "customer", "channel", "granted", "source")
    list_filter = ("channel", "granted", "source")
    search_fields = ("=customer__external_id",)
    readonly_fields = ("tenant", "customer", "channel", "granted", "source", "occurred_at")
