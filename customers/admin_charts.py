"""Pictures of the customer-intelligence models for the admin, drawn as inline SVG from what
the training run stored (no computation when a page opens): the segments' profiles and a
2-D map of them, and the propensity model's ROC curve and calibration.

Numbers go into the markup formatted as numbers; every text passes through format_html.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#f9a825", "#6a1b9a", "#00838f", "#ef6c00",
           "#4e342e", "#ad1457", "#546e7a")  # fmt: skip
SIZE, PAD = 260, 28


def _frame(title: str, body: str, x_label: str, y_label: str) -> SafeString:
    axes = (
        f'<line x1="{PAD}" y1="{SIZE - PAD}" x2="{SIZE - 6}" y2="{SIZE - PAD}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="6" x2="{PAD}" y2="{SIZE - PAD}" stroke="#999"/>'
    )
    return format_html(
        '<svg width="{}" height="{}" role="img" aria-label="{}" style="margin-right:16px">'
        '{}{}<text x="{}" y="{}" font-size="11">{}</text>'
        '<text x="4" y="14" font-size="11">{}</text></svg>',
        SIZE, SIZE, title, mark_safe(axes), mark_safe(body), SIZE // 2 - 20, SIZE - 8,
        x_label, y_label,
    )  # fmt: skip


def _xy(x: float, y: float) -> tuple[float, float]:
    """Unit square to SVG pixels (y up)."""
    return round(PAD + x * (SIZE - PAD - 6), 1), round(SIZE - PAD - y * (SIZE - PAD - 6), 1)


def segment_map_svg(picture: dict[str, Any], names: dict[str, str]) -> SafeString:
    points, segments = picture.get("points") or [], picture.get("segments") or []
    if not points:
        return format_html("<p>{}</p>", "No map stored for this version.")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    dx, dy = (max(xs) - x0) or 1.0, (max(ys) - y0) or 1.0
    dots = "".join(
        '<circle cx="{}" cy="{}" r="2.5" fill="{}" fill-opacity="0.7"/>'.format(
            *_xy((x - x0) / dx, (y - y0) / dy), PALETTE[int(s) % len(PALETTE)]
        )
        for (x, y), s in zip(points, segments, strict=True)
    )
    legend = format_html_join(
        " ", '<span style="color:{}">&#9679;</span> {}',
        ((PALETTE[int(s) % len(PALETTE)], names.get(str(s), f"segment {s}"))
         for s in sorted(set(segments))),
    )  # fmt: skip
    chart = _frame("segments on two principal components", dots, "component 1", "component 2")
    return format_html("{}<div>{}</div>", chart, legend)


def profile_table(profiles: list[dict[str, Any]]) -> SafeString:
    columns = ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value")
    head = format_html_join("", "<th>{}</th>", ((c,) for c in ("segment", "size", *columns)))
    rows = format_html_join(
        "", "<tr><td>{} · {}</td><td>{} ({}%)</td>{}<td>{}</td></tr>",
        ((p.get("id"), p.get("name", ""), p.get("size", 0), round(100 * p.get("share", 0), 1),
          format_html_join("", "<td>{}</td>", ((_fmt(p.get(c)),) for c in columns)),
          ", ".join(p.get("top_categories", [])))
         for p in profiles),
    )  # fmt: skip
    return format_html("<table><tr>{}<th>top categories</th></tr>{}</table>", head, rows)


def _fmt(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, int | float) else "–"


def segmentation_details(details: dict[str, Any]) -> SafeString:
    names = details.get("names", {})
    return format_html(
        "{}{}", profile_table(details.get("profiles", [])),
        segment_map_svg(details.get("map", {}), names),
    )  # fmt: skip


def roc_svg(points: list[list[float]]) -> SafeString:
    line = " ".join("{},{}".format(*_xy(x, y)) for x, y in points)
    chance = "{},{} {},{}".format(*_xy(0, 0), *_xy(1, 1))
    body = (
        f'<polyline points="{chance}" fill="none" stroke="#bbb" stroke-dasharray="4"/>'
        f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="2"/>'
    )
    return _frame("ROC curve", body, "false positive rate", "true positive rate")


def calibration_svg(rows: list[list[float]]) -> SafeString:
    top = max([1e-9, *(max(p, o) for p, o, _ in rows)])
    dots = "".join(
        '<circle cx="{}" cy="{}" r="4" fill="#c62828"><title>{}</title></circle>'.format(
            *_xy(p / top, o / top), f"predicted {p:.3f}, observed {o:.3f}, {n} customers"
        )
        for p, o, n in rows
    )
    diagonal = "{},{} {},{}".format(*_xy(0, 0), *_xy(1, 1))
    body = f'<polyline points="{diagonal}" fill="none" stroke="#bbb" stroke-dasharray="4"/>{dots}'
    return _frame(
        "calibration", body, f"predicted (0-{top:.2f})", f"observed purchase rate (0-{top:.2f})"
    )


def propensity_details(details: dict[str, Any], metrics: dict[str, Any]) -> SafeString:
    curves = details.get("curves") or {}
    if not curves:
        return format_html("<p>{}</p>", "No curves stored for this version.")
    summary = format_html(
        "<p>Quality: <b>{}</b> (ROC-AUC {} on the latest {}-day window; model {}, {} "
        "calibration)</p>",
        metrics.get("quality_band", "?"), _fmt_auc(metrics.get("roc_auc")),
        details.get("window_days", "?"), details.get("chosen", "?"),
        details.get("calibration", "?"),
    )  # fmt: skip
    return format_html(
        "{}{}{}", summary, roc_svg(curves.get("roc", [])),
        calibration_svg(curves.get("calibration", [])),
    )  # fmt: skip


def _fmt_auc(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"
