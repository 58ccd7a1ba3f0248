"""Segments in the admin: the size of each in the list, a sample of members on its page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns import selectors, services
from campaigns.filters import parse_filter
from campaigns.models import Segment
from tenants.admin import TenantScopedAdminMixin, TenantScopedForm, adopt_saved
from tenants.errors import BadRequest

SHOWN = 20


class SegmentForm(TenantScopedForm):
    def clean_filter(self) -> object:
        value = self.cleaned_data.get("filter")
        try:
            parse_filter(value)
        except BadRequest as error:
            raise ValidationError(error.message, code="invalid_filter") from None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Django checks (tenant, name) itself only while tenant is a form field (adding).
        name = cleaned.get("name")
        if "tenant" not in self.fields and name and self.instance.pk:
            taken = Segment.objects.filter(tenant_id=self.instance.tenant_id, name=name)
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "This tenant already has a segment with this name.")
        return cleaned


@admin.register(Segment)
class SegmentAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "size", "description", "updated_at")
    search_fields = ("name", "description")
    ordering = ("name",)
    fields = (
        *("tenant", "name", "description", "filter", "profile", "members"),
        *("created_by", "created_at", "updated_at"),
    )
    readonly_fields = ("profile", "members", "created_by", "created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Segment, form, change: bool) -> None:
        data = {key: form.cleaned_data[key] for key in services.WRITABLE}
        if change:
            services.segment_update(segment=obj, data=data)
        else:
            created = services.segment_create(tenant=obj.tenant, data=data, created_by=request.user)
            adopt_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.segment_delete(segment=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for segment in queryset:
            services.segment_delete(segment=segment)

    @admin.display(description="size")
    def size(self, obj: Segment) -> int | str:
        # One count query per row: fine for a page of 100 segments.
        try:
            return selectors.segment_customers(tenant=obj.tenant_id, filter=obj.filter).count()
        except BadRequest:  # saved under an older grammar
            return "invalid filter"

    @admin.display(description="profile")
    def profile(self, obj: Segment) -> SafeString | str:
        try:
            found = selectors.segment_profile(tenant=obj.tenant_id, filter=obj.filter)
        except BadRequest as error:
            return f"The filter is not valid: {error.message}"
        if not found["members"]:
            return "No customer matches now."
        rows = (
            ("Members", f"{found['members']:,}"),
            ("Opted in to email", f"{100 * found['opted_in_share']:.1f}%"),
            ("Orders per member", f"{found['orders_per_member']:.2f}"),
            ("Revenue per member", f"{found['revenue_per_member']:,.2f}"),
            ("Top categories", ", ".join(found["top_categories"]) or "–"),
        )
        return format_html(
            '<table class="segment-profile">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="members now")
    def members(self, obj: Segment) -> SafeString | str:
        try:
            members = selectors.segment_customers(tenant=obj.tenant_id, filter=obj.filter)
            count = members.count()
        except BadRequest as error:
            return f"The filter is not valid: {error.message}"
        sample = members.order_by("external_id").values_list("pk", "external_id")[:SHOWN]
        links = format_html_join(
            ", ", '<a href="{}">{}</a>',
            ((reverse("admin:customers_customer_change", args=[pk]), external_id)
             for pk, external_id in sample),
        )  # fmt: skip
        shown = min(count, SHOWN)
        return format_html(
            '<p>{} customer(s) now{}</p><p class="segment-sample">{}</p>',
            count, f"; the first {shown} by external id:" if count else ".", links,
        )  # fmt: skip
