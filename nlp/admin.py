"""The text admin, for marketers and analysts reading many reviews.

Labelled examples: listed with their counts per task and label, written through
`services.examples_upsert`. The "Text models" page (a view of the examples' admin): per
task the active classifier's held-out report, a form to try it on a few lines, and the
words the embeddings place next to a given one. Review sentiment: read-only. The version
pages of the `text` and `embeddings` kinds get their own details (DETAIL_RENDERERS).
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from customers.admin import CappedCountPaginator
from nlp import admin_panels as panels
from nlp import selectors, services
from nlp.models import LabelledExample, ReviewSentiment
from tenants.admin import TenantScopedAdminMixin, TenantScopedForm, adopt_saved, visible_tenant_ids
from tenants.context import tenant_scope
from tenants.errors import BadRequest, DomainError
from tenants.models import Tenant
from training.admin import DETAIL_RENDERERS, ReadOnlyTenantAdmin
from training.models import ModelVersion
from training.selectors import active_version_get

EXCERPT = 80  # characters of a text shown in a list
COUNTED_TENANTS = 10  # the changelist's count panels, for a user who sees many tenants
SIMILAR = 10


def excerpt(text: str) -> str:
    return Truncator(" ".join(text.split())).chars(EXCERPT)


# --- labelled examples ------------------------------------------------------------------------


class LabelledExampleForm(TenantScopedForm):
    """The service's rules as form errors, so a bad row never reaches save_model."""

    def clean_task(self) -> str:
        task = self.cleaned_data.get("task")
        try:
            return services.check_task(task)
        except DomainError as error:
            raise ValidationError(error.message, code="invalid_task") from None

    def clean_text(self) -> str:
        text = self.cleaned_data.get("text") or ""
        if not text.strip():
            raise ValidationError("Type the text to label.", code="required")
        if len(text) > services.MAX_TEXT:
            raise ValidationError(f"At most {services.MAX_TEXT} characters (got {len(text)}).")
        return text

    def clean_label(self) -> str:
        label = (self.cleaned_data.get("label") or "").strip()
        if not label:
            raise ValidationError("Give a label.", code="required")
        return label


# The changelist with the counts above it and a link to the Text models page; rendered from
# a string, as the app keeps no template directory.
_CHANGELIST_TEMPLATE = """{% extends "admin/change_list.html" %}
{% block object-tools-items %}<li><a href="{{ text_models_url }}">Text models</a></li>
{{ block.super }}{% endblock %}
{% block search %}<div class="example-counts-panel">{{ counts_panel }}</div>
{{ block.super }}{% endblock %}
"""

_TEXT_MODELS_TEMPLATE = """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
&rsaquo; <a href="{{ changelist_url }}">{{ opts.verbose_name_plural|capfirst }}</a>
&rsaquo; Text models</div>{% endblock %}
{% block content %}<div id="content-main" class="text-models">
{% if tenant_links %}<p>Tenant: {{ tenant_links }}</p>{% endif %}
{% if tenant %}
<p>Tenant <strong>{{ tenant.slug }}</strong>: {{ model_line }}</p>
{% for task in tasks %}<div class="module text-task" id="task-{{ task.task }}">
<h2>Task {{ task.task }}</h2>
<h3>Examples per label</h3>{{ task.examples_panel }}
<h3>Active classifier, on held-out texts</h3>{{ task.report_panel }}
</div>{% empty %}<p>No task yet: upload labelled examples, then train the 'text' kind.</p>
{% endfor %}
<div class="module" id="try-classifier"><h2>Try the classifier</h2>
<form method="post" action="?{{ tenant_query }}">{% csrf_token %}{{ classify_form.as_p }}
<input type="submit" name="classify" value="Classify"></form>{{ classified }}</div>
<div class="module" id="similar-terms"><h2>Similar terms</h2>
<form method="get"><input type="hidden" name="tenant" value="{{ tenant.slug }}">
{{ similar_form.as_p }}<input type="submit" value="Find similar terms"></form>{{ similar }}</div>
{% endif %}
</div>{% endblock %}
"""


@cache
def _template(source: str):
    return engines["django"].from_string(source)


class ClassifyForm(forms.Form):
    task = forms.CharField(required=False, widget=forms.Select)
    texts = forms.CharField(
        required=False, label="Texts, one per line",
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text=f"Up to {services.MAX_CLASSIFY} lines; each is classified on its own.",
    )  # fmt: skip

    def __init__(self, *args: Any, tasks: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].widget.choices = [(task, task) for task in tasks]


class SimilarTermsForm(forms.Form):
    term = forms.CharField(required=False, label="Word", max_length=100)


@admin.register(LabelledExample)
class LabelledExampleAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Examples are written through the service (it computes the key). Editing changes the
    label only: task and text make the key, so a changed text is a new example."""

    form = LabelledExampleForm
    list_display = ("task", "label", "text_excerpt", "updated_at")
    list_filter = ("task", "label")
    search_fields = ("text",)
    ordering = ("-updated_at", "-pk")
    fields = ("tenant", "task", "label", "text", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="text", ordering="text")
    def text_excerpt(self, obj: LabelledExample) -> str:
        return excerpt(obj.text)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "task", "text"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: LabelledExample, form, change: bool) -> None:
        row = {"task": obj.task, "text": obj.text, "label": obj.label}
        result = services.examples_upsert(tenant=obj.tenant, rows=[row])
        if result.rejected:  # the form checks the same rules first; never reached in practice
            raise BadRequest(f"{result.rejected[0]['field']}: {result.rejected[0]['reason']}")
        key = services.example_key(obj.task, obj.text)
        with tenant_scope(obj.tenant_id):
            adopt_saved(obj, LabelledExample.objects.get(tenant_id=obj.tenant_id, key=key))
        if result.updated and not change:
            self.message_user(
                request, "This text was already labelled for the task: its label was replaced.",
                messages.INFO,
            )  # fmt: skip

    # --- the changelist: counts per task and label above the list ---

    @property
    def change_list_template(self):  # type: ignore[override]
        return _template(_CHANGELIST_TEMPLATE)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        tenants = self._counted_tenants(request)
        changelist = reverse("admin:nlp_labelledexample_changelist")

        def link(tenant: Tenant) -> Any:
            def to(task: str, label: str) -> str:
                query = {"task__exact": task, "label__exact": label}
                if len(visible_tenant_ids(request)) > 1:
                    query["tenant"] = str(tenant.pk)
                return f"{changelist}?{urlencode(query)}"

            return to

        # The request runs in the scope of the user's tenants (AdminTenantScopeMiddleware).
        counted = [(t, selectors.example_counts(tenant=t)) for t in tenants]
        if len(counted) == 1:
            panel = panels.counts_table(counted[0][1], link(counted[0][0]))
        else:
            panel = format_html_join("", "<h3>{}</h3>{}", (
                (t.slug, panels.counts_table(counts, link(t))) for t, counts in counted
            ))  # fmt: skip
        chosen = tenants[0].slug if len(tenants) == 1 and self.several_tenants(request) else None
        extra_context = {
            **(extra_context or {}),
            "counts_panel": panel,
            "text_models_url": self._text_models_url(chosen),
        }
        return super().changelist_view(request, extra_context)

    def _counted_tenants(self, request: HttpRequest) -> list[Tenant]:
        """The tenant picked in the tenant filter, else every visible one (up to a few)."""
        visible = visible_tenant_ids(request)
        picked = request.GET.get("tenant", "")
        ids = [int(picked)] if picked.isdigit() and int(picked) in visible else visible
        return list(Tenant.objects.filter(pk__in=ids).order_by("slug")[:COUNTED_TENANTS])

    # --- the Text models page ---

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.text_models_view)
        return [path("text-models/", view, name="nlp_labelledexample_text_models"),
                *super().get_urls()]  # fmt: skip

    def _text_models_url(self, slug: str | None = None) -> str:
        url = reverse("admin:nlp_labelledexample_text_models")
        return f"{url}?{urlencode({'tenant': slug})}" if slug else url

    def pick_tenant(self, request: HttpRequest) -> tuple[Tenant | None, list[Tenant]]:
        """?tenant=<slug> among the user's tenants; by default the first by slug."""
        tenants = list(Tenant.objects.filter(pk__in=visible_tenant_ids(request)).order_by("slug"))
        wanted = request.GET.get("tenant")
        chosen = next((t for t in tenants if t.slug == wanted), None)
        if wanted and chosen is None:
            # Said the same way whether the tenant exists or not: nothing leaks.
            messages.warning(request, f"You are not a member of a tenant {wanted!r}.")
        return chosen or (tenants[0] if tenants else None), tenants

    def text_models_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        tenant, tenants = self.pick_tenant(request)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Text models", "opts": self.opts, "tenant": tenant,
            "changelist_url": reverse("admin:nlp_labelledexample_changelist"),
        }  # fmt: skip
        if len(tenants) > 1:
            context["tenant_links"] = format_html_join(" · ", "{}", (
                (format_html("<strong>{}</strong>", t.slug) if t == tenant else format_html(
                    '<a href="{}">{}</a>', self._text_models_url(t.slug), t.slug),)
                for t in tenants
            ))  # fmt: skip
        if tenant is not None:
            context.update(self._text_models_context(request, tenant))
        return TemplateResponse(request, _template(_TEXT_MODELS_TEMPLATE), context)

    def _text_models_context(self, request: HttpRequest, tenant: Tenant) -> dict[str, Any]:
        with tenant_scope(tenant):
            overview = selectors.task_overview(tenant=tenant)
            version = active_version_get(tenant=tenant, kind=selectors.TEXT_KIND)
        trained = [task["task"] for task in overview if task["trained"]]
        posted = request.POST if request.method == "POST" else None
        classify_form = ClassifyForm(posted, tasks=trained or [t["task"] for t in overview])
        similar_form = SimilarTermsForm(request.GET if "term" in request.GET else None)
        return {
            "tenant_query": urlencode({"tenant": tenant.slug}),
            "model_line": _model_line(version),
            "tasks": [_task_panels(task) for task in overview],
            "classify_form": classify_form,
            "classified": self._classify(request, tenant, classify_form) if posted else "",
            "similar_form": similar_form,
            "similar": self._similar(request, tenant, similar_form),
        }

    def _classify(self, request: HttpRequest, tenant: Tenant, form: ClassifyForm) -> SafeString:
        form.is_valid()  # both fields optional: the service's checks give the messages
        task = form.cleaned_data.get("task", "")
        texts = [line.strip() for line in form.cleaned_data.get("texts", "").splitlines()]
        texts = [text for text in texts if text]
        if not texts:
            messages.error(request, "Type one or more lines of text to classify.")
            return SafeString("")
        # The service names texts by index (texts[3]); here they are lines of a box.
        long = [i + 1 for i, text in enumerate(texts) if len(text) > services.MAX_TEXT]
        if long:
            messages.error(request, f"Line {long[0]} is longer than {services.MAX_TEXT} "
                           "characters: shorten it or split it.")  # fmt: skip
            return SafeString("")
        try:
            results = services.texts_classify(tenant=tenant, task=task, texts=texts)
        except DomainError as error:
            messages.error(request, error.message)
            return SafeString("")
        return format_html("<h3>Task {}</h3>{}", task, panels.classification_table(texts, results))

    def _similar(self, request: HttpRequest, tenant: Tenant, form: SimilarTermsForm) -> SafeString:
        if not form.is_bound:
            return SafeString("")
        if not form.is_valid():
            messages.error(request, "Give a word of at most 100 characters.")
            return SafeString("")
        term = form.cleaned_data["term"]
        if not term:
            messages.error(request, "Type a word to find the words used like it.")
            return SafeString("")
        try:
            found = services.similar_terms(tenant=tenant, term=term, limit=SIMILAR)
        except DomainError as error:
            messages.error(request, error.message)
            return SafeString("")
        return panels.similar_terms_table(term, found)


def _task_panels(task: dict[str, Any]) -> dict[str, Any]:
    examples = task["examples"]
    return {
        "task": task["task"],
        "examples_panel": panels.counts_table({task["task"]: examples})
        if examples
        else panels.note("No uploaded examples (ratings may label sentiment)."),
        "report_panel": panels.task_report(task["metrics"]),
    }


def _model_line(version: ModelVersion | None) -> SafeString:
    if version is None:
        return format_html("{}", "no text model is trained yet (train the 'text' kind).")
    url = reverse("admin:training_modelversion_change", args=[version.pk])
    return format_html(
        'the active text model is <a href="{}">v{}</a>, trained {}.',
        url, version.version, version.created_at.strftime("%Y-%m-%d %H:%M"),
    )  # fmt: skip


# --- review sentiment -------------------------------------------------------------------------


class SentimentLabelFilter(admin.SimpleListFilter):
    """Labels from the text versions' reports: a DISTINCT over every review would scan them."""

    title = "label"
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        reports = ModelVersion.objects.filter(
            tenant_id__in=visible_tenant_ids(request), kind=selectors.TEXT_KIND
        ).values_list("training_run__metrics", flat=True)
        labels = {selectors.POSITIVE, selectors.NEGATIVE}
        for report in reports:
            tasks = ((report or {}).get("details") or {}).get("tasks") or {}
            labels.update(str(x) for x in (tasks.get(selectors.SENTIMENT) or {}).get("labels", []))
        return [(label, label) for label in sorted(labels)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(label=self.value()) if self.value() else queryset


class TextVersionFilter(admin.SimpleListFilter):
    title = "text model version"
    parameter_name = "version"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        versions = (
            ModelVersion.objects.filter(
                tenant_id__in=visible_tenant_ids(request), kind=selectors.TEXT_KIND
            )
            .select_related("tenant")
            .order_by("tenant__slug", "-version")
        )
        several = len(visible_tenant_ids(request)) > 1
        return [
            (str(v.pk), f"{v.tenant.slug}: v{v.version} ({v.status})" if several
             else f"v{v.version} ({v.status})")
            for v in versions
        ]  # fmt: skip

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(version_id=int(value)) if value and value.isdigit() else queryset


@admin.register(ReviewSentiment)
class ReviewSentimentAdmin(ReadOnlyTenantAdmin):
    """What the text classifier reads in each review; written by the platform only."""

    list_display = ("review", "label", "positive_share", "customer", "product", "model_version")
    list_filter = (SentimentLabelFilter, TextVersionFilter)
    list_select_related = ("interaction__customer", "interaction__product", "version")
    search_fields = ("=interaction__customer__external_id", "=interaction__product__external_id")
    search_help_text = "A customer's or product's exact external id."
    ordering = ("-pk",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice, over every review
    paginator = CappedCountPaginator
    fields = ("review_text", "label", "positive_share", "customer", "product", "model_version")
    readonly_fields = fields

    @admin.display(description="review")
    def review(self, obj: ReviewSentiment) -> str:
        return excerpt(obj.interaction.text)

    @admin.display(description="review")
    def review_text(self, obj: ReviewSentiment) -> str:
        return obj.interaction.text

    @admin.display(description="P(positive)", ordering="positive")
    def positive_share(self, obj: ReviewSentiment) -> str:
        return panels.percent(obj.positive)

    @admin.display(description="customer")
    def customer(self, obj: ReviewSentiment) -> str:
        return obj.interaction.customer.external_id

    @admin.display(description="product")
    def product(self, obj: ReviewSentiment) -> str:
        product = obj.interaction.product
        return product.external_id if product is not None else panels.NONE

    @admin.display(description="model")
    def model_version(self, obj: ReviewSentiment) -> str:
        return f"text v{obj.version.version}"


DETAIL_RENDERERS[selectors.TEXT_KIND] = panels.text_details
DETAIL_RENDERERS[selectors.EMBEDDINGS_KIND] = panels.embeddings_details
