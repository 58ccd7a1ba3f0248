"""The project's drf-spectacular AutoSchema: every operation documents the errors it can give.

The error answers come from one handler (tenants/api/exceptions.py), so they are documented
here once, by what an operation has, rather than on each view: 401/403 where a key is
checked, 404 where the path addresses a row, 400 where there is input to refuse, 409 on
writes, 503 everywhere (the database or the queue is briefly down) and 429 where the
rate limits apply. A status a view documents itself is left as the view says.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from tenants.api.throttles import ApiRateThrottle

ERROR = {
    "type": "object",
    "description": "Every error answer: a message for people and a code for programs.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "description": "Per field (or per row) reasons, when the input was refused.",
        },
    },
    "required": ["detail", "code"],
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_ERRORS = {
    "400": "Bad request: a query parameter, the body or a value in the path is invalid "
    "(`errors` names each field). Nothing was written.",
    "401": "No API key, a malformed one, or a key that is unknown or revoked.",
    "403": "The API key lacks the scope this operation needs.",
    "404": "No such object in this tenant (another tenant's ids are unknown here).",
    "409": "The request conflicts with existing data (an external_id the tenant already "
    "has) or with the object's state (a campaign that is no longer a draft, a segment a "
    "campaign uses). Nothing was written.",
}

_UNAVAILABLE = (
    "The database or the task queue is briefly unavailable (restart, outage). Nothing was "
    "written; retry after `Retry-After` seconds."
)

TOO_MANY_REQUESTS = (
    "Too many requests: the API key or its tenant is over a rate limit (per key, a short "
    "burst rate and an hourly rate; per tenant, an hourly rate over all its keys; `bulk` "
    "routes have their own, lower request rates instead). Nothing was done; retry after "
    "the number of seconds in `Retry-After`."
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return operation
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(code, self._response(f"Error{code}", _ERRORS[code]))
        if "400" in responses:
            self._admit_error_body(responses["400"])
        responses.setdefault("503", self._response("Unavailable", _UNAVAILABLE, RETRY_AFTER))
        if self._is_rate_limited():
            responses.setdefault(
                "429", self._response("TooManyRequests", TOO_MANY_REQUESTS, RETRY_AFTER)
            )
        return operation

    def _get_paginator(self):
        # Only a GET list is paginated: `POST training-runs/` answers a plain list of runs.
        return super()._get_paginator() if self.method == "GET" else None

    def _error_codes(self, operation: dict) -> list[str]:
        codes = []
        if self.get_auth():
            codes += ["401", "403"]
        parameters = operation.get("parameters", [])
        if any(parameter["in"] == "path" for parameter in parameters):
            codes.append("404")
        if parameters or "requestBody" in operation:
            codes.append("400")
        if self.method in WRITE_METHODS:
            codes.append("409")
        return codes

    def _error_schema(self) -> dict:
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _response(self, name: str, description: str, headers: dict | None = None) -> dict:
        response = {
            "description": description,
            "content": {"application/json": {"schema": self._error_schema()}},
        }
        if headers:
            response["headers"] = headers
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.RESPONSE, object=name, schema=response
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _admit_error_body(self, response: dict) -> None:
        """A view's own 400 (a bulk result listing rejected rows) can also be the common
        error body, when the request is refused before any row is read."""
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        error = self._error_schema()
        if schema is None or schema == error or "anyOf" in schema:
            return
        response["content"]["application/json"]["schema"] = {"anyOf": [schema, error]}

    def _is_rate_limited(self) -> bool:
        throttles = getattr(self.view, "throttle_classes", None) or []
        return any(issubclass(throttle, ApiRateThrottle) for throttle in throttles)
