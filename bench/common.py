"""Shared set-up for the benchmarks: Django on the configured database, machine facts,
and fast bulk loading of synthetic rows (as the superuser, outside anything measured)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import facts  # noqa: E402
import numpy as np  # noqa: E402
import psycopg  # noqa: E402

SUPER_URL = os.environ.get("BENCH_SUPER_URL", "postgres://postgres@127.0.0.1:5432/mip")


def machine() -> str:
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pg = "psql not found"
    return f"{facts.machine()}, {pg}"


def copy_rows(table: str, columns: list[str], rows) -> None:
    """COPY rows into a table as the superuser (bench set-up only; RLS forbids it for the app)."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with psycopg.connect(SUPER_URL) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def copy_customers(rows) -> None:
    """Bare customers from (tenant_id, external_id) pairs."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    copy_rows(
        "customers_customer",
        ["tenant_id", "external_id", "email", "attributes", "email_opt_in", "created_at",
         "updated_at"],
        ((tenant_id, external_id, "", "{}", False, now, now) for tenant_id, external_id in rows),
    )  # fmt: skip


def id_map(table: str, tenant_id: int) -> dict[str, int]:
    with psycopg.connect(SUPER_URL) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT external_id, id FROM {table} WHERE tenant_id = %s", [tenant_id])
        return dict(cur.fetchall())


def load_synthetic_interactions(
    tenant_id: int,
    *,
    interactions: int,
    customers: int,
    products: int,
    days: int = 180,
    seed: int = 0,
) -> None:
    """Customers, products and interactions with Zipf-like product popularity."""
    from datetime import UTC, datetime

    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    copy_customers((tenant_id, f"c{i}") for i in range(customers))
    copy_rows(
        "customers_product",
        ["tenant_id", "external_id", "title", "description", "category", "tags", "attributes",
         "is_active", "created_at", "updated_at"],
        ((tenant_id, f"p{i}", f"Product {i}", "", f"cat{i % 20}", "[]", "{}", True, now, now)
         for i in range(products)),
    )  # fmt: skip
    customer_ids = id_map("customers_customer", tenant_id)
    product_ids = id_map("customers_product", tenant_id)
    cust = np.array([customer_ids[f"c{i}"] for i in range(customers)])
    prod = np.array([product_ids[f"p{i}"] for i in range(products)])
    popularity = 1.0 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    who = cust[rng.integers(0, customers, interactions)]
    what = prod[rng.choice(products, size=interactions, p=popularity)]
    kinds = rng.choice(
        ["view", "click", "add_to_cart", "purchase"], size=interactions, p=[0.6, 0.2, 0.12, 0.08]
    )
    start = now.timestamp() - days * 86_400
    times = np.sort(rng.uniform(start, now.timestamp(), interactions))
    copy_rows(
        "customers_interaction",
        ["tenant_id", "event_id", "customer_id", "product_id", "kind", "value", "text",
         "occurred_at", "received_at"],
        ((tenant_id, f"e{i}", int(who[i]), int(what[i]), str(kinds[i]),
          20.0 if kinds[i] == "purchase" else None, "",
          datetime.fromtimestamp(float(times[i]), UTC), now)
         for i in range(interactions)),
    )  # fmt: skip
    with psycopg.connect(SUPER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE customers_interaction")


def load_synthetic_dataset(tenant_id: int, dataset) -> int:
    """A customers.synthetic dataset (planted tastes, real product text) copied in as the
    superuser; returns the number of interactions."""
    import json
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    copy_customers((tenant_id, row["external_id"]) for row in dataset.customers())
    copy_rows(
        "customers_product",
        ["tenant_id", "external_id", "title", "description", "category", "tags", "attributes",
         "is_active", "created_at", "updated_at"],
        ((tenant_id, p["external_id"], p["title"], p["description"], p["category"],
          json.dumps(p["tags"]), json.dumps(p["attributes"]), p["is_active"], now, now)
         for p in dataset.products()),
    )  # fmt: skip
    customer_ids = id_map("customers_customer", tenant_id)
    product_ids = id_map("customers_product", tenant_id)
    count = 0

    def rows():
        nonlocal count
        for _, batch in dataset.interaction_batches():
            count += len(batch)
            for r in batch:
                yield (tenant_id, r["event_id"], customer_ids[r["customer"]],
                       product_ids[r["product"]], r["kind"], r["value"], r["text"],
                       r["occurred_at"], now)  # fmt: skip

    copy_rows(
        "customers_interaction",
        [
            "tenant_id",
            "event_id",
            "customer_id",
            "product_id",
            "kind",
            "value",
            "text",
            "occurred_at",
            "received_at",
        ],
        rows(),
    )
    with psycopg.connect(SUPER_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE customers_interaction")
    return count


def delete_tenants(slug_prefix: str) -> None:
    """Remove bench tenants and all their rows (foreign keys are deferred to commit)."""
    from tenants.rls import tenant_owned_models

    with psycopg.connect(SUPER_URL) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM tenants_tenant WHERE slug LIKE %s", [slug_prefix + "%"]
        )]  # fmt: skip
        for model in tenant_owned_models():
            table = model._meta.db_table
            # A model whose migration this database has not had yet has no rows to remove.
            if conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is not None:
                conn.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s)", [ids])
        conn.execute("DELETE FROM tenants_membership WHERE tenant_id = ANY(%s)", [ids])
        conn.execute("DELETE FROM tenants_tenant WHERE id = ANY(%s)", [ids])


@contextlib.contextmanager
def gunicorn_server(port: int, workers: int, **env: str) -> Iterator[subprocess.Popen]:
    """gunicorn with the production settings (config/gunicorn.py) on 127.0.0.1:port."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py",
         "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "LOG_LEVEL": "WARNING", **env},
    )  # fmt: skip
    try:
        for _ in range(150):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/readyz")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait()


# wrk's summary as one JSON line (latencies in ms): every wrk script of the benchmarks ends so.
WRK_DONE_LUA = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "errors": %d, '
    .. '"error_kinds": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
    .. '"p50": %f, "p90": %f, "p99": %f, "max": %f}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def run_wrk(script: str, url: str, seconds: float, connections: int, threads: int = 1,
            timeout: str = "5s") -> dict:  # fmt: skip
    """Run wrk with a Lua script (WRK_DONE_LUA appended); its RESULT line, with "rps"."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_DONE_LUA)
    completed = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
         "--timeout", timeout, "-s", handle.name, url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    Path(handle.name).unlink()
    line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def process_tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's master and workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmRSS:"))  # fmt: skip
        pending += [int(child) for child in children]
    return total / 1024
