"""Benchmark: customer intelligence for a tenant with 1,000,000 customers on PostgreSQL.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/customer_intelligence.py

A bench tenant gets 1,000,000 customers, 20,000 products in 20 categories and 3,000,000
interactions over 180 days (Zipf-like product popularity; copied in as the superuser,
outside anything measured). Measured as the application role:

- features: `customer_feature_matrix` for every customer (two queries: top categories,
  one GROUP BY customer), against a bare `SELECT customer_id, count(*) ... GROUP BY
  customer_id` over the same rows in the same run (the reference);
- segmentation: one whole `segmentation` training run (features, clustering with the
  choice of k, evaluation, storing a segment for every customer, activation);
- a rule segment: the count of a filter mixing consent, features, the model segment and a
  behaviour condition, compiled to one query (when the campaigns app provides it).

Bars: features under 60 s, segmentation under 60 s, a rule segment count under 2 s.
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import SUPER_URL, delete_tenants, load_synthetic_interactions, machine

from customers.selectors import customer_feature_matrix
from tenants.context import tenant_scope
from tenants.services import tenant_create
from training import services

SLUG = "bench-intel-"


def timed(function, *args, **kwargs) -> tuple[float, object]:
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - began, result


def bare_group_by(tenant_id: int) -> float:
    with psycopg.connect(SUPER_URL) as conn:
        began = time.perf_counter()
        rows = conn.execute(
            "SELECT customer_id, count(*) FROM customers_interaction WHERE tenant_id = %s "
            "GROUP BY customer_id",
            [tenant_id],
        ).fetchall()
        assert rows
        return time.perf_counter() - began


def rule_count(tenant) -> tuple[float, int] | None:
    try:
        from campaigns.selectors import segment_customers
    except ImportError:
        return None
    rule = {
        "and": [
            {"field": "frequency", "op": "gte", "value": 1},
            {"field": "recency_days", "op": "lte", "value": 90},
            {"or": [{"field": "segment", "op": "in", "value": [0, 1]},
                    {"field": "monetary", "op": "gt", "value": 50}]},
            {"behaviour": {"kind": "view", "category": "cat1", "within_days": 60}},
        ]
    }  # fmt: skip
    with tenant_scope(tenant):
        seconds, count = timed(lambda: segment_customers(tenant=tenant, filter=rule).count())
    return seconds, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--interactions", type=int, default=3_000_000)
    parser.add_argument("--products", type=int, default=20_000)
    args = parser.parse_args()
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench intelligence")
    try:
        began = time.perf_counter()
        load_synthetic_interactions(
            tenant.pk, interactions=args.interactions, customers=args.customers,
            products=args.products,
        )  # fmt: skip
        print(f"set-up (COPY as superuser, not measured): {time.perf_counter() - began:.0f} s")
        reference = bare_group_by(tenant.pk)
        feature_seconds, features = timed(customer_feature_matrix, tenant=tenant)
        segmentation_seconds, run = timed(
            services.training_run_train_now, tenant=tenant, kind="segmentation"
        )
        if run.status != "succeeded":
            raise SystemExit(f"segmentation failed: {run.error}")
        stages = run.metrics.get("stage_seconds", {})
        with psycopg.connect(SUPER_URL, autocommit=True) as conn:  # as autovacuum would
            conn.execute("ANALYZE customers_customer")
            conn.execute("ANALYZE customers_customerprediction")
        rule = rule_count(tenant)
        print(f"machine: {machine()}")
        print(f"tenant: {args.customers:,} customers, {args.products:,} products, "
              f"{args.interactions:,} interactions")  # fmt: skip
        print("| measurement | seconds | bar |")
        print("|---|---:|---|")
        print(f"| reference: bare GROUP BY customer_id count(*) | {reference:.1f} | |")
        print(f"| features for {len(features.customer_ids):,} customers x "
              f"{len(features.names)} columns | {feature_seconds:.1f} | < 60 s |")  # fmt: skip
        print(f"| segmentation run (k = {run.metrics['metrics'].get('k'):.0f}, silhouette "
              f"{run.metrics['metrics'].get('silhouette'):.3f}) | {segmentation_seconds:.1f} "
              "| < 60 s |")  # fmt: skip
        print(f"| of which: load {stages.get('load', 0):.1f}, fit and evaluate "
              f"{stages.get('fit_and_evaluate', 0):.1f}, store and activate "
              f"{stages.get('store_and_activate', 0):.1f} | | |")  # fmt: skip
        if rule is None:
            print(
                "| rule segment count | not measured: campaigns.selectors not available | < 2 s |"
            )
        else:
            print(f"| rule segment count ({rule[1]:,} customers) | {rule[0]:.2f} | < 2 s |")
    finally:
        delete_tenants(SLUG)


if __name__ == "__main__":
    main()
