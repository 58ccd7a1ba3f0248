"""The project's drf-spectacular AutoSchema: every rate-limited operation documents its 429."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from tenants.api.throttles import ApiRateThrottle

TOO_MANY_REQUESTS = {
    "description": (
        "Too many requests: the API key or its tenant is over a rate limit (per key, a short "
        "burst rate and an hourly rate; per tenant, an hourly rate over all its keys; `bulk` "
        "routes have their own, lower request rates instead). Nothing was done; retry after "
        "the number of seconds in `Retry-After`."
    ),
    "headers": {
        "Retry-After": {
            "description": "Seconds until the limit that refused the request allows it again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "detail": {"type": "string"},
                    "code": {"type": "string", "enum": ["throttled"]},
                },
                "required": ["detail", "code"],
            }
        }
    },
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None or not self._is_rate_limited():
            return operation
        component = ResolvedComponent(
            name="TooManyRequests",
            type=ResolvedComponent.RESPONSE,
            object="TooManyRequests",
            schema=TOO_MANY_REQUESTS,
        )
        self.registry.register_on_missing(component)
        operation["responses"].setdefault("429", component.ref)
        return operation

    def _is_rate_limited(self) -> bool:
        throttles = getattr(self.view, "throttle_classes", None) or []
        return any(issubclass(throttle, ApiRateThrottle) for throttle in throttles)
