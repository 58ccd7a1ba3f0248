"""Rate limits per API key and per tenant: 429 with Retry-After, bulk rates, fail open."""

from __future__ import annotations

import logging
import threading
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache as default_cache
from drf_spectacular.generators import SchemaGenerator

from config.settings import api as api_config
from tenants.api import throttles
from tenants.api.throttles import (
    ApiRateThrottle,
    BulkKeyThrottle,
    BulkTenantThrottle,
    KeyBurstThrottle,
    cache_breaker,
)
from tenants.models import ApiKey

WHOAMI = "/api/v1/whoami/"
CUSTOMERS = "/api/v1/customers/"
BULK = "/api/v1/customers/bulk/"

# The rates the settings read from the environment (the suite's own settings may turn them off).
DEFAULT_RATES = {
    "key_burst": api_config.API_RATE_KEY_BURST,
    "key_sustained": api_config.API_RATE_KEY_SUSTAINED,
    "tenant": api_config.API_RATE_TENANT,
    "bulk_key": api_config.API_RATE_BULK,
    "bulk_tenant": api_config.API_RATE_BULK_TENANT,
}
GENEROUS = {
    "key_burst": "1000/min",
    "key_sustained": "1000/hour",
    "tenant": "1000/hour",
    "bulk_key": "1000/min",
    "bulk_tenant": "1000/min",
}


class FakeClock:
    """Stands in for the throttles' `time.time`; tests move it forward by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def throttle_cache(settings):
    """A cache of the test's own: a fresh local-memory cache, or on CI the shared Redis under a
    key prefix of its own (so nothing else there is flushed)."""
    if django_settings.REDIS_URL:
        backend = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": django_settings.REDIS_URL,
            "KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex}",
        }
    else:
        backend = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-throttle-{uuid.uuid4().hex}",
        }
    settings.CACHES = {"default": backend}
    cache_breaker.reset()
    yield
    cache_breaker.reset()


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ApiRateThrottle, "timer", fake)
    return fake


@pytest.fixture
def rates(settings, clock):
    """Sets the rates of the test (generous for every scope it does not name); the suite may
    run with rate limits off, these tests turn them on."""

    def set_rates(**chosen: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**GENEROUS, **chosen},
        }

    return set_rates


def statuses(client, path: str, times: int) -> list[int]:
    return [client.get(path).status_code for _ in range(times)]


def post_bulk(client, n: int = 1):
    rows = [{"external_id": f"bulk-{uuid.uuid4().hex[:8]}"} for _ in range(n)]
    return client.post(BULK, rows, format="json")


def test_past_the_key_burst_rate_requests_get_429_with_retry_after(api_a, rates):
    rates(key_burst="3/min")

    assert statuses(api_a, WHOAMI, 3) == [200, 200, 200]
    response = api_a.get(WHOAMI)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["code"] == "throttled"
    assert "throttled" in body["detail"]


def test_requests_are_allowed_again_once_retry_after_has_passed(api_a, rates, clock):
    rates(key_burst="3/min")
    statuses(api_a, WHOAMI, 3)
    retry_after = int(api_a.get(WHOAMI)["Retry-After"])

    clock.advance(retry_after - 1)
    assert api_a.get(WHOAMI).status_code == 429  # Retry-After does not promise too early

    clock.advance(1)
    assert statuses(api_a, WHOAMI, 3) == [200, 200, 200]  # a fresh window, the full rate
    assert api_a.get(WHOAMI).status_code == 429


def test_the_sustained_key_rate_holds_across_burst_windows(api_a, rates, clock):
    rates(key_burst="2/s", key_sustained="5/hour")
    allowed = []
    for _ in range(4):
        allowed += statuses(api_a, WHOAMI, 2)
        clock.advance(1)

    assert allowed.count(200) == 5
    response = api_a.get(WHOAMI)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 1  # the hourly window, not the burst one


def test_one_keys_burst_does_not_throttle_another_key_of_the_tenant(
    api_a, client_for, tenant_a, rates
):
    rates(key_burst="3/min")
    other_key = client_for(tenant_a)
    statuses(api_a, WHOAMI, 4)
    assert api_a.get(WHOAMI).status_code == 429

    assert statuses(other_key, WHOAMI, 3) == [200, 200, 200]


def test_the_tenant_rate_counts_every_key_of_the_tenant(api_a, client_for, tenant_a, rates):
    rates(key_burst="3/min", tenant="5/hour")
    other_key = client_for(tenant_a)

    # The first key's refused requests do not use up the tenant's allowance.
    assert statuses(api_a, WHOAMI, 6) == [200, 200, 200, 429, 429, 429]
    assert statuses(other_key, WHOAMI, 3) == [200, 200, 429]
    response = other_key.get(WHOAMI)
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) <= 3600


def test_another_tenant_is_not_affected(api_a, api_b, rates):
    rates(key_burst="3/min", tenant="3/hour")
    statuses(api_a, WHOAMI, 5)
    assert api_a.get(WHOAMI).status_code == 429

    assert statuses(api_b, WHOAMI, 3) == [200, 200, 200]


def test_bulk_requests_have_their_own_rate_and_ordinary_reads_still_pass(api_a, rates):
    rates(key_burst="3/min", bulk_key="2/min")

    assert [post_bulk(api_a).status_code for _ in range(3)] == [200, 200, 429]
    assert post_bulk(api_a)["Retry-After"]

    # The bulk posts counted against the bulk rate only: the ordinary allowance is whole.
    assert statuses(api_a, CUSTOMERS, 4) == [200, 200, 200, 429]


def test_the_bulk_tenant_rate_counts_every_key_of_the_tenant(
    api_a, api_b, client_for, tenant_a, rates
):
    rates(bulk_key="2/min", bulk_tenant="3/min")
    other_key = client_for(tenant_a)

    assert [post_bulk(api_a).status_code for _ in range(2)] == [200, 200]
    assert [post_bulk(other_key).status_code for _ in range(2)] == [200, 429]
    assert post_bulk(api_b).status_code == 200


def admitted(throttle_class: type[ApiRateThrottle], key: ApiKey, action: str, times: int) -> int:
    """How many of `times` requests (one throttle instance each, as DRF does) get through."""
    view = SimpleNamespace(action=action)
    return sum(
        throttle_class().allow_request(SimpleNamespace(auth=key), view) for _ in range(times)
    )


def test_a_bulk_ingest_client_is_not_throttled_by_the_default_rates(api_a, rates, clock):
    """10 requests a second for ten minutes, on the rates the settings give by default."""
    if None in DEFAULT_RATES.values():
        pytest.skip("a rate limit is off in this environment")
    rates(**DEFAULT_RATES)
    key = ApiKey(pk=31337, tenant_id=31337)
    for _second in range(600):
        assert admitted(BulkKeyThrottle, key, "bulk", 10) == 10
        assert admitted(BulkTenantThrottle, key, "bulk", 10) == 10
        clock.advance(1)

    events = [
        {"customer": f"c{i % 50}", "product": f"p{i % 20}", "kind": "view",
         "occurred_at": "2026-01-01T00:00:00Z", "event_id": f"e{i}"}
        for i in range(1000)
    ]  # fmt: skip
    assert api_a.post("/api/v1/interactions/bulk/", events, format="json").status_code == 200


def test_a_runaway_client_is_stopped_by_the_default_burst_rate(rates, clock):
    if None in DEFAULT_RATES.values():
        pytest.skip("a rate limit is off in this environment")
    rates(**DEFAULT_RATES)
    key = ApiKey(pk=31338, tenant_id=31338)
    limit = KeyBurstThrottle().num_requests

    assert admitted(KeyBurstThrottle, key, "list", limit + 100) == limit
    assert admitted(BulkKeyThrottle, key, "bulk", 1000) < 1000


def test_requests_without_a_key_are_not_throttled_here(client, rates):
    rates(key_burst="1/min", tenant="1/hour")
    assert statuses(client, WHOAMI, 3) == [401, 401, 401]


def test_concurrent_requests_are_counted_exactly(rates):
    rates(key_burst="100/min")
    key = ApiKey(pk=31339, tenant_id=31339)
    allowed = []

    def hammer() -> None:
        allowed.append(admitted(KeyBurstThrottle, key, "list", 50))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) == 100


def test_a_cache_outage_lets_requests_through_and_logs_a_warning(api_a, rates, settings, caplog):
    rates(key_burst="1/min", key_sustained="1/hour", tenant="1/hour")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

    with caplog.at_level(logging.WARNING, logger="tenants.api.throttles"):
        assert statuses(api_a, WHOAMI, 3) == [200, 200, 200]

    warnings = [r for r in caplog.records if r.name == "tenants.api.throttles"]
    assert len(warnings) == 1  # once, not once per request
    assert "not enforced" in warnings[0].getMessage()


def test_after_a_cache_failure_the_cache_is_left_alone_for_a_while(
    api_a, rates, monkeypatch, clock
):
    rates(key_burst="2/min")
    calls = []

    class Down:
        def incr(self, *args, **kwargs):
            calls.append(args)
            raise ConnectionError("cache down")

        add = incr

    monkeypatch.setattr(cache_breaker, "clock", clock)
    monkeypatch.setattr(ApiRateThrottle, "cache", Down())
    assert statuses(api_a, WHOAMI, 4) == [200, 200, 200, 200]
    assert len(calls) == 1  # no request after the first waits on the dead cache

    monkeypatch.setattr(ApiRateThrottle, "cache", default_cache)  # the cache is back
    clock.advance(throttles.CACHE_RETRY_SECONDS)
    assert statuses(api_a, WHOAMI, 3) == [200, 200, 429]


def test_the_schema_documents_429_with_retry_after_on_every_keyed_operation():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    throttled = {"$ref": "#/components/responses/TooManyRequests"}

    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert operations
    for path, method, operation in operations:
        assert operation["responses"].get("429") == throttled, f"{method} {path}"
    response = schema["components"]["responses"]["TooManyRequests"]
    assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"
    body = response["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]
