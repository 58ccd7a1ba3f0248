"""The audit log's writes. The actor comes from a context variable that the API's base view
(an API key) and the admin's middleware (a user) set for the request; anything else (a
Celery task, a command) acts as "system"."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tenants.context import tenant_scope
from tenants.models import AuditEvent, Tenant

SYSTEM = "system"
_actor: contextvars.ContextVar[str] = contextvars.ContextVar("audit_actor", default=SYSTEM)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = _actor.set(actor[:200])
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    return _actor.get()


def audit(
    *, tenant: Tenant | int, action: str, object_type: str = "", object_ref: object = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:  # fmt: skip
    """Append one event for `tenant`, by the current actor."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with tenant_scope(tenant_id):
        return AuditEvent.objects.create(
            tenant_id=tenant_id, actor=current_actor(), action=action[:100],
            object_type=object_type[:100], object_ref=str(object_ref)[:300],
            details=details or {},
        )  # fmt: skip
