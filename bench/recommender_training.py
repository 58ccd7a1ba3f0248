"""Benchmark: one whole recommender training run for a large tenant, against bare `implicit`.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/recommender_training.py

A bench tenant gets the demo generator's shop (customers.synthetic: planted tastes over
10 categories, real product text, seasonality, churn) with 100,000 customers and 20,000
products over 15 days: about 1,040,000 interactions, copied in as the superuser outside
anything measured. Measured:
`training_run_train_now(kind="recommender")` with the tenant's default time budget, as a
worker runs it: reading the interactions as the application role, the budgeted candidate
search (ALS, BPR, PureSVD, item-kNN, EASE when it fits, content, blends; popularity as
the baseline) on a time split, the winner's refit on all data, the content and
popularity companions, storing and activating. Reference in the same run: a bare
`implicit` ALS fit (64 factors, 15 iterations, 2 threads) on the same confidence matrix.
Bar: the whole run within 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time

from common import delete_tenants, load_synthetic_dataset, machine

from customers.synthetic import SyntheticConfig, SyntheticDataset
from recommender.ml.base import blas_threads
from recommender.ml.matrix import build_matrices
from recommender.selectors import interaction_arrays
from tenants.services import tenant_create
from training import services

SLUG = "bench-rectrain-"


def bare_implicit_fit(matrix) -> float:
    from implicit.cpu.als import AlternatingLeastSquares

    confidence = matrix.copy()
    confidence.data = 1.0 + 2.0 * confidence.data
    with blas_threads(1):
        model = AlternatingLeastSquares(factors=64, iterations=15, num_threads=2, random_state=0)
        began = time.perf_counter()
        model.fit(confidence, show_progress=False)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--time-budget", type=float, default=None,
                        help="search budget in seconds (default: the tenant default)")  # fmt: skip
    args = parser.parse_args()
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench recommender training")
    try:
        began = time.perf_counter()
        config = SyntheticConfig(
            n_customers=args.customers, n_products=args.products, n_days=args.days, seed=1
        )
        interactions = load_synthetic_dataset(tenant.pk, SyntheticDataset(config))
        print(f"set-up (COPY as superuser, not measured): {time.perf_counter() - began:.0f} s")

        arrays, _ = interaction_arrays(tenant=tenant)
        reference = bare_implicit_fit(build_matrices(arrays).confidence)

        parameters = {} if args.time_budget is None else {"time_budget": args.time_budget}
        began = time.perf_counter()
        run = services.training_run_train_now(
            tenant=tenant, kind="recommender", parameters=parameters
        )
        total = time.perf_counter() - began
        if run.status != "succeeded":
            raise SystemExit(f"training failed: {run.error}")
        details = run.metrics["details"]
        print(f"machine: {machine()}")
        print(f"tenant: {interactions:,} interactions, {args.customers:,} customers, "
              f"{args.products:,} products")  # fmt: skip
        print(f"whole recommender run: {total:.0f} s (bar <= 300 s); "
              f"search {details['search_seconds']:.0f} s")  # fmt: skip
        print(f"stages: {run.metrics.get('stage_seconds')}")
        print(f"reference, bare implicit ALS fit (64 factors, 15 iterations): {reference:.1f} s")
        print(f"winner: {details['winner']} {details['winner_params']}")
        print("| candidate | val NDCG@10 | test NDCG@10 | test P@10 | test R@10 | coverage |")
        print("|---|---:|---:|---:|---:|---:|")
        for family, test in sorted(details["test"].items()):
            val = details["validation"].get(family, {})
            print(f"| {family} | {val.get('ndcg@10', float('nan')):.4f} | {test['ndcg@10']:.4f} | "
                  f"{test['precision@10']:.4f} | {test['recall@10']:.4f} | "
                  f"{test.get('coverage', float('nan')):.3f} |")  # fmt: skip
        print(f"skipped: {details['skipped']}; untried configurations: {details['untried']}")
        trials = details["trials"]
        print(f"trials: {len(trials)}; fit seconds by family: "
              + ", ".join(f"{t['family']} {t['fit_seconds']:.1f}" for t in trials))  # fmt: skip
    finally:
        delete_tenants(SLUG)


if __name__ == "__main__":
    main()
