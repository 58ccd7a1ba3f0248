"""Benchmark: the retrain fan-out over 1,000 tenants of which 10 have new data.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/fan_out.py

Set-up (not timed): 1,000 tenants, each with a few interactions and an active popularity
version whose watermark covers them; 10 tenants then receive 200 new interactions. Timed:
`retraining_fan_out()` as the application role, with the queries it issues counted.
Bars: under 5 s and under 100 queries. The 10 runs it queues are published to Redis
(database 14, purged afterwards). Reference in the same run: one trivial query's round trip.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
import redis
from common import SUPER_URL, copy_customers, copy_rows, delete_tenants, machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.context import tenant_scope
from tenants.models import Tenant
from training.models import TrainingRun
from training.scheduling import retraining_fan_out

SLUG = "bench-fanout-"


def _setup(tenants: int, with_new_data: int) -> list[int]:
    Tenant.objects.bulk_create(
        [Tenant(slug=f"{SLUG}{i:05d}", name=f"Fan-out {i}") for i in range(tenants)]
    )
    ids = list(
        Tenant.objects.filter(slug__startswith=SLUG).order_by("slug").values_list("id", flat=True)
    )
    now = datetime.now(UTC)
    copy_customers((t, "c1") for t in ids)
    with psycopg.connect(SUPER_URL) as conn:
        customers = dict(conn.execute(
            "SELECT tenant_id, id FROM customers_customer WHERE tenant_id = ANY(%s)", [ids]
        ).fetchall())  # fmt: skip

    def events(tenant_ids, n, prefix):
        for t in tenant_ids:
            for i in range(n):
                yield (t, f"{prefix}{i}", customers[t], None, "purchase", 10.0, "", now, now)

    columns = ["tenant_id", "event_id", "customer_id", "product_id", "kind", "value", "text",
               "occurred_at", "received_at"]  # fmt: skip
    copy_rows("customers_interaction", columns, events(ids, 5, "old"))
    with psycopg.connect(SUPER_URL) as conn:
        marks = dict(conn.execute(
            "SELECT tenant_id, max(id) FROM customers_interaction WHERE tenant_id = ANY(%s) "
            "GROUP BY tenant_id", [ids]
        ).fetchall())  # fmt: skip
        trained = now - timedelta(days=2)
        with conn.cursor() as cur:
            with cur.copy(
                "COPY training_modelversion (tenant_id, kind, version, status, primary_metric, "
                "metrics, baseline_metrics, candidates, rejection_reason, artifact_path, "
                "artifact_sha256, library_versions, watermark, watermark_interaction_id, "
                "created_at) FROM STDIN"
            ) as copy:
                for t in ids:
                    copy.write_row((t, "popularity", 1, "active", "ndcg@10", '{"ndcg@10": 0.2}',
                                    "{}", "{}", "", "/dev/null", "0" * 64, "{}", "{}", marks[t],
                                    trained))  # fmt: skip
            cur.execute(
                "INSERT INTO training_activemodel (tenant_id, kind, version_id, activated_at) "
                "SELECT tenant_id, kind, id, created_at FROM training_modelversion "
                "WHERE tenant_id = ANY(%s)",
                [ids],
            )
    copy_rows("customers_interaction", columns, events(ids[:with_new_data], 200, "new"))
    with psycopg.connect(SUPER_URL, autocommit=True) as conn:
        conn.execute("ANALYZE customers_interaction")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--with-new-data", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert settings.REDIS_URL, "set REDIS_URL so queued runs are published to a real broker"
    delete_tenants(SLUG)
    ids = _setup(args.tenants, args.with_new_data)
    try:
        timings, queries, reference = [], [], []
        for _ in range(args.repeat):
            with connection.cursor() as cursor:
                t0 = time.perf_counter()
                cursor.execute("SELECT 1")
                reference.append(time.perf_counter() - t0)
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                report = retraining_fan_out()
                timings.append(time.perf_counter() - t0)
            queries.append(len(captured))
            assert len(report.queued) == args.with_new_data, (report, len(ids))
            # Reset for the next repetition: the queued runs would make those tenants busy.
            with tenant_scope(tenants=ids):
                TrainingRun.objects.all().delete()
        print(f"machine: {machine()}")
        print(f"tenants: {args.tenants}, with new data: {args.with_new_data}")
        print(f"fan-out: median {statistics.median(timings):.3f} s, max {max(timings):.3f} s "
              f"(bar < 5 s); queries: {max(queries)} (bar < 100)")  # fmt: skip
        print(f"reference round trip (SELECT 1): {statistics.median(reference) * 1000:.2f} ms")
    finally:
        delete_tenants(SLUG)
        redis.Redis.from_url(settings.REDIS_URL).flushdb()


if __name__ == "__main__":
    main()
