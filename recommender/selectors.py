"""Reads of a tenant's interactions for the recommender's trainers and serving."""

from __future__ import annotations

from django.db import connection

from customers.models import Interaction
from recommender.ml.data import InteractionArrays
from tenants.context import tenant_scope
from tenants.models import Tenant


def _epoch_sql() -> str:
    if connection.vendor == "postgresql":
        return "EXTRACT(EPOCH FROM occurred_at)::float8"
    return "CAST(strftime('%%s', occurred_at) AS REAL)"


def interaction_arrays(*, tenant: Tenant) -> tuple[InteractionArrays, dict]:
    """All of a tenant's interactions as arrays, and the watermark (newest id, count)."""
    table = Interaction._meta.db_table
    sql = (
        f"SELECT id, customer_id, product_id, kind, value, {_epoch_sql()} "
        f"FROM {table} WHERE tenant_id = %s ORDER BY id"
    )
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk])
        rows = cursor.fetchall()
    arrays = InteractionArrays.from_rows([row[1:] for row in rows])
    watermark = {"interaction_id": rows[-1][0] if rows else 0, "interactions": len(rows)}
    return arrays, watermark
