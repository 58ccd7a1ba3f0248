"""Benchmark: `GET /api/v1/customers/{id}/recommendations/` on gunicorn, loaded with wrk.

    apt-get install wrk   # once; the load tool (C, event loop: it costs the server little)
    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/serving.py

Creates a bench tenant with the demo generator's data (10,000 customers, 2,000 products,
90 days by default), trains popularity and the recommender (the full candidate search),
and starts gunicorn with the production settings (config/gunicorn.py: threaded workers,
one BLAS thread) against PostgreSQL as the
application role. Then, from 16 concurrent wrk connections, each over --seconds:

- saturation: every connection sends its next request as soon as the last is answered
  (the most requests/s the server gives; latency there is queueing, by Little's law);
- paced: the connections together offer half of --rate, then --rate requests/s (each
  waits a random, exponentially distributed time between its requests: wrk's delay()),
  and latency is what a client sees at that load.

Customers are drawn at random from the tenant's own, plus 10% ids it never sent (the
popular fallback). The reference, run in the same way in the same run, is the
authenticated trivial endpoint `GET /api/v1/whoami/`. Bars: p50 <= 10 ms, p99 <= 50 ms,
>= 300 requests/s. Everything it created is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import delete_tenants, gunicorn_server, machine, run_wrk
from django.core.management import call_command

from customers.models import Customer, Interaction
from tenants.context import tenant_scope
from tenants.services import api_key_create, tenant_create
from training import services

SLUG = "bench-serve-"
PORT = 8766
CONNECTIONS = 16

LUA = """
local ids, interval = {}, 0
local path_of = function(id) return "%(path)s" end
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
wrk.headers["Authorization"] = "Bearer %(key)s"
function init(args) math.randomseed(%(seed)d + os.time() + math.floor(os.clock() * 1e6)) end
function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", path_of(id))
end
function delay()
  if %(delay_ms)f <= 0 then return 0 end
  return math.floor(-%(delay_ms)f * math.log(1 - math.random()))  -- Poisson arrivals
end
"""


def wrk(path: str, key: str, ids_file: Path, seconds: int, delay_ms: float = 0.0) -> dict:
    """One wrk run; path may contain {id}. Returns requests/s and latency percentiles (ms)."""
    lua_path = "/" + path.lstrip("/").replace("{id}", '" .. id .. "')
    script = LUA % {"path": lua_path, "ids": ids_file, "key": key, "seed": random.randrange(1000),
                    "delay_ms": delay_ms}  # fmt: skip
    return run_wrk(script, f"http://127.0.0.1:{PORT}", seconds, CONNECTIONS, threads=2)


def describe(name: str, result: dict) -> str:
    return (
        f"| {name} | {result['rps']:,.0f} | {result['p50']:.1f} | {result['p90']:.1f} | "
        f"{result['p99']:.1f} | {result['errors']} |"
    )


def prepare(args: argparse.Namespace) -> tuple[str, list[str], dict]:
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench serving")
    began = time.perf_counter()
    call_command(
        "load_demo_data", tenant.slug, customers=args.customers, products=args.products,
        days=args.days, seed=1, verbosity=0,
    )  # fmt: skip
    loaded = time.perf_counter() - began
    services.training_run_train_now(tenant=tenant, kind="popularity")
    run = services.training_run_train_now(
        tenant=tenant, kind="recommender", parameters={"time_budget": args.time_budget}
    )
    if run.status != "succeeded":
        raise SystemExit(f"training failed: {run.error}")
    with tenant_scope(tenant):
        ids = list(Customer.objects.values_list("external_id", flat=True))
        interactions = Interaction.objects.count()
    ids += [f"never-seen-{i}" for i in range(len(ids) // 10)]
    key = api_key_create(tenant=tenant, name="bench", scopes=["read"]).raw_key
    facts = {
        "load_seconds": loaded,
        "winner": run.metrics["metrics"].get("model"),
        "ndcg": run.metrics["metrics"].get("ndcg@10"),
        "interactions": interactions,
    }
    return key, ids, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--time-budget", type=float, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=300, help="paced load, requests/s")
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    delete_tenants(SLUG)
    try:
        key, ids, facts = prepare(args)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(ids))
        ids_file = Path(handle.name)
        with gunicorn_server(PORT, args.workers):
            recommend = "api/v1/customers/{id}/recommendations/?limit=10"
            for _ in range(2):  # every worker loads the model and fills its caches
                wrk(recommend, key, ids_file, 3)
            rows = [
                ("whoami, saturation", wrk("api/v1/whoami/", key, ids_file, args.seconds)),
                ("recommendations, saturation", wrk(recommend, key, ids_file, args.seconds)),
            ]
            for rate in (args.rate / 2, args.rate):
                # Each connection waits this long on average between its requests.
                delay_ms = max(CONNECTIONS / rate * 1000 - 5.0, 0.0)
                for name, path in (("whoami", "api/v1/whoami/"), ("recommendations", recommend)):
                    result = wrk(path, key, ids_file, args.seconds, delay_ms)
                    rows.append((f"{name}, offered {rate:.0f}/s", result))
        print(f"machine: {machine()}")
        print(
            f"tenant: {args.customers:,} customers, {args.products:,} products, "
            f"{facts['interactions']:,} interactions; selected {facts['winner']} "
            f"(held-out NDCG@10 {facts['ndcg']:.3f}); gunicorn {args.workers} workers x 2 threads; "
            f"wrk {CONNECTIONS} connections, {args.seconds} s per row"
        )
        print("| run | requests/s | p50 ms | p90 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, result in rows:
            print(describe(name, result))
    finally:
        if not args.keep:
            delete_tenants(SLUG)


if __name__ == "__main__":
    sys.exit(main())
