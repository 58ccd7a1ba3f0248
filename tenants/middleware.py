"""Scope admin requests to the signed-in user's tenants (all tenants for a superuser)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tenants.audit import acting_as
from tenants.context import tenant_scope
from tenants.selectors import tenant_ids_for_user


class AdminTenantScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if not request.path.startswith("/admin/") or not (user and user.is_authenticated):
            return self.get_response(request)
        request.tenant_ids = tenant_ids_for_user(user=user)
        with acting_as(f"user:{user.get_username()}"), tenant_scope(tenants=request.tenant_ids):
            return self.get_response(request)
