"""Outages of the real servers: Redis and PostgreSQL stopped and started on this machine
while gunicorn serves the API (see tests/outages/servers.py for when these run)."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command

from customers.models import Customer, Interaction
from tenants.context import tenant_scope
from tenants.services import api_key_create
from tests.factories import TenantFactory
from tests.outages.servers import (
    Client,
    needs_server_restarts,
    postgres_ready,
    postgres_start,
    postgres_stop,
    redis_ready,
    redis_start,
    redis_stop,
    web_server,
)
from training import services as training

pytestmark = needs_server_restarts
FAST = {"time_budget": 10, "families": ["popularity", "itemknn"]}


@pytest.fixture
def served_shop(transactional_db, artifact_root):
    """A shop with trained models, served by gunicorn with every model already loaded."""
    tenant = TenantFactory(slug="outage-shop")
    call_command("load_demo_data", tenant.slug, customers=200, products=50, days=90, seed=2,
                 verbosity=0)  # fmt: skip
    training.training_run_train_now(tenant=tenant, kind="popularity")
    assert training.training_run_train_now(
        tenant=tenant, kind="recommender", parameters=FAST
    ).status == "succeeded"  # fmt: skip
    with tenant_scope(tenant):
        customers = sorted(Customer.objects.values_list("external_id", flat=True))[:30]
    key = api_key_create(tenant=tenant, name="outage", scopes=["read", "write", "admin"]).raw_key
    with web_server(artifact_root):
        client = Client(key)
        for customer in customers[:3]:
            assert client.request("GET", _recommendations(customer))[0] == 200
        yield tenant, client, customers
    # whatever a test did, both servers are up again for the next one
    postgres_start()
    redis_start()


def _recommendations(customer: str) -> str:
    return f"/api/v1/customers/{customer}/recommendations/?limit=5"


def _events(prefix: str, customers: list[str], size: int = 40) -> list[dict]:
    return [
        {"event_id": f"{prefix}-{number}", "customer": customers[number % len(customers)],
         "product": f"outage-product-{number % 7}", "kind": "review" if number % 10 == 0 else "view",
         "text": "Lovely, arrived quickly" if number % 10 == 0 else "",
         "value": 5 if number % 10 == 0 else None, "occurred_at": "2026-11-20T10:00:00Z"}
        for number in range(size)
    ]  # fmt: skip


def _stored(tenant, prefix: str) -> int:
    with tenant_scope(tenant):
        return Interaction.objects.filter(event_id__startswith=f"{prefix}-").count()


def test_redis_down_serving_and_ingest_go_on_training_requests_get_a_503(served_shop):
    tenant, client, customers = served_shop
    redis_stop()
    try:
        for customer in customers:
            status, body, seconds, _ = client.request("GET", _recommendations(customer))
            assert status == 200, body
            assert seconds < 2, f"a recommendation took {seconds:.2f} s with Redis down"
        status, body, _, _ = client.request("POST", "/api/v1/interactions/bulk/",
                                            _events("redis-down", customers))  # fmt: skip
        assert (status, body.get("created")) == (200, 40), body
        status, body, seconds, headers = client.request(
            "POST", "/api/v1/training-runs/", {"kind": "popularity"}
        )
        assert status == 503, body
        assert "Redis" in body["detail"] and headers.get("Retry-After")
        assert seconds < 5, f"the training request hung {seconds:.1f} s"
    finally:
        redis_start()
    assert _stored(tenant, "redis-down") == 40

    # Back without restarting anything: the same gunicorn queues training again.
    deadline = time.monotonic() + 30
    while True:
        status, body, _, _ = client.request(
            "POST", "/api/v1/training-runs/", {"kind": "popularity"}
        )
        if status == 202 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 202, body
    assert redis_ready()


def test_a_database_restart_fails_fast_with_503_and_recovers_with_no_half_batch(served_shop):
    tenant, client, customers = served_shop
    outcomes: dict[str, int] = {}
    stop = threading.Event()

    def ingest() -> None:
        number = 0
        while not stop.is_set():
            prefix = f"pg-batch{number}"
            try:
                outcomes[prefix] = client.request(
                    "POST", "/api/v1/interactions/bulk/", _events(prefix, customers), timeout=20
                )[0]
            except OSError:
                outcomes[prefix] = 0  # no answer at all
            number += 1

    writer = threading.Thread(target=ingest, daemon=True)
    writer.start()
    time.sleep(1.0)
    postgres_stop()
    try:
        during = []
        for customer in customers[:10]:
            status, body, seconds, headers = client.request("GET", _recommendations(customer))
            during.append((status, seconds))
            assert status == 503, body
            assert body["code"] == "unavailable" and headers.get("Retry-After")
        slowest = max(seconds for _, seconds in during)
        assert slowest < 3, f"an answer during the outage took {slowest:.1f} s"
        time.sleep(1.0)
    finally:
        postgres_start()

    # The same gunicorn recovers on its own.
    deadline = time.monotonic() + 30
    while client.request("GET", _recommendations(customers[0]))[0] != 200:
        assert time.monotonic() < deadline, "the API did not recover within 30 s"
        time.sleep(0.5)
    time.sleep(1.0)
    stop.set()
    writer.join(timeout=30)

    assert postgres_ready()
    answered = dict(outcomes)
    assert any(status == 200 for status in answered.values())
    assert any(status == 503 for status in answered.values()), answered
    for prefix, status in answered.items():
        stored = _stored(tenant, prefix)
        if status == 200:
            assert stored == 40, f"{prefix} answered 200 but stored {stored} of 40"
        else:
            # refused (or cut off): all or nothing, never part of a batch
            assert stored in (0, 40), f"{prefix} ({status}) stored {stored} of 40"
