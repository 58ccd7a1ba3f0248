"""The tenant in scope: a context variable, mirrored into PostgreSQL for row-level security.

Everything that touches tenant-owned rows runs inside `tenant_scope(...)`. On
PostgreSQL the scope is a transaction in which `app.tenant_id` is set with
`set_config(..., true)`, so the setting cannot leak to the next user of a pooled
connection. Outside any scope the tenant-scoped managers raise.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connection, transaction

if TYPE_CHECKING:
    from tenants.models import Tenant

_tenant_ids: contextvars.ContextVar[tuple[int, ...] | None] = contextvars.ContextVar(
    "tenant_ids", default=None
)


class TenantScopeError(RuntimeError):
    """A tenant-owned table was queried with no tenant in scope."""


def current_tenant_ids() -> tuple[int, ...]:
    ids = _tenant_ids.get()
    if ids is None:
        raise TenantScopeError(
            "No tenant in scope: wrap this code in tenants.context.tenant_scope(...), "
            "or use the explicit unscoped_objects manager."
        )
    return ids


def current_tenant_id() -> int:
    """The single tenant in scope; raises when none or several are in scope."""
    ids = current_tenant_ids()
    if len(ids) != 1:
        raise TenantScopeError(f"Expected exactly one tenant in scope, found {len(ids)}.")
    return ids[0]


def has_tenant_scope() -> bool:
    return _tenant_ids.get() is not None


def _set_database_tenant(ids: tuple[int, ...] | None) -> None:
    if connection.vendor != "postgresql":
        return
    value = ",".join(str(i) for i in ids) if ids else ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [value])


@contextmanager
def tenant_scope(
    tenant: Tenant | int | None = None, *, tenants: Iterable[Tenant | int] | None = None
) -> Iterator[None]:
    """Run the block as one transaction scoped to one tenant (or, for the admin, several)."""
    if (tenant is None) == (tenants is None):
        raise ValueError("Pass exactly one of tenant or tenants.")
    chosen = [tenant] if tenant is not None else list(tenants or [])
    ids = tuple(sorted({t if isinstance(t, int) else t.pk for t in chosen}))
    previous = _tenant_ids.get()
    # Nested in a scope of the same tenants, the database already has the setting.
    unchanged = previous == ids and connection.in_atomic_block
    token = _tenant_ids.set(ids)
    try:
        with transaction.atomic():
            if not unchanged:
                _set_database_tenant(ids)
            yield
    finally:
        _tenant_ids.reset(token)
        if connection.in_atomic_block and not connection.needs_rollback and not unchanged:
            # Inside an enclosing transaction: give it back the tenant it had.
            _set_database_tenant(previous)


@contextmanager
def tenant_reads(tenant: Tenant | int) -> Iterator[None]:
    """For reads only: join the enclosing scope when it is already this tenant's (no
    savepoint, no round trip: the hot serving path), else open a scope of its own."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    if _tenant_ids.get() == (tenant_id,) and connection.in_atomic_block:
        yield
        return
    with tenant_scope(tenant_id):
        yield
