"""HTML tables of the training admin: every candidate of a run against the popularity one.

Kept apart from training/admin.py so the admin classes stay short; all output is escaped
with format_html / format_html_join.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Ranking metrics first, in the order people read them; any other numeric key follows sorted.
METRIC_ORDER = ("ndcg", "precision", "recall", "map", "coverage")
REFERENCE = "popularity"


def _number(value: Any) -> float | None:
    # bool is an int; a flag is not a metric.
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def metric_columns(candidates: dict[str, dict[str, Any]]) -> list[str]:
    """The numeric metric keys found in any candidate, in a stable order."""
    keys = {
        k for metrics in candidates.values() for k, v in metrics.items() if _number(v) is not None
    }

    def rank(key: str) -> tuple[int, str]:
        family = key.split("@", 1)[0]
        return (METRIC_ORDER.index(family) if family in METRIC_ORDER else len(METRIC_ORDER), key)

    return sorted(keys, key=rank)


def ratio(value: Any, reference: Any) -> str:
    """The ratio as "2.31×", or "–" when either side is missing or the reference is zero."""
    value, reference = _number(value), _number(reference)
    if value is None or not reference:
        return "–"
    return f"{value / reference:.2f}×"


def winner_of(metrics: dict[str, Any], candidates: dict[str, dict[str, Any]]) -> str | None:
    """The candidate the version serves: metrics["model"] when named, else the candidate whose
    figures are the version's (the popularity kind stores its candidate's dict as is)."""
    named = metrics.get("model")
    if isinstance(named, str) and named in candidates:
        return named
    for family, figures in candidates.items():
        shared = [k for k, v in figures.items() if _number(v) is not None]
        if shared and all(metrics.get(k) == figures[k] for k in shared):
            return family
    return None


def _cell(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "–"
    # Ranking metrics lie in [0, 1]; a whole number above that is a count (customers evaluated).
    return str(int(number)) if number.is_integer() and number > 1 else f"{number:.4f}"


def candidates_table(
    candidates: dict[str, dict[str, Any]], *, primary_metric: str, winner: str | None,
    caption: str = "",
) -> SafeString:  # fmt: skip
    """One row per candidate family, its metrics, and its primary metric over popularity's."""
    if not candidates:
        return format_html("<p>{}</p>", "No candidate metrics stored for this version.")
    columns = metric_columns(candidates)
    reference = candidates.get(REFERENCE, {}).get(primary_metric)
    header = format_html_join("", "<th>{}</th>", ((c,) for c in [*columns, "vs popularity"]))
    rows = []
    for family in sorted(candidates, key=lambda f: (f != winner, f)):  # the winner on top
        figures = candidates[family]
        cells = [_cell(figures.get(c)) for c in columns]
        cells.append(ratio(figures.get(primary_metric), reference))
        body = format_html_join("", "<td>{}</td>", ((c,) for c in cells))
        if family == winner:  # bold, and said in words for screen readers and copy-paste
            rows.append(
                format_html("<tr><th><strong>{} (winner)</strong></th>{}</tr>", family, body)
            )
        else:
            rows.append(format_html("<tr><th>{}</th>{}</tr>", family, body))
    return format_html(
        '<table class="model-candidates">{}<thead><tr><th>candidate</th>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        format_html("<caption>{}</caption>", caption) if caption else "",
        header,
        format_html_join("", "{}", ((row,) for row in rows)),
    )


def selection_caption(details: dict[str, Any]) -> str:
    """What the run's details say about the choice and serving (plain text; escaped later)."""
    parts = []
    if details.get("winner") and details.get("metric"):
        parts.append(
            f"{details['winner']} won on validation {details['metric']}; "
            "the figures below are on the held-out test split."
        )
    serving = details.get("serving")
    if isinstance(serving, dict) and serving:
        content = "on" if serving.get("content") else "off"
        parts.append(
            f"Serving: the winner for customers with at least {serving.get('min_history', '?')} "
            f"liked products; content tier {content}; "
            f"{serving.get('cold_products_reached', 0)} cold products reached through content."
        )
    return " ".join(parts)
