"""Request rates per API key and per tenant, counted in the shared cache (Redis in production).

Five DRF throttles, each a fixed-window counter in Django's cache, keyed by the API key's id
or the tenant's id (never the raw key):

    key_burst       one key, a short window: stops a runaway client within a second
    key_sustained   one key, per hour
    tenant          all keys of a tenant together, per hour
    bulk_key        one key, the `bulk` actions (which count here instead of the three above)
    bulk_tenant     all keys of a tenant together, the `bulk` actions

The rates are `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (config/settings/api.py, from the
environment). A refused request answers 429 with `Retry-After`: the seconds until the window
that refused it ends. Requests without an API key are not throttled here (they are refused
with 401 before throttles run).

Why a fixed-window counter and not DRF's SimpleRateThrottle history: DRF keeps a list of
timestamps per client in one cache value and writes it back on every request. That is a
read-modify-write race between web processes (concurrent requests overwrite each other's
timestamps, so a client can exceed its rate) and costs O(rate) per request (an hourly rate of
100,000 means unpickling and rewriting a list of up to 100,000 floats). A counter per window is
`cache.incr`, atomic in Redis and under a lock in the local-memory cache, and O(1). The price
is the usual fixed-window edge: a client can spend one window's allowance at the end of a
window and the next at the start of the next one, up to twice the rate over one window length;
acceptable for limits whose job is protecting the service. Windows are offset per client so
every throttled client does not come back at the same instant on the hour.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import TYPE_CHECKING

from django.core.cache import cache as default_cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Actions that count against the bulk rates instead of the ordinary ones; a view may name its
# own with a `bulk_actions` attribute.
BULK_ACTIONS = frozenset({"bulk"})

# After the cache fails, this process stops throttling for this long before trying again, so a
# Redis outage costs no request a connect timeout (and the log one line, not one per request).
CACHE_RETRY_SECONDS = 30.0

# Set on a request one throttle refused: later throttles then neither count it nor refuse it,
# so requests refused for one key's burst do not use up the whole tenant's budget.
_REFUSED = "_api_rate_refused"


def is_bulk(view: APIView) -> bool:
    return getattr(view, "action", None) in getattr(view, "bulk_actions", BULK_ACTIONS)


class _CacheBreaker:
    """Per process: while open, throttles let every request through without asking the cache."""

    clock = time.monotonic

    def __init__(self) -> None:
        self.open_until = 0.0

    def is_open(self) -> bool:
        return self.clock() < self.open_until

    def trip(self, error: Exception) -> None:
        self.open_until = self.clock() + CACHE_RETRY_SECONDS
        logger.warning(
            "Rate limits not enforced for %.0f s: the cache failed (%s: %s)",
            CACHE_RETRY_SECONDS,
            type(error).__name__,
            error,
        )

    def reset(self) -> None:
        self.open_until = 0.0


cache_breaker = _CacheBreaker()


class ApiRateThrottle(SimpleRateThrottle):
    """A fixed-window request counter per API key (`per = "key"`) or per tenant."""

    per: str = "key"
    bulk: bool = False
    cache = default_cache
    timer = time.time
    cache_format = "throttle:%(scope)s:%(ident)s:%(window)d"

    def get_rate(self) -> str | None:
        # Read at every request (DRF reads its class attribute once, at import), so a changed
        # setting applies at once. A missing scope is a configuration error; None disables.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope '{self.scope}'") from None

    def allow_request(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if self.rate is None or not isinstance(api_key, ApiKey) or is_bulk(view) != self.bulk:
            return True
        if getattr(request, _REFUSED, False) or cache_breaker.is_open():
            return True
        ident = api_key.pk if self.per == "key" else api_key.tenant_id
        # The window boundaries are offset per client (stable: crc32, not the salted hash()).
        offset = zlib.crc32(f"{self.scope}:{ident}".encode()) % self.duration
        window, elapsed = divmod(self.timer() + offset, self.duration)
        self.key = self.cache_format % {"scope": self.scope, "ident": ident, "window": window}
        try:
            count = self._count()
        except Exception as error:
            # Fail open: with the cache (Redis) down, serving every request beats refusing or
            # failing them all; availability over strict limiting (issue 8: the API keeps
            # serving when Redis is down). The limits come back when the cache does.
            cache_breaker.trip(error)
            return True
        if count <= self.num_requests:
            return True
        self.wait_seconds = self.duration - elapsed
        setattr(request, _REFUSED, True)
        return False

    def _count(self) -> int:
        """This request's number in the window. The key lives two windows (at least 10 s), so it
        never expires while its window is counted, even when a 1-second window's requests are
        slow to arrive."""
        try:
            return self.cache.incr(self.key)
        except ValueError:  # the first request of the window
            if self.cache.add(self.key, 1, timeout=max(2 * self.duration, 10)):
                return 1
            return self.cache.incr(self.key)

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)


class KeyBurstThrottle(ApiRateThrottle):
    scope = "key_burst"


class KeySustainedThrottle(ApiRateThrottle):
    scope = "key_sustained"


class TenantThrottle(ApiRateThrottle):
    scope = "tenant"
    per = "tenant"


class BulkKeyThrottle(ApiRateThrottle):
    scope = "bulk_key"
    bulk = True


class BulkTenantThrottle(ApiRateThrottle):
    scope = "bulk_tenant"
    per = "tenant"
    bulk = True
