"""The campaign report's picture for the admin: cumulative conversion rate per day since the
launch, treatment against the holdout control, as inline SVG (no JavaScript library).

Pure: it draws the `daily` series campaigns.selectors.campaign_report returns, nothing else.
The frame, palette and unit-square mapping are the customers charts', so every chart in the
admin looks alike. Numbers go into the markup formatted as numbers; text goes through
format_html.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from customers.admin_charts import PAD, PALETTE, _frame, _xy

SERIES = (("treatment", PALETTE[0]), ("control", PALETTE[1]))
EMPTY_SCALE = 0.01  # nobody converted yet: draw the flat lines against a 0-1% axis
HEADROOM = 1.25  # the highest point stays below the legend in the top-left corner


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def cumulative_conversions_svg(daily: list[dict[str, Any]]) -> SafeString:
    """One polyline per group with recipients (a dot per day, its numbers in a tooltip),
    a legend, and axes saying the days shown and the rate scale. An empty series (not
    launched) is a sentence instead; a one-day series is a dot per group."""
    if not daily:
        return format_html("<p>{}</p>", "No data yet: the chart starts when the campaign launches.")
    rates = {group: _rates(daily, group) for group, _ in SERIES}
    top = max((r for found in rates.values() if found for r in found), default=0.0)
    top = top * HEADROOM or EMPTY_SCALE
    span = max(len(daily) - 1, 1)
    parts: list[SafeString] = []
    for group, colour in SERIES:
        if rates[group] is None:
            continue
        points = [_xy(i / span, rate / top) for i, rate in enumerate(rates[group])]
        parts.append(format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
            " ".join(f"{x},{y}" for x, y in points), colour,
        ))  # fmt: skip
        parts.append(format_html_join(
            "", '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}</title></circle>',
            ((x, y, colour,
              f"{point['day']}: {group} {_percent(rate)} ({point.get(group, 0)} converted)")
             for (x, y), point, rate in zip(points, daily, rates[group], strict=True)),
        ))  # fmt: skip
    legend = (
        (group if rates[group] is not None else f"{group} (no recipients)", colour, y)
        for (group, colour), y in zip(SERIES, (30, 44), strict=True)
    )
    parts.append(format_html_join(
        "", '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/>'
        '<text x="{}" y="{}" font-size="11">{}</text>',
        ((PAD + 8, y, PAD + 22, y, colour, PAD + 26, y + 4, label) for label, colour, y in legend),
    ))  # fmt: skip
    # _frame escapes its labels and trusts its body: built above through format_html only.
    return _frame(
        "cumulative conversion rate per day, treatment against control",
        format_html_join("", "{}", ((part,) for part in parts)),
        f"{len(daily)} day(s) from {daily[0]['day']}",
        f"cumulative conversion rate (0-{_percent(top)})",
    )


def _rates(daily: list[dict[str, Any]], group: str) -> list[float] | None:
    """The group's cumulative rate per day; None when the group has no recipients."""
    rates = [point.get(f"{group}_rate") for point in daily]
    return None if any(rate is None for rate in rates) else [float(r) for r in rates]
