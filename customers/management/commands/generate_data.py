"""Write a synthetic dataset as files: customers, products and interactions, CSV or JSONL.

The CSV layout is the one the file importer reads: a header row; product tags joined
by "|"; attributes as a JSON string; an empty string for a missing product, value or
text. JSONL holds one generator row (the same dict) per line. Everything streams, so
millions of interactions need no more memory than a few thousand.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers.synthetic import SyntheticConfig, SyntheticDataset

CUSTOMER_FIELDS = ("external_id", "email", "attributes", "email_opt_in")
PRODUCT_FIELDS = (
    "external_id",
    "title",
    "description",
    "category",
    "price",
    "tags",
    "attributes",
    "is_active",
)
INTERACTION_FIELDS = ("event_id", "customer", "product", "kind", "value", "text", "occurred_at")


# One encoder for all rows: json.dumps builds a new one per call when given options.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _flat(value: object) -> object:
    """One CSV cell: JSON for objects, "|"-joined lists, lower-case booleans, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _json(value)
    if isinstance(value, list):
        return "|".join(value)
    return value


def add_dataset_arguments(parser, *, customers: int, products: int) -> None:
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--products", type=int, default=products)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="First day (YYYY-MM-DD, UTC); default 2026-01-01.",
    )


def config_from_options(options: dict, *, start: datetime | None = None) -> SyntheticConfig:
    chosen = options.get("start")
    if chosen is not None:
        start = datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)
    try:
        return SyntheticConfig(
            n_customers=options["customers"],
            n_products=options["products"],
            n_days=options["days"],
            seed=options["seed"],
            **({"start": start} if start is not None else {}),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = "Write a synthetic dataset (customers, products, interactions) to OUTDIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("outdir", type=Path)
        add_dataset_arguments(parser, customers=500, products=200)
        parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")

    def handle(self, *args, outdir: Path, format: str, **options) -> None:
        config = config_from_options(options)
        dataset = SyntheticDataset(config)
        outdir.mkdir(parents=True, exist_ok=True)
        quiet = options.get("verbosity", 1) == 0
        write = _write_csv if format == "csv" else _write_jsonl
        counts = {}
        with tqdm(total=config.n_customers, desc="customers", unit="row", disable=quiet) as bar:
            counts["customers"] = write(
                outdir / f"customers.{format}", CUSTOMER_FIELDS, dataset.customers(), bar.update
            )
        with tqdm(total=config.n_products, desc="products", unit="row", disable=quiet) as bar:
            counts["products"] = write(
                outdir / f"products.{format}", PRODUCT_FIELDS, dataset.products(), bar.update
            )
        with tqdm(
            total=config.n_customers, desc="interactions", unit="customer", disable=quiet
        ) as bar:
            counts["interactions"] = write(
                outdir / f"interactions.{format}",
                INTERACTION_FIELDS,
                _with_progress(dataset.interaction_batches(), bar),
                None,
            )
        summary = ", ".join(f"{n:,} {what}" for what, n in counts.items())
        self.stdout.write(f"Wrote {summary} to {outdir} ({format}).")


def _with_progress(batches: Iterable[tuple[int, list[dict]]], bar: tqdm) -> Iterable[dict]:
    for n_customers, rows in batches:
        yield from rows
        bar.update(n_customers)


def _write_csv(
    path: Path, fields: tuple[str, ...], rows: Iterable[dict], tick: Callable | None
) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        if fields == INTERACTION_FIELDS:  # the big file: only `value` can be None
            for row in rows:
                value = row["value"]
                writer.writerow(
                    (
                        row["event_id"],
                        row["customer"],
                        row["product"] or "",
                        row["kind"],
                        "" if value is None else value,
                        row["text"],
                        row["occurred_at"],
                    )
                )
                count += 1
            return count
        for row in rows:
            writer.writerow([_flat(row[f]) for f in fields])
            count += 1
            if tick:
                tick(1)
    return count


def _write_jsonl(
    path: Path, fields: tuple[str, ...], rows: Iterable[dict], tick: Callable | None
) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(_json(row) + "\n")
            count += 1
            if tick:
                tick(1)
    return count
