"""Benchmark: a soak of mixed API traffic from several tenants, with a Redis restart.

    apt-get install wrk   # once
    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/soak.py            # --minutes 10 by default

Creates --tenants bench tenants with the demo generator's data, trains popularity and the
recommender for each, gives each a segment (bought twice or more, seen in the last 30 days)
and starts gunicorn with the production settings (rate limits on, on Redis) against
PostgreSQL as the application role. The traffic, from three wrk processes with paced
connections (exponential gaps: wrk's delay()), tenant and customer drawn at random per request:

- 80% `GET customers/{id}/recommendations/?limit=10`;
- 15% `POST interactions/bulk/` of 20 view events with fresh event ids;
- 5% `GET segments/{id}/preview/`.

First a ladder of --probe-seconds runs at rising offered rates finds the highest rate the
machine sustains: no error (no non-2xx, no timeout), at least 90% of the offered rate served,
and p99 under one second on every route. The soak then runs at that rate (or --rate) for
--minutes. Half way, Redis is shut down and started again (the machine's own commands), and
a probe client sending one recommendation and one ingest request every 100 ms records what
clients saw around it. Reported: rate, p50/p99 per route, errors, gunicorn's memory (master
and workers) after warm-up and at the end, and the probe's view of the restart. The reference,
measured in the same run, is the trivial authenticated `GET whoami/` at saturation.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from common import (
    SUPER_URL,
    delete_tenants,
    gunicorn_server,
    machine,
    process_tree_rss_mib,
    run_wrk,
)
from django.core.management import call_command

from campaigns.services import segment_create
from customers.models import Customer, Product
from tenants.context import tenant_scope
from tenants.services import api_key_create, tenant_create
from tests.outages.servers import Client, redis_start, redis_stop
from training import services

SLUG = "bench-soak-"
PORT = 8767
URL = f"http://127.0.0.1:{PORT}"
SHARES = {"recommendations": 0.80, "ingest": 0.15, "preview": 0.05}
CONNECTIONS = {"recommendations": 40, "ingest": 10, "preview": 4}
# wrk paces each connection by its gap after the answer: the gap leaves room for it.
LATENCY_ALLOWANCE_MS = 10
BATCH = 20
SEGMENT = {"and": [{"field": "frequency", "op": "gte", "value": 2},
                   {"field": "recency_days", "op": "lte", "value": 30}]}  # fmt: skip

LUA = """
local tenants = {}
for line in io.lines("%(targets)s") do
  local kind, index, a, b = line:match("^(%%a)\\t(%%d+)\\t([^\\t]*)\\t?(.*)$")
  index = tonumber(index)
  tenants[index] = tenants[index] or {customers = {}, products = {}}
  local t = tenants[index]
  if kind == "t" then t.key, t.segment = a, b
  elseif kind == "c" then t.customers[#t.customers + 1] = a
  else t.products[#t.products + 1] = a end
end
local count, counter = #tenants, 0
function setup(thread) thread:set("tag", tostring(math.random(1e9))) end
function init(args) math.randomseed(tonumber(tag) + os.time()) end
local function pick(list) return list[math.random(#list)] end
function request()
  local t = tenants[math.random(count)]
  local headers = {["Authorization"] = "Bearer " .. t.key}
  local route = "%(route)s"
  if route == "recommendations" then
    return wrk.format("GET", "/api/v1/customers/" .. pick(t.customers)
      .. "/recommendations/?limit=10", headers)
  elseif route == "preview" then
    return wrk.format("GET", "/api/v1/segments/" .. t.segment .. "/preview/", headers)
  end
  counter = counter + 1
  local rows = {}
  for j = 1, %(batch)d do
    rows[j] = string.format('{"event_id": "%(run)s-%%s-%%d-%%d", "customer": "%%s", '
      .. '"product": "%%s", "kind": "view", "occurred_at": "%(when)s"}',
      tag, counter, j, pick(t.customers), pick(t.products))
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/interactions/bulk/", headers,
    "[" .. table.concat(rows, ",") .. "]")
end
local first_requests = %(connections)d
function delay()
  -- wrk delays a new connection's first request too; gunicorn's threaded worker holds a
  -- thread for up to 5 s waiting for a new connection's first bytes, so a paced start
  -- would stall the server for seconds. Each connection's first request goes at once.
  if first_requests > 0 then
    first_requests = first_requests - 1
    return 0
  end
  if %(gap_ms)f <= 0 then return 0 end
  -- Exponential gaps, capped below gunicorn's 5 s keep-alive: a longer idle connection is
  -- closed by the server, and a request sent at that instant is a client-side read error.
  return math.min(math.floor(-%(gap_ms)f * math.log(1 - math.random())), 4000)
end
"""

# The reference: the trivial authenticated endpoint at saturation, each request with one of
# the tenants' keys (one key alone would meet its burst rate limit of 500/s).
WHOAMI_LUA = """
local keys = {}
for line in io.lines("%(targets)s") do
  local key = line:match("^t\t%%d+\t([^\t]+)")
  if key then keys[#keys + 1] = key end
end
wrk.path = "/api/v1/whoami/"
function request()
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. keys[math.random(#keys)]})
end
"""


def prepare(args: argparse.Namespace) -> Path:
    """The bench tenants, trained; a targets file for the wrk scripts."""
    lines = []
    fast = {"time_budget": args.time_budget}
    for index in range(1, args.tenants + 1):
        tenant = tenant_create(slug=f"{SLUG}{index}-{int(time.time())}", name=f"Soak {index}")
        call_command("load_demo_data", tenant.slug, customers=args.customers,
                     products=args.products, days=60, seed=index, verbosity=0)  # fmt: skip
        services.training_run_train_now(tenant=tenant, kind="popularity")
        run = services.training_run_train_now(tenant=tenant, kind="recommender", parameters=fast)
        if run.status != "succeeded":
            raise SystemExit(f"training failed: {run.error}")
        with tenant_scope(tenant):
            segment = segment_create(tenant=tenant, data={"name": "Regulars", "filter": SEGMENT})
            customers = list(Customer.objects.values_list("external_id", flat=True))
            products = list(Product.objects.values_list("external_id", flat=True))
        key = api_key_create(tenant=tenant, name="soak", scopes=["read", "write"]).raw_key
        lines.append(f"t\t{index}\t{key}\t{segment.pk}")
        lines += [f"c\t{index}\t{customer}" for customer in customers]
        lines += [f"p\t{index}\t{product}" for product in products]
    # Fresh statistics, as autovacuum gives a live database some time after a big load;
    # right after it the planner misjudges the segment filters' subqueries (100x slower).
    with psycopg.connect(SUPER_URL, autocommit=True) as connection:
        connection.execute("ANALYZE")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    return Path(handle.name)


def mixed_load(targets: Path, rate: float, seconds: float, run: str) -> dict[str, dict]:
    """The three routes at once, `rate` requests/s offered in all; wrk's results per route."""
    results: dict[str, dict] = {}
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    def one(route: str) -> None:
        connections = CONNECTIONS[route]
        gap_ms = max(connections / (rate * SHARES[route]) * 1000 - LATENCY_ALLOWANCE_MS, 0)
        script = LUA % {"targets": targets, "route": route, "batch": BATCH, "run": run,
                        "when": when, "gap_ms": gap_ms, "connections": connections}  # fmt: skip
        results[route] = run_wrk(script, URL, seconds, connections, timeout="10s")

    threads = [threading.Thread(target=one, args=(route,)) for route in SHARES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def sustained(results: dict[str, dict], rate: float) -> bool:
    served = sum(result["rps"] for result in results.values())
    return (
        all(result["errors"] == 0 and result["p99"] < 1000 for result in results.values())
        and served >= 0.90 * rate
    )


class RestartProbe:
    """One recommendation and one ingest request every 100 ms: what a client saw."""

    def __init__(self, targets: Path) -> None:
        rows = [line.split("\t") for line in targets.read_text().splitlines()]
        key = next(row[2] for row in rows if row[0] == "t" and row[1] == "1")
        self.customer = next(row[2] for row in rows if row[0] == "c" and row[1] == "1")
        self.product = next(row[2] for row in rows if row[0] == "p" and row[1] == "1")
        self.client = Client(key, port=PORT)
        self.seen: list[tuple[float, str, int, float]] = []  # (time, route, status, seconds)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _request(self, route: str, method: str, path: str, body: object = None) -> None:
        began = time.monotonic()
        try:
            status = self.client.request(method, path, body, timeout=10)[0]
        except OSError:
            status = 0
        self.seen.append((began, route, status, time.monotonic() - began))

    def _loop(self) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            self._request("recommendations", "GET",
                          f"/api/v1/customers/{self.customer}/recommendations/?limit=10")  # fmt: skip
            event = {"event_id": f"probe-{time.time_ns()}-{number}", "customer": self.customer,
                     "product": self.product, "kind": "view",
                     "occurred_at": datetime.now(UTC).isoformat()}  # fmt: skip
            self._request("ingest", "POST", "/api/v1/interactions/bulk/", [event])
            time.sleep(0.1)

    def window(self, start: float, end: float, stop: float) -> dict[str, dict]:
        """Per route: statuses, and the slowest answers (seconds after Redis was stopped)."""
        summary: dict[str, dict] = {}
        for at, route, status, seconds in self.seen:
            if start <= at <= end:
                entry = summary.setdefault(route, {"statuses": {}, "slowest": []})
                entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
                entry["slowest"].append((round(seconds * 1000), round(at - stop, 1)))
        for entry in summary.values():
            entry["slowest"] = [{"ms": ms, "at_s": at} for ms, at in sorted(entry["slowest"])[-3:]]
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--time-budget", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, help="skip the ladder: soak at this rate")
    parser.add_argument("--ladder", default="60,80,100,120,140,160,180,200")
    parser.add_argument("--probe-seconds", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the bench tenants")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    delete_tenants(SLUG)
    try:
        targets = prepare(args)
        with gunicorn_server(PORT, args.workers) as server:
            mixed_load(targets, 50, 5, "warm")  # every worker loads its models
            whoami = run_wrk(WHOAMI_LUA % {"targets": targets}, URL, 10, 16, threads=2)
            ladder = []
            rate = args.rate
            if rate is None:
                for offered in [float(step) for step in args.ladder.split(",")]:
                    results = mixed_load(
                        targets, offered, args.probe_seconds, f"probe{offered:.0f}"
                    )
                    ladder.append((offered, results, sustained(results, offered)))
                    print(f"probe {offered:.0f}/s: " + ", ".join(
                        f"{route} {r['rps']:.0f}/s p99 {r['p99']:.0f} ms errors {r['errors']}"
                        for route, r in results.items()), flush=True)  # fmt: skip
                    if not ladder[-1][2]:
                        break
                passed = [offered for offered, _, ok in ladder if ok]
                if not passed:
                    raise SystemExit("no rate of the ladder was sustained")
                rate = passed[-1]
            memory_start = process_tree_rss_mib(server.pid)
            probe = RestartProbe(targets)
            probe.thread.start()
            seconds = args.minutes * 60
            restart: dict[str, float] = {}

            def restart_redis() -> None:
                time.sleep(seconds / 2)
                restart["stop"] = time.monotonic()
                redis_stop()
                restart["stopped"] = time.monotonic()
                time.sleep(5)  # a short outage, as a Redis failover or restart would be
                redis_start()
                restart["started"] = time.monotonic()

            restarter = threading.Thread(target=restart_redis)
            restarter.start()
            began = time.monotonic()
            soak = mixed_load(targets, rate, seconds, f"soak{int(time.time())}")
            elapsed = time.monotonic() - began
            restarter.join()
            memory_end = process_tree_rss_mib(server.pid)
            probe.stop.set()
            probe.thread.join()
        report(args, rate, whoami, ladder, soak, elapsed, memory_start, memory_end, restart,
               probe.window(restart["stop"] - 5, restart["started"] + 30, restart["stop"]))  # fmt: skip
    finally:
        if not args.keep:
            delete_tenants(SLUG)


def report(args, rate, whoami, ladder, soak, elapsed, memory_start, memory_end, restart,
           around_restart) -> None:  # fmt: skip
    print(f"machine: {machine()}")
    print(f"{args.tenants} tenants x {args.customers:,} customers, {args.products:,} products; "
          f"gunicorn {args.workers} workers x 2 threads; reference whoami at saturation "
          f"{whoami['rps']:,.0f} req/s, p50 {whoami['p50']:.1f} ms")  # fmt: skip
    for offered, results, ok in ladder:
        served = sum(r["rps"] for r in results.values())
        print(f"ladder: offered {offered:.0f}/s, served {served:.0f}/s, errors "
              f"{sum(r['errors'] for r in results.values())}, "
              f"{'sustained' if ok else 'not sustained'}")  # fmt: skip
    total = sum(r["requests"] for r in soak.values())
    print(f"soak: offered {rate:.0f} req/s for {elapsed / 60:.1f} min; served "
          f"{total / elapsed:.0f} req/s, {total:,} requests, "
          f"{sum(r['errors'] for r in soak.values())} errors")  # fmt: skip
    print("| route | share | requests | req/s | p50 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for route, r in soak.items():
        kinds = ", ".join(f"{n} {kind}" for kind, n in r["error_kinds"].items() if n)
        print(f"| {route} | {SHARES[route]:.0%} | {r['requests']:,} | {r['rps']:.0f} | "
              f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | {r['errors']}"
              f"{f' ({kinds})' if kinds else ''} |")  # fmt: skip
    growth = (memory_end - memory_start) / memory_start
    print(f"gunicorn memory: {memory_start:.0f} MiB after warm-up, {memory_end:.0f} MiB at the "
          f"end ({growth:+.1%})")  # fmt: skip
    print(
        f"Redis restart: down {restart['started'] - restart['stop']:.1f} s; probe requests "
        f"from 5 s before to 30 s after: {json.dumps(around_restart)}"
    )


if __name__ == "__main__":
    sys.exit(main())
