"""Segments and campaigns in the admin, a marketer's view.

Segments: the size of each in the list, a sample of members on its page. Campaigns: drafts
edited through the services, lifecycle actions, and on each campaign's page its message
preview and report (campaigns.admin_panels, campaigns.admin_charts). Recipients: read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns import selectors, services
from campaigns.admin_charts import cumulative_conversions_svg
from campaigns.admin_panels import preview_panel, report_panel
from campaigns.filters import parse_filter
from campaigns.models import Campaign, Recipient, Segment
from campaigns.rendering import compile_variants, variant_names
from customers.admin import CappedCountPaginator
from tenants.admin import (
    TenantScopedAdminMixin,
    TenantScopedForm,
    adopt_saved,
    visible_tenant_ids,
)
from tenants.errors import BadRequest, DomainError

SHOWN = 20


def refuse_taken_name(form: TenantScopedForm, cleaned: dict[str, Any]) -> None:
    """A form error, not a 500, for a name the tenant already uses."""
    # Django checks (tenant, name) itself only while tenant is a form field (adding).
    name = cleaned.get("name")
    if "tenant" not in form.fields and name and form.instance.pk:
        model = type(form.instance)
        taken = model.objects.filter(tenant_id=form.instance.tenant_id, name=name)
        if taken.exclude(pk=form.instance.pk).exists():
            noun = model._meta.verbose_name
            form.add_error("name", f"This tenant already has a {noun} with this name.")


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
        refuse_taken_name(self, cleaned)
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


# --- campaigns -------------------------------------------------------------------------------

VARIANTS_HELP = (
    "A list of {name, subject, body} objects in Django's template language. Variables: "
    "customer.external_id, customer.email, customer.<attribute>, recommendations (each with "
    "external_id, title, category, price, url, score), campaign.name, unsubscribe_url."
)
EXAMPLE_VARIANTS = [{
    "name": "a",
    "subject": "Picked for you, {{ customer.first_name|default:'friend' }}",
    "body": "{% for p in recommendations %}{{ p.title }}: {{ p.url }}\n{% endfor %}"
            "Unsubscribe: {{ unsubscribe_url }}",
}]  # fmt: skip
STOPPED_BY_DELETE = (Campaign.Status.SENDING, Campaign.Status.PAUSED)


class CampaignForm(TenantScopedForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "variants" in self.fields:
            self.fields["variants"].help_text = VARIANTS_HELP
            if self.instance.pk is None:
                self.fields["variants"].initial = EXAMPLE_VARIANTS

    def clean_variants(self) -> object:
        # The service's own check, so a broken template is a form error naming the variant.
        value = self.cleaned_data.get("variants")
        try:
            compile_variants(value)
        except BadRequest as error:
            raise ValidationError(error.message, code="invalid_variants") from None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        editing = "segment" in self.fields and "segment" not in self.errors
        if editing and (cleaned.get("segment") is None) == (cleaned.get("model_segment") is None):
            self.add_error(None, "Choose exactly one audience: a rule segment, or a segment id "
                                 "of the active segmentation model.")  # fmt: skip
        refuse_taken_name(self, cleaned)
        return cleaned


def _recipients(**filters: Any) -> Coalesce:
    """A campaign's recipient count as a subquery: computed for the rows of the page only."""
    rows = Recipient.objects.filter(tenant=OuterRef("tenant"), campaign=OuterRef("pk"), **filters)
    counted = rows.order_by().values("campaign").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def _launched(campaign: Campaign, result: dict[str, Any]) -> str:
    if result["status"] == Campaign.Status.SCHEDULED:
        return f"{campaign.name}: scheduled; it launches at {result['scheduled_at']}."
    return (
        f"{campaign.name}: launched to {result['recipients']} customer(s): "
        f"{result.get('pending', 0)} to send, {result.get('held_out', 0)} held out as the "
        f"control group, {result.get('excluded', 0)} excluded."
    )


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Drafts are edited through the services; launched campaigns are read-only pages with
    their message preview and report, and are driven by the launch/pause/resume/cancel actions."""

    form = CampaignForm
    list_display = (
        *("name", "status", "channel", "audience", "recipients_count", "sent_count"),
        *("verdict", "launched_at"),
    )
    list_filter = ("status", "channel")
    list_select_related = ("segment",)
    search_fields = ("name",)
    ordering = ("-created_at",)
    actions = ("launch", "pause", "resume", "cancel")
    editable = (
        (None, ("tenant", "name")),
        ("Audience", ("segment", "model_segment")),
        ("Message", ("channel", "variants", "recommendations", "recommendations_category")),
        ("Sending and measuring", (
            *("scheduled_at", "holdout_share", "attribution_days", "conversion_kind"),
            *("frequency_cap", "frequency_cap_days"),
        )),
    )  # fmt: skip
    progress = ("status", "launched_at", "finished_at", "created_at", "updated_at")
    readonly_fields = (*progress, "message_preview", "recipients_link", "report", "chart")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                recipients_total=_recipients(),
                sent_total=_recipients(status=Recipient.Status.SENT),
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        fieldsets = [(title, {"fields": fields}) for title, fields in self.editable]
        if obj is None:
            return fieldsets
        return [
            *fieldsets,
            ("Progress", {"fields": self.progress}),
            ("Message preview", {"fields": ("message_preview",)}),
            ("Report", {"fields": ("recipients_link", "report", "chart")}),
        ]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None):
        campaign = super().get_object(request, object_id, from_field)
        if campaign is not None:
            # Read-only fields see the row only: carry the preview's query parameters on it.
            campaign.preview_query = (
                request.GET.get("preview_customer") or None,
                request.GET.get("preview_variant") or None,
            )
        return campaign

    # Launched campaigns are frozen: the page becomes read-only, and a POST is refused.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status not in services.EDITABLE:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status in STOPPED_BY_DELETE:
            return False  # the service refuses too: cancel first
        return super().has_delete_permission(request, obj)

    def has_write_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        data = {
            k: form.cleaned_data[k] for k in services.CAMPAIGN_WRITABLE if k in form.cleaned_data
        }
        if change:
            services.campaign_update(campaign=obj, data=data)
        else:
            adopt_saved(obj, services.campaign_create(tenant=obj.tenant, data=data))

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        services.campaign_delete(campaign=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for campaign in queryset:
            services.campaign_delete(campaign=campaign)

    def get_deleted_objects(self, objs, request: HttpRequest) -> tuple:
        # Django would list (and check a permission on) every recipient, up to millions:
        # name the campaigns and count their recipients instead.
        campaigns = list(objs)
        refused = {
            f"{c.name} (it is {c.status}: cancel it first)"
            for c in campaigns if not self.has_delete_permission(request, c)
        }  # fmt: skip
        recipients = Recipient.objects.filter(campaign__in=campaigns).count()
        counts = {Campaign._meta.verbose_name_plural: len(campaigns)}
        if recipients:
            counts[Recipient._meta.verbose_name_plural] = recipients
        return [str(c) for c in campaigns], counts, refused, []

    # --- columns ---

    @admin.display(description="audience", ordering="segment__name")
    def audience(self, obj: Campaign) -> str:
        return obj.segment.name if obj.segment_id else f"model segment {obj.model_segment}"

    @admin.display(description="recipients", ordering="recipients_total")
    def recipients_count(self, obj: Campaign) -> SafeString | int:
        if not obj.recipients_total:
            return 0
        return format_html('<a href="{}">{}</a>', _recipients_url(obj), obj.recipients_total)

    @admin.display(description="sent", ordering="sent_total")
    def sent_count(self, obj: Campaign) -> int:
        return obj.sent_total

    @admin.display(description="uplift")
    def verdict(self, obj: Campaign) -> str:
        # One report per launched row (three queries): a page of campaigns stays cheap.
        report = _report(obj)
        return report["uplift"]["verdict"] if report else "–"

    # --- the read-only panels ---

    @admin.display(description="message preview")
    def message_preview(self, obj: Campaign) -> SafeString:
        customer, variant = getattr(obj, "preview_query", (None, None))
        return preview_panel(obj, customer, variant)

    @admin.display(description="recipients")
    def recipients_link(self, obj: Campaign) -> SafeString | str:
        if obj.launched_at is None:
            return "Frozen from the audience when the campaign launches."
        return format_html(
            '{} recipient(s), {} sent: <a href="{}">see the list</a>',
            obj.recipients_total, obj.sent_total, _recipients_url(obj),
        )  # fmt: skip

    @admin.display(description="report")
    def report(self, obj: Campaign) -> SafeString | str:
        report = _report(obj)
        return report_panel(report) if report else "Not launched yet: the report starts then."

    @admin.display(description="cumulative conversion rate")
    def chart(self, obj: Campaign) -> SafeString:
        report = _report(obj)
        return cumulative_conversions_svg(report["daily"] if report else [])

    # --- actions: one service call per campaign, one message each ---

    def _act(
        self, request: HttpRequest, queryset: QuerySet, act: Callable[[Campaign], str]
    ) -> None:
        for campaign in queryset.select_related("tenant").order_by("name"):
            if not self.can_write(request, campaign.tenant_id):
                self.message_user(request, f"{campaign.name}: your role in its tenant does not "
                                  "allow this.", messages.WARNING)  # fmt: skip
                continue
            try:
                done = act(campaign)
            except DomainError as error:
                said = error.message
                named = said if campaign.name in said else f"{campaign.name}: {said}"
                self.message_user(request, named, messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)

    @admin.action(description="Launch the selected campaigns", permissions=["write"])
    def launch(self, request: HttpRequest, queryset: QuerySet) -> None:
        def act(campaign: Campaign) -> str:
            return _launched(campaign, services.campaign_launch(tenant=campaign.tenant,
                                                                campaign=campaign))  # fmt: skip

        self._act(request, queryset, act)

    def _transition(
        self, request: HttpRequest, queryset: QuerySet, service: Callable[..., Campaign], done: str
    ) -> None:
        def act(campaign: Campaign) -> str:
            service(tenant=campaign.tenant, campaign=campaign)
            return f"{campaign.name}: {done}."

        self._act(request, queryset, act)

    @admin.action(description="Pause the selected campaigns", permissions=["write"])
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._transition(request, queryset, services.campaign_pause, "paused after the batch "
                         "in flight")  # fmt: skip

    @admin.action(description="Resume the selected campaigns", permissions=["write"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._transition(request, queryset, services.campaign_resume, "sending again")

    @admin.action(description="Cancel the selected campaigns", permissions=["write"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._transition(request, queryset, services.campaign_cancel, "cancelled; nobody "
                         "else is sent")  # fmt: skip


def _recipients_url(campaign: Campaign) -> str:
    return f"{reverse('admin:campaigns_recipient_changelist')}?campaign__id__exact={campaign.pk}"


def _report(campaign: Campaign) -> dict[str, Any] | None:
    """The campaign's report, read once per row and page (three panels show it)."""
    if campaign.launched_at is None:
        return None
    if not hasattr(campaign, "cached_report"):
        campaign.cached_report = selectors.campaign_report(
            tenant=campaign.tenant_id, campaign=campaign
        )
    return campaign.cached_report


# --- recipients ------------------------------------------------------------------------------


class VariantFilter(admin.SimpleListFilter):
    title = "variant"
    parameter_name = "variant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        # From the campaigns' variant lists: a DISTINCT over the recipients would scan them all.
        lists = Campaign.objects.filter(tenant_id__in=visible_tenant_ids(request))
        names = {n for v in lists.values_list("variants", flat=True) for n in variant_names(v)}
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(variant=self.value()) if self.value() else queryset


@admin.register(Recipient)
class RecipientAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only: frozen at launch, then written by the sending worker. Deletable, as
    interactions are, so that a customer who received a campaign can still be deleted."""

    list_display = (
        *("customer_external_id", "campaign", "group", "variant", "status"),
        *("excluded_reason", "attempts", "sent_at"),
    )
    list_filter = ("status", "group", VariantFilter, "campaign")
    list_select_related = ("customer", "campaign")
    search_fields = ("=customer__external_id",)
    search_help_text = "A customer's exact external id."
    ordering = ("-pk",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice, over millions of rows
    paginator = CappedCountPaginator
    fields = (
        *("tenant", "campaign", "customer", "group", "variant", "status", "excluded_reason"),
        *("attempts", "retry_at", "error", "sent_at"),
    )

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_external_id(self, obj: Recipient) -> str:
        return obj.customer.external_id if obj.customer else "(erased)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
