"""Benchmark: `import_interactions` (app role, RLS on) against a raw COPY of the same rows.

Run from the project root, against a migrated PostgreSQL database (`mip`):

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip \\
        .venv/bin/python bench/import_interactions.py --rows 1000000

It generates a deterministic CSV of N interactions, then, each into a fresh tenant:
(a) raw reference: `COPY customers_interaction (...) FROM STDIN` of the same rows with
    customer and product ids resolved beforehand, as the superuser (`--super-url`,
    default postgres://postgres@127.0.0.1:5432/mip), because row-level security
    forbids COPY FROM for the app role; only the COPY is timed;
(b) `manage.py import_interactions SLUG FILE` through the real command code, as the
    app role, timed end to end (read, validate, stage, create customers/products,
    insert). Both tenants are deleted afterwards and the table vacuumed.
It prints rows/s for each, the ratio, and the machine. Bars: >= 50,000 rows/s and
>= 40% of raw COPY. `--repeat 3` runs both three times and reports the median.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from tenants.models import Tenant  # noqa: E402

HEADER = ["event_id", "customer", "product", "kind", "value", "text", "occurred_at"]
KINDS = ["view"] * 60 + ["click"] * 20 + ["add_to_cart"] * 10 + ["purchase"] * 7 + ["rating"] * 3
TEXTS = ["", "", "", "", "great fit", "too small, sent it back", "would buy again"]
NULL = "\\N"
COLUMNS = (
    "tenant_id, event_id, customer_id, product_id, kind, value, text, occurred_at, received_at"
)


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A deterministic interaction file: ~rows/10 customers, rows/200 products."""
    rng = random.Random(seed)
    customers = max(1, rows // 10)
    products = max(1, rows // 200)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            kind = rng.choice(KINDS)
            value = ""
            if kind == "purchase":
                value = f"{rng.uniform(5, 300):.2f}"
            elif kind == "rating":
                value = str(rng.randint(1, 5))
            moment = start + timedelta(seconds=rng.randrange(365 * 86400))
            writer.writerow(
                [
                    f"evt-{n:09d}",
                    f"cust-{rng.randrange(customers):07d}",
                    f"sku-{rng.randrange(products):06d}",
                    kind,
                    value,
                    rng.choice(TEXTS) if kind == "rating" else "",
                    moment.isoformat().replace("+00:00", "Z"),
                ]
            )


def raw_copy(super_url: str, tenant_id: int, path: Path) -> float:
    """Seconds for the COPY alone, ids resolved beforehand, as the superuser."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    with psycopg.connect(super_url) as conn, conn.cursor() as cur:
        for table, column in (("customers_customer", 1), ("customers_product", 2)):
            ids = sorted({row[column] for row in rows})
            extra = (
                "email, attributes, email_opt_in"
                if table == "customers_customer"
                else "title, description, category, tags, attributes, is_active"
            )
            values = (
                "'', '{}', false"
                if table == "customers_customer"
                else "'', '', '', '[]', '{}', true"
            )
            cur.execute(
                f"INSERT INTO {table} (tenant_id, external_id, {extra}, created_at, updated_at) "
                f"SELECT %s, x, {values}, now(), now() FROM unnest(%s::text[]) x",
                [tenant_id, ids],
            )
        conn.commit()
        cur.execute(
            "SELECT external_id, id FROM customers_customer WHERE tenant_id = %s", [tenant_id]
        )
        customer_ids = dict(cur.fetchall())
        cur.execute(
            "SELECT external_id, id FROM customers_product WHERE tenant_id = %s", [tenant_id]
        )
        product_ids = dict(cur.fetchall())
        payload = io.StringIO()
        now = datetime.now(UTC).isoformat()
        for event_id, customer, product, kind, value, text, occurred_at in rows:
            payload.write(
                f"{tenant_id}\t{event_id}\t{customer_ids[customer]}\t{product_ids[product]}\t"
                f"{kind}\t{value or NULL}\t{text}\t{occurred_at}\t{now}\n"
            )
        data = payload.getvalue().encode()
        del rows, payload
        started = time.perf_counter()
        with cur.copy(f"COPY customers_interaction ({COLUMNS}) FROM STDIN") as copy:
            copy.write(data)
        conn.commit()
        return time.perf_counter() - started


def drop_tenant(super_url: str, tenant_id: int) -> None:
    with psycopg.connect(super_url, autocommit=True) as conn:
        for table in ("customers_interaction", "customers_customer", "customers_product"):
            conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])
        conn.execute("DELETE FROM tenants_tenant WHERE id = %s", [tenant_id])
        # Keep runs comparable: no dead index entries left for the next one.
        for table in ("customers_interaction", "customers_customer", "customers_product"):
            conn.execute(f"VACUUM ANALYZE {table}")


def machine(super_url: str) -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(memory) / 1024 / 1024:.1f} GiB"
    except OSError:
        memory = "unknown"
    with psycopg.connect(super_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "postgresql": version,
        "python": platform.python_version(),
        "load average before": load,
    }


def run_once(super_url: str, path: Path, rows: int, run: int) -> tuple[float, float]:
    stamp = f"{os.getpid()}-{run}"
    raw_tenant = Tenant.objects.create(slug=f"bench-raw-{stamp}", name="bench raw COPY")
    try:
        raw_seconds = raw_copy(super_url, raw_tenant.pk, path)
    finally:
        drop_tenant(super_url, raw_tenant.pk)
    tenant = Tenant.objects.create(slug=f"bench-import-{stamp}", name="bench import")
    try:
        out = io.StringIO()
        started = time.perf_counter()
        call_command("import_interactions", tenant.slug, str(path), "--no-progress", stdout=out)
        import_seconds = time.perf_counter() - started
        print(out.getvalue())
        with psycopg.connect(super_url) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM customers_interaction WHERE tenant_id = %s", [tenant.pk]
            ).fetchone()[0]
        assert stored == rows, f"imported {stored:,} rows, expected {rows:,}"
    finally:
        drop_tenant(super_url, tenant.pk)
    return rows / raw_seconds, rows / import_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--super-url",
        default=os.environ.get("BENCH_SUPERUSER_URL", "postgres://postgres@127.0.0.1:5432/mip"),
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the app role on PostgreSQL (see the docstring).")
    info = machine(args.super_url)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = Path(tmp) / "interactions.csv"
        started = time.perf_counter()
        write_csv(path, args.rows)
        print(
            f"Generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        results = [run_once(args.super_url, path, args.rows, run) for run in range(args.repeat)]
    raw = statistics.median(r[0] for r in results)
    imported = statistics.median(r[1] for r in results)
    # Each run's two figures come from back-to-back measurements; pair them for the ratio.
    ratio = statistics.median(i / r for r, i in results)
    for key, value in info.items():
        print(f"{key:>20}: {value}")
    for run, (r, i) in enumerate(results, 1):
        print(f"run {run}: raw COPY {r:,.0f} rows/s, import {i:,.0f} rows/s, {i / r:.0%}")
    print(f"raw COPY (median)            {raw:>10,.0f} rows/s")
    print(f"import_interactions (median) {imported:>10,.0f} rows/s  (bar: 50,000)")
    print(f"ratio (median of runs)       {ratio:>10.0%}  (bar: 40%)")


if __name__ == "__main__":
    main()
