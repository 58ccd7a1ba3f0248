"""Reads of a tenant's interactions for the recommender's trainers and serving."""

from __future__ import annotations

import numpy as np
import psycopg
from django.db import connection

from customers.models import Interaction
from recommender.ml.data import KINDS, InteractionArrays
from tenants.context import tenant_scope
from tenants.models import Tenant

# On PostgreSQL each row is packed server-side into fixed-width big-endian bytes and the rows
# are concatenated into one bytea per chunk, which numpy reads straight from the buffer: no
# Python object per row, so a million interactions load in about a second.
_PACKED_ROW = np.dtype(
    [("id", ">i8"), ("customer", ">i8"), ("product", ">i8"), ("kind", ">i2"),
     ("value", ">f8"), ("timestamp", ">f8")]
)  # fmt: skip
_CHUNK_ROWS = 5_000_000  # a bytea stays far below PostgreSQL's 1 GB limit


def _kind_code_sql() -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {code}" for code, kind in enumerate(KINDS))
    return f"CAST(CASE kind {cases} END AS smallint)"


def _select_sql(epoch: str) -> str:
    return (
        f"SELECT id, customer_id, COALESCE(product_id, -1), {_kind_code_sql()}, "
        f"COALESCE(value, CAST('NaN' AS double precision)), {epoch} "
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = %s ORDER BY id"
    )


def _arrays_postgresql(tenant_id: int) -> np.ndarray:
    sql = (
        "SELECT count(*), max(id), string_agg(int8send(id) || int8send(customer_id) "
        "|| int8send(COALESCE(product_id, -1)) || int2send(kind_code) "
        "|| float8send(COALESCE(value, 'NaN')) || float8send(epoch), '' ORDER BY id) "
        f"FROM (SELECT id, customer_id, product_id, {_kind_code_sql()} AS kind_code, value, "
        "EXTRACT(EPOCH FROM occurred_at)::float8 AS epoch "
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = %s AND id > %s "
        "ORDER BY id LIMIT %s) AS chunk"
    )
    chunks, after = [], 0
    with connection.cursor() as cursor:
        raw = psycopg.Cursor(cursor.cursor.connection)  # binary results need a server cursor
        while True:
            raw.execute(sql, [tenant_id, after, _CHUNK_ROWS], binary=True)
            count, newest, packed = raw.fetchone()
            if not count:
                break
            chunks.append(np.frombuffer(packed, dtype=_PACKED_ROW))
            if count < _CHUNK_ROWS:
                break
            after = newest
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=_PACKED_ROW)


def _arrays_generic(tenant_id: int) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(_select_sql("CAST(strftime('%%s', occurred_at) AS REAL)"), [tenant_id])
        rows = cursor.fetchall()
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    records = np.empty(len(table), dtype=[(n, "f8") for n in ("id", "customer", "product",
                                                               "kind", "value", "timestamp")])  # fmt: skip
    for i, name in enumerate(records.dtype.names):
        records[name] = table[:, i]
    return records


def interaction_arrays(*, tenant: Tenant) -> tuple[InteractionArrays, dict]:
    """All of a tenant's interactions as arrays, and the watermark (newest id, count)."""
    with tenant_scope(tenant):
        if connection.vendor == "postgresql":
            records = _arrays_postgresql(tenant.pk)
        else:
            records = _arrays_generic(tenant.pk)
    arrays = InteractionArrays(
        customer=records["customer"].astype(np.int64),
        product=records["product"].astype(np.int64),
        kind=records["kind"].astype(np.int8),
        value=records["value"].astype(np.float64),
        timestamp=records["timestamp"].astype(np.float64),
    )
    newest = int(records["id"][-1]) if len(records) else 0
    return arrays, {"interaction_id": newest, "interactions": len(records)}
