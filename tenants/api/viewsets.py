"""The one base every tenant-scoped API view is built on (after PostHog's TeamAndOrgViewSetMixin).

It resolves the tenant from the API key, checks the scope each method needs, runs
the whole request inside that tenant's scope (one transaction, with row-level
security set on PostgreSQL) and filters every queryset by tenant. Subclasses name a
`model`; they cannot forget the tenant filter because they never build the base queryset.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.db import transaction
from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.audit import acting_as, audit
from tenants.context import tenant_scope
from tenants.models import Tenant


class TenantScopedViewMixin:
    model: type[Model] | None = None
    # True for a computed answer about an address (recommendations for a customer id) that
    # answers an id no row of the tenant holds with a fallback rather than a 404; the
    # cross-tenant suite then checks another tenant's id gets exactly that fallback.
    answers_any_address: bool = False

    @property
    def tenant(self) -> Tenant:
        return self.request.auth.tenant

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication, scope check, throttles
        self._scope = ExitStack()
        self._scope.enter_context(acting_as(f"api key:{request.auth.prefix}"))
        self._scope.enter_context(tenant_scope(request.auth.tenant))

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # An exception no handler turned into a response skips finalize_response; the
            # tenant scope must still end, or the next request on this thread inherits it.
            self._close_scope(rollback=True)

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        if response.status_code < 400 and request.method not in SAFE_METHODS:
            self._audit(request, response)
        # An error answer writes nothing.
        self._close_scope(rollback=response.status_code >= 400)
        return super().finalize_response(request, response, *args, **kwargs)

    def _close_scope(self, *, rollback: bool) -> None:
        scope, self._scope = getattr(self, "_scope", None), None
        if scope is None:
            return
        if rollback:
            transaction.set_rollback(True)
        scope.close()

    def _audit(self, request: Request, response: Response) -> None:
        """Every successful write over the API, in the audit log (inside the request's
        transaction: an answer that is rolled back leaves no event)."""
        if getattr(self, "_scope", None) is None or self.model is None:
            return
        lookup = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk")
        ref = self.kwargs.get(lookup, "")
        audit(
            tenant=request.auth.tenant,
            action=getattr(self, "action", None) or request.method.lower(),
            object_type=self.model.__name__, object_ref=ref,
            details={"method": request.method, "path": request.path, "status": response.status_code},
        )  # fmt: skip

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no tenant
            return self.model.unscoped_objects.none()
        return self.scope_queryset(self.model.objects.all())

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(tenant=self.tenant)

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and getattr(self.request, "auth", None):
            context["tenant"] = self.tenant
        return context


class TenantViewSet(TenantScopedViewMixin, viewsets.GenericViewSet):
    pass


class TenantModelViewSet(TenantScopedViewMixin, viewsets.ModelViewSet):
    pass
