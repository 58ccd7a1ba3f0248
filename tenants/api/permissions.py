from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import exceptions, permissions

from tenants.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

# Scopes as data (after Sentry's scope_map): the scope each HTTP method needs by default.
DEFAULT_SCOPE_MAP = {
    "GET": "read",
    "HEAD": "read",
    "OPTIONS": "read",
    "POST": "write",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "write",
}


def required_scope(view: APIView, method: str) -> str | None:
    """The scope `method` needs on `view`; None for a method the API does not serve."""
    action = getattr(view, "action", None)
    action_scopes = getattr(view, "action_scopes", {})
    if action in action_scopes:
        return action_scopes[action]
    return getattr(view, "scope_map", DEFAULT_SCOPE_MAP).get(method.upper())


class HasScope(permissions.BasePermission):
    message = "This API key lacks the scope this request needs."

    def has_permission(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        scope = required_scope(view, request.method)
        if scope is None:  # TRACE and the like: a 405, not a KeyError
            raise exceptions.MethodNotAllowed(request.method)
        if scope in api_key.scopes:
            return True
        self.message = f"This API key lacks the '{scope}' scope this request needs."
        return False
