"""Benchmark: `POST /api/v1/interactions/bulk/` in batches of 1,000 over HTTP to gunicorn.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/bulk_http.py

Starts gunicorn (the production server) on 127.0.0.1 against PostgreSQL as the application
role, creates a bench tenant and key, and sends pre-serialised batches of 1,000 new events
from `--clients` concurrent keep-alive connections. Reference in the same run: the
authenticated trivial endpoint `GET /api/v1/whoami/` from the same clients. Bar: >= 10,000
events/s. Everything it created is deleted afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from common import delete_tenants, gunicorn_server, machine

from tenants.services import api_key_create, tenant_create

SLUG = "bench-http-"
PORT = 8765
KINDS = ["view"] * 6 + ["click"] * 2 + ["add_to_cart", "purchase"]


def batches(n_batches: int, size: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=30)
    out = []
    for b in range(n_batches):
        rows = []
        for i in range(size):
            kind = rng.choice(KINDS)
            rows.append({
                "event_id": f"h{b}-{i}", "customer": f"c{rng.randrange(20_000)}",
                "product": f"p{rng.randrange(3_000)}", "kind": kind,
                "value": round(rng.uniform(5, 200), 2) if kind == "purchase" else None,
                "occurred_at": (start + timedelta(seconds=b * size + i)).isoformat(),
            })  # fmt: skip
        out.append(json.dumps(rows).encode())
    return out


def drive(
    clients: int, requests: list[tuple[str, str, bytes | None]], key: str
) -> tuple[float, list[float]]:
    """Send the requests from `clients` threads; returns (seconds, latencies)."""
    queue = list(reversed(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    break
                method, path, body = queue.pop()
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    errors.append(f"{response.status} {payload[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return seconds, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench HTTP")
    key = api_key_create(tenant=tenant, name="bench", scopes="read,write").raw_key
    bodies = batches(args.batches, args.batch_size)
    try:
        with gunicorn_server(PORT, args.workers):
            run(args, key, bodies)
    finally:
        delete_tenants(SLUG)


def run(args: argparse.Namespace, key: str, bodies: list[bytes]) -> None:
    drive(args.clients, [("GET", "/api/v1/whoami/", None)] * 200, key)  # warm up
    ref_seconds, ref_lat = drive(args.clients, [("GET", "/api/v1/whoami/", None)] * 2000, key)
    seconds, lat = drive(
        args.clients, [("POST", "/api/v1/interactions/bulk/", b) for b in bodies], key
    )
    events = args.batches * args.batch_size
    print(f"machine: {machine()}")
    print(f"gunicorn workers: {args.workers}, clients: {args.clients}")
    print(f"reference GET /api/v1/whoami/: {2000 / ref_seconds:,.0f} requests/s, "
          f"p50 {statistics.median(ref_lat) * 1000:.1f} ms")  # fmt: skip
    print(f"bulk ingest: {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s "
          f"(bar >= 10,000); per batch p50 {statistics.median(lat) * 1000:.0f} ms, "
          f"max {max(lat) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
