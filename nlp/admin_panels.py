"""HTML panels of the text admin: example counts, a classifier's held-out report (summary,
per-class table, confusion matrix), the try-it answers, similar terms, and the version-page
details of the `text` and `embeddings` kinds.

Each panel takes a selector's or service's dict and returns escaped HTML: every text goes
through format_html, so a tenant's labels and texts are shown, never interpreted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

NONE = "–"


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def percent(value: Any) -> str:
    number = _number(value)
    return NONE if number is None else f"{100 * number:.1f}%"


def decimal(value: Any, digits: int = 3) -> str:
    number = _number(value)
    return NONE if number is None else f"{number:.{digits}f}"


def table(head: Iterable[Any], rows: Iterable[Iterable[Any]], css: str = "") -> SafeString:
    return format_html(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        css,
        format_html_join("", "<th>{}</th>", ((h,) for h in head)),
        format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows
        )),
    )  # fmt: skip


def note(text: str) -> SafeString:
    return format_html("<p>{}</p>", text)


# --- examples ---------------------------------------------------------------------------------


def counts_table(
    counts: dict[str, dict[str, int]], link: Callable[[str, str], str] | None = None
) -> SafeString:
    """One row per task: its examples in all, then per label (largest first); each label
    count links to the list filtered on it when `link` is given."""
    if not counts:
        return note("No labelled examples yet: add some here or upload them over the API.")

    def label_cell(task: str, label: str, n: int) -> SafeString:
        if link is None:
            return format_html("{}: {}", label, n)
        return format_html('<a href="{}">{}: {}</a>', link(task, label), label, n)

    rows = (
        (task, sum(labels.values()), format_html_join(" · ", "{}", (
            (label_cell(task, label, n),)
            for label, n in sorted(labels.items(), key=lambda item: (-item[1], item[0]))
        )))
        for task, labels in sorted(counts.items())
    )  # fmt: skip
    return table(("task", "examples", "per label"), rows, css="example-counts")


# --- a classifier's held-out report -----------------------------------------------------------


def metrics_summary(report: dict[str, Any]) -> SafeString:
    """Accuracy and macro-F1 against always answering the most frequent label."""
    chosen = report.get("chosen") or {}
    rows = (
        ("accuracy", percent(report.get("accuracy")), percent(report.get("majority_accuracy"))),
        ("macro-F1", decimal(report.get("macro_f1")), decimal(report.get("majority_macro_f1"))),
    )
    trained_on = (
        f"Trained on {report.get('texts', NONE)} texts ({report.get('weak_labels', 0)} labelled "
        f"by their star rating); scored on {report.get('n', NONE)} held-out texts it never saw. "
        f"Model: {chosen.get('candidate', NONE)}, cross-validated macro-F1 "
        f"{decimal(report.get('cv_macro_f1'))}."
    )
    return format_html(
        "{}<p>{}</p>",
        table(("held-out metric", "classifier", f"always '{report.get('majority_class', '?')}'"),
              rows, css="task-metrics"),
        trained_on,
    )  # fmt: skip


def per_class_table(report: dict[str, Any]) -> SafeString:
    per_class = report.get("per_class") or {}
    rows = (
        (label, decimal(c.get("precision")), decimal(c.get("recall")), decimal(c.get("f1")),
         c.get("support", NONE))
        for label, c in ((label, per_class.get(label, {})) for label in _labels(report))
    )  # fmt: skip
    return table(("label", "precision", "recall", "F1", "held-out texts"), rows, css="per-class")


def confusion_table(report: dict[str, Any]) -> SafeString:
    """Rows: the true label; columns: what the classifier answered; the diagonal is right."""
    labels, matrix = _labels(report), report.get("confusion_matrix") or []
    if not labels or len(matrix) != len(labels):
        return note("No confusion matrix stored.")
    head = format_html_join("", '<th scope="col">{}</th>', ((label,) for label in labels))
    rows = format_html_join("", "<tr>{}</tr>", (
        (format_html('<th scope="row">{}</th>{}', true, format_html_join("", "{}", (
            (format_html("<td><strong>{}</strong></td>", n) if i == j
             else format_html("<td>{}</td>", n),)
            for j, n in enumerate(row)
        ))),)
        for i, (true, row) in enumerate(zip(labels, matrix, strict=True))
    ))  # fmt: skip
    return format_html(
        '<table class="confusion-matrix"><caption>rows: true label · columns: predicted'
        '</caption><thead><tr><th>true \\ predicted</th>{}</tr></thead><tbody>{}</tbody></table>',
        head, rows,
    )  # fmt: skip


def _labels(report: dict[str, Any]) -> list[str]:
    return [str(label) for label in report.get("labels") or report.get("per_class") or []]


def task_report(report: dict[str, Any] | None) -> SafeString:
    if not report:
        return note(
            "No classifier for this task in the active text model: it needs at least two labels "
            "with 10 or more examples each, then a training run of the 'text' kind."
        )
    return format_html(
        "{}<h4>Per label</h4>{}<h4>Confusion matrix</h4>{}",
        metrics_summary(report), per_class_table(report), confusion_table(report),
    )  # fmt: skip


# --- try it -----------------------------------------------------------------------------------


def classification_table(texts: list[str], results: list[dict[str, Any]]) -> SafeString:
    def probabilities(found: dict[str, float]) -> str:
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{label} {percent(p)}" for label, p in ranked)

    rows = (
        (text, format_html("<strong>{}</strong>", result["label"]),
         probabilities(result["probabilities"]))
        for text, result in zip(texts, results, strict=True)
    )  # fmt: skip
    return table(("text", "label", "probabilities"), rows, css="classified")


def similar_terms_table(term: str, results: list[dict[str, Any]]) -> SafeString:
    if not results:
        return note(f"No word is used like {term!r}.")
    rows = ((r["term"], decimal(r["similarity"])) for r in results)
    return format_html(
        "<p>Words used like <strong>{}</strong>:</p>{}",
        term, table(("term", "cosine similarity"), rows, css="similar-terms"),
    )  # fmt: skip


# --- version pages (training.admin.DETAIL_RENDERERS) -----------------------------------------


def text_details(details: dict[str, Any], metrics: dict[str, Any]) -> SafeString:
    """Each task's held-out metrics in one table, then each task's confusion matrix."""
    tasks = details.get("tasks") or {}
    if not isinstance(tasks, dict):
        tasks = {}
    rows = (
        (task, r.get("texts", NONE), r.get("n", NONE), percent(r.get("accuracy")),
         percent(r.get("majority_accuracy")), decimal(r.get("macro_f1")),
         decimal(r.get("majority_macro_f1")), (r.get("chosen") or {}).get("candidate", NONE))
        for task, r in sorted(tasks.items())
    )  # fmt: skip
    summary = table(
        ("task", "texts", "held out", "accuracy", "majority accuracy", "macro-F1",
         "majority macro-F1", "model"), rows, css="text-tasks",
    ) if tasks else note("No task was trained.")  # fmt: skip
    matrices = format_html_join("", "<h4>{}: confusion matrix</h4>{}", (
        (task, confusion_table(report)) for task, report in sorted(tasks.items())
    ))  # fmt: skip
    skipped = details.get("skipped") or {}
    skipped_note = (
        note("Not trained (too few labels): "
             + "; ".join(f"{task}: {reason}" for task, reason in sorted(skipped.items())))
        if isinstance(skipped, dict) and skipped else ""
    )  # fmt: skip
    return format_html("{}{}{}", summary, matrices, skipped_note)


def embeddings_details(details: dict[str, Any], metrics: dict[str, Any]) -> SafeString:
    """Held-out category agreement against chance, and the sizes of what was learnt."""
    # The chance level is the version's baseline metric; the renderer only gets the run's
    # details and the version's metrics, so it shows it when the trainer stored it there.
    chance = details.get("chance_agreement", metrics.get("chance_agreement"))
    rows = (
        ("held-out products next to their own category",
         percent(metrics.get("category_agreement")),
         percent(chance) if chance is not None else "see baseline metrics"),
        ("vocabulary (words with a vector)", _count(metrics.get("vocabulary")), ""),
        ("products with an item2vec vector", _count(metrics.get("item_vectors")), ""),
        ("sentences learnt from", _count(details.get("sentences")), ""),
        ("customer product sequences", _count(details.get("sequences")), ""),
    )  # fmt: skip
    return table(("", "value", "chance"), rows, css="embeddings-metrics")


def _count(value: Any) -> str:
    number = _number(value)
    return NONE if number is None else f"{int(number):,}"
