"""Benchmark: the training platform's overhead around a fit, for the popularity trainer.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/training_overhead.py

A tenant with 1M interactions (100k customers, 20k products) is loaded (not timed). Then, in
one process: the bare fit plus evaluation (`PopularityTrainer.train`) on arrays already in
memory, and the whole platform run (claim, load through the selector, fit, evaluate, write
the artifact, record the version, activate). Target: whole / bare < 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import delete_tenants, load_synthetic_interactions, machine

from recommender.trainers import PopularityTrainer
from tenants.services import tenant_create
from training.services import training_run_train_now

SLUG = "bench-training-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench training")
    try:
        started = time.monotonic()
        load_synthetic_interactions(
            tenant.pk, interactions=args.interactions, customers=args.customers,
            products=args.products,
        )  # fmt: skip
        print(f"loaded {args.interactions:,} interactions in {time.monotonic() - started:.1f} s")
        trainer = PopularityTrainer()
        data = trainer.load_data(tenant=tenant)
        bare, whole, stages = [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            trainer.train(data, parameters={}, progress=lambda stage, pct: None)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run = training_run_train_now(tenant=tenant, kind="popularity")
            whole.append(time.perf_counter() - t0)
            assert run.status == "succeeded", run.error
            stages.append(run.metrics)
        b, w = statistics.median(bare), statistics.median(whole)
        print(f"machine: {machine()}")
        print(f"bare fit + evaluation (median of {args.repeat}): {b:.3f} s")
        print(f"whole platform run    (median of {args.repeat}): {w:.3f} s")
        print(f"ratio whole / bare: {w / b:.2f} (target < 1.5)")
        print(f"stages of the last whole run: {stages[-1]['stage_seconds']}")
        print(f"ndcg@10 of the popularity model: {stages[-1]['metrics']['ndcg@10']:.4f}")
    finally:
        delete_tenants(SLUG)


if __name__ == "__main__":
    main()
