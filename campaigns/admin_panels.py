"""The read-only panels of a campaign's admin page: the message one customer would get, and
the report (groups, uplift, exclusions, variants) in a marketer's words.

Each panel reads through campaigns.selectors and turns its dict into HTML; every text goes
through format_html, so template output and customer data are shown, never interpreted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns import selectors
from campaigns.ml.uplift import (
    DROP,
    MIN_CONVERSIONS,
    MIN_PER_GROUP,
    NO_EFFECT,
    SIGNIFICANT,
    TOO_EARLY,
)
from campaigns.models import Campaign
from campaigns.rendering import variant_names
from tenants.context import tenant_scope
from tenants.errors import DomainError

PREVIEW_CHOICES = 5  # audience members offered as "preview as" links
VERDICTS = {
    SIGNIFICANT: "The campaign caused more conversions: treatment beat the control group, "
    "and chance alone would rarely give a gap this large (95% confidence).",
    DROP: "The campaign lowered conversions: treatment did worse than the control group, "
    "beyond what chance explains (95% confidence).",
    NO_EFFECT: "No detectable effect yet: the gap between treatment and control could be "
    "chance. More recipients or a longer window may tell.",
    TOO_EARLY: f"Too early to tell: a verdict needs {MIN_PER_GROUP} measured recipients in "
    f"each group and {MIN_CONVERSIONS} conversions in all.",
}


def verdict_words(verdict: str) -> str:
    return VERDICTS.get(verdict, verdict)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    """An absolute difference of two rates, in percentage points."""
    return "–" if value is None else f"{100 * value:+.1f} points"


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _table(head: tuple[str, ...], rows: Any) -> SafeString:
    return format_html(
        "<table><tr>{}</tr>{}</table>",
        format_html_join("", "<th>{}</th>", ((h,) for h in head)),
        format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows
        )),
    )  # fmt: skip


# --- message preview -------------------------------------------------------------------------


def preview_panel(campaign: Campaign, customer: str | None, variant: str | None) -> SafeString:
    """The first audience member's message (or `customer`'s, by external id), with their
    recommended products; links to preview other members and variants. Errors are text."""
    with tenant_scope(campaign.tenant_id):  # recommendations read in one tenant's scope
        try:
            preview = selectors.campaign_preview(
                tenant=campaign.tenant, campaign=campaign, customer=customer, variant=variant
            )
            others = list(
                selectors.campaign_audience(
                    tenant=campaign.tenant, campaign=campaign, now=timezone.now()
                ).order_by("external_id").values_list("external_id", flat=True)[:PREVIEW_CHOICES]
            )  # fmt: skip
        except DomainError as error:
            return format_html('<p class="errornote">Cannot preview: {}</p>', error.message)
    who = (
        f"customer {preview['customer']}" if preview["customer"]
        else "a sample customer (nobody is in the audience now)"
    )  # fmt: skip
    picks = _table(
        ("product", "title", "category", "price", "score"),
        ((p.get("external_id"), p.get("title"), p.get("category"), p.get("price"),
          f"{p['score']:.3f}" if isinstance(p.get("score"), int | float) else "–")
         for p in preview["recommendations"]),
    ) if preview["recommendations"] else format_html("<p>{}</p>", "No recommended products.")  # fmt: skip
    return format_html(
        "<p>Variant <strong>{}</strong> as {}:</p>"
        '<p>Subject: <strong class="preview-subject">{}</strong></p>'
        '<pre class="preview-body" style="white-space:pre-wrap;max-width:60em">{}</pre>'
        "<p>Recommended products:</p>{}{}",
        preview["variant"], who, preview["subject"], preview["body"], picks,
        _preview_links(campaign, others, preview["customer"], preview["variant"]),
    )  # fmt: skip


def _preview_links(
    campaign: Campaign, others: list[str], customer: str | None, variant: str
) -> SafeString:
    # Plain links, not a form: the panel sits inside the admin's own <form>.
    def link(params: dict[str, str | None], label: str) -> SafeString:
        query = urlencode({k: v for k, v in params.items() if v})
        return format_html('<a href="?{}">{}</a>', query, label)

    names = variant_names(campaign.variants)
    people = format_html_join(
        " · ", "{}", ((link({"preview_customer": o, "preview_variant": variant}, o),)
                      for o in others),
    )  # fmt: skip
    variants = format_html_join(
        " · ", "{}", ((link({"preview_customer": customer, "preview_variant": n}, n),)
                      for n in names),
    )  # fmt: skip
    return format_html(
        "<p>Preview as: {} (or add <code>?preview_customer=&lt;external id&gt;</code> to the "
        "address)</p>{}",
        people or "–", format_html("<p>Variants: {}</p>", variants) if len(names) > 1 else "",
    )  # fmt: skip


# --- report ----------------------------------------------------------------------------------


def report_panel(report: dict[str, Any]) -> SafeString:
    groups = report["groups"]
    group_rows = (
        (name, g["recipients"], g["conversions"], _percent(g["conversion_rate"]),
         _money(g["revenue_per_recipient"]))
        for name, g in sorted(groups.items(), key=lambda item: item[0] != "treatment")
    )  # fmt: skip
    u = report["uplift"]
    relative = (
        format_html(
            "; relative {} (95% interval {} to {})", _signed(u["relative"]),
            _signed(u["relative_low"]), _signed(u["relative_high"]),
        ) if u["relative"] is not None else ""
    )  # fmt: skip
    return format_html(
        '<p class="report-verdict"><strong>{}</strong></p>'
        "<p>Uplift {} (95% interval {} to {}){}; p-value {}.</p>{}"
        "<p>Recipients by status:</p>{}<p>Excluded, by reason:</p>{}{}",
        verdict_words(u["verdict"]), _points(u["absolute"]), _points(u["absolute_low"]),
        _points(u["absolute_high"]), relative, f"{u['p_value']:.3g}",
        _table(("group", "measured recipients", "conversions", "conversion rate",
                "revenue per recipient"), group_rows),
        _table(("status", "recipients"), sorted(report["by_status"].items())),
        _table(("reason", "recipients"), sorted(report["excluded_by_reason"].items()))
        if report["excluded_by_reason"] else format_html("<p>{}</p>", "Nobody was excluded."),
        _variants(report.get("variants")),
    )  # fmt: skip


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}%"


def _variants(found: dict[str, Any] | None) -> SafeString | str:
    if not found:
        return ""
    names = list(found["rates"])
    against = found["against_reference"]
    rows = [(names[0], _percent(found["rates"][names[0]]), "reference", "–", "–")]
    rows += [
        (name, _percent(found["rates"][name]),
         f"{_points(a['absolute'])} ({_points(a['absolute_low'])} to {_points(a['absolute_high'])})",
         f"{a['p_value']:.3g}", a["verdict"])
        for name, a in against.items()
    ]  # fmt: skip
    winner = (
        f"Variant {found['winner']} wins: it beats every other variant significantly."
        if found["winner"]
        else f"No variant wins yet (do they differ at all? p-value {found['p_value']:.3g})."
    )
    return format_html(
        "<p>Content variants (treatment only; p-values Holm-adjusted):</p>{}<p>{}</p>",
        _table(("variant", "conversion rate", "against the first", "p-value", "verdict"), rows),
        winner,
    )  # fmt: skip
