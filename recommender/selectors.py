"""Reads of a tenant's interactions for the recommender's trainers and serving."""

from __future__ import annotations

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Max

from customers.models import Customer, Interaction, Product
from customers.pg_arrays import from_array_send
from recommender.ml.data import KINDS, InteractionArrays
from tenants.context import TenantScopeError, current_tenant_id, tenant_scope
from tenants.models import Tenant

# On PostgreSQL each column arrives as one array in PostgreSQL's binary array format
# (array_send): a 20-byte header, then a 4-byte length and the value for every element,
# which numpy reads straight from the buffer without a Python object per row.
_CHUNK_ROWS = 5_000_000  # keeps each array far below PostgreSQL's 1 GB value limit
_COLUMNS = {"id": ">i8", "customer": ">i8", "product": ">i8", "kind": ">i2", "value": ">f8",
            "timestamp": ">f8"}  # fmt: skip


def _kind_code_sql(column: str = "kind") -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {code}" for code, kind in enumerate(KINDS))
    return f"CAST(CASE {column} {cases} END AS smallint)"


def _select_sql(epoch: str) -> str:
    return (
        f"SELECT id, customer_id, COALESCE(product_id, -1), {_kind_code_sql()}, "
        f"COALESCE(value, CAST('NaN' AS double precision)), {epoch} "
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = %s ORDER BY id"
    )


def _arrays_postgresql(tenant_id: int) -> dict[str, np.ndarray]:
    sql = (
        "SELECT count(*), max(id), array_send(array_agg(id)), array_send(array_agg(customer_id)), "
        "array_send(array_agg(COALESCE(product_id, -1))), array_send(array_agg(kind_code)), "
        "array_send(array_agg(COALESCE(value, 'NaN'))), array_send(array_agg(epoch)) "
        f"FROM (SELECT id, customer_id, product_id, {_kind_code_sql()} AS kind_code, value, "
        "EXTRACT(EPOCH FROM occurred_at)::float8 AS epoch "
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = %s AND id > %s "
        "ORDER BY id LIMIT %s) AS chunk"
    )
    chunks: list[list[np.ndarray]] = []
    after = 0
    with connection.cursor() as cursor:
        raw = psycopg.Cursor(cursor.cursor.connection)  # binary results need a plain cursor
        while True:
            raw.execute(sql, [tenant_id, after, _CHUNK_ROWS], binary=True)
            count, newest, *columns = raw.fetchone()
            if not count:
                break
            chunks.append(
                [
                    from_array_send(data, dtype)
                    for data, dtype in zip(columns, _COLUMNS.values(), strict=True)
                ]
            )
            if count < _CHUNK_ROWS:
                break
            after = newest
    if not chunks:
        return {name: np.empty(0) for name in _COLUMNS}
    return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(_COLUMNS)}


def _arrays_generic(tenant_id: int) -> dict[str, np.ndarray]:
    with connection.cursor() as cursor:
        cursor.execute(_select_sql("CAST(strftime('%%s', occurred_at) AS REAL)"), [tenant_id])
        table = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, len(_COLUMNS))
    return {name: table[:, i] for i, name in enumerate(_COLUMNS)}


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
    ids = records["id"]
    return arrays, {"interaction_id": int(ids.max()) if len(ids) else 0, "interactions": len(ids)}


def newest_interaction_time(*, tenant: Tenant, up_to_id: int) -> float | None:
    """When the newest event among the interactions with id <= `up_to_id` (a version's
    watermark) occurred, as epoch seconds; None when there are none. Ids follow ingestion,
    not event time (a bulk import is customer by customer), hence the max over all."""
    if up_to_id <= 0:
        return None
    with tenant_scope(tenant):
        newest = Interaction.objects.filter(tenant=tenant, pk__lte=up_to_id).aggregate(
            newest=Max("occurred_at")
        )["newest"]
    return None if newest is None else newest.timestamp()


def product_texts(*, tenant: Tenant) -> tuple[np.ndarray, list[str]]:
    """Every product's internal id and the text content models read (title, description,
    category, tags), in id order."""
    with tenant_scope(tenant):
        rows = list(
            Product.objects.filter(tenant=tenant)
            .order_by("id")
            .values_list("id", "title", "description", "category", "tags")
        )
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    texts = [
        " ".join([title, description, category, " ".join(tags or [])])
        for _, title, description, category, tags in rows
    ]
    return ids, texts


def _history(customer, product, kind, value, stamp) -> InteractionArrays:
    """InteractionArrays from the aggregated arrays of the serving statements."""
    if customer is None:
        return InteractionArrays.from_rows([])
    return InteractionArrays(
        customer=np.asarray(customer, dtype=np.int64),
        product=np.asarray(product, dtype=np.int64),
        kind=np.asarray(kind, dtype=np.int8),
        value=np.asarray(value, dtype=np.float64),
        timestamp=np.asarray(stamp, dtype=np.float64),
    )


def serving_reads(
    *, tenant: Tenant, external_id: str | None, kinds: list[str]
) -> tuple[dict[str, int], InteractionArrays]:
    """What a recommendation request reads before scoring: the active version id of each
    of `kinds` (so an activation is seen at once) and the customer's interactions now.

    On PostgreSQL one statement (the hot path: one round trip, no ORM compile), run inside
    the caller's tenant scope, so row-level security applies as to every query."""
    from training.models import ActiveModel  # the pointer table of the training platform

    if current_tenant_id() != tenant.pk:
        raise TenantScopeError("serving_reads runs inside its tenant's scope.")
    if connection.vendor != "postgresql":
        pointers = dict(
            ActiveModel.objects.filter(tenant=tenant, kind__in=kinds).values_list(
                "kind", "version_id"
            )
        )
        rows = Interaction.objects.filter(
            tenant=tenant, customer__tenant=tenant, customer__external_id=external_id
        ).values_list("customer_id", "product_id", "kind", "value", "occurred_at")
        history = [(c, p, k, v, t.timestamp()) for c, p, k, v, t in rows]
        return pointers, InteractionArrays.from_rows(history)
    sql = (
        f"SELECT (SELECT array_agg(kind || '=' || version_id) FROM {ActiveModel._meta.db_table} "
        "WHERE tenant_id = %(tenant)s AND kind = ANY(%(kinds)s)), "
        "array_agg(i.customer_id), array_agg(COALESCE(i.product_id, -1)), "
        f"array_agg({_kind_code_sql('i.kind')}), array_agg(COALESCE(i.value, 'NaN')), "
        "array_agg(EXTRACT(EPOCH FROM i.occurred_at)::float8) "
        f"FROM {Customer._meta.db_table} AS c JOIN {Interaction._meta.db_table} AS i "
        "ON i.customer_id = c.id AND i.tenant_id = %(tenant)s "
        "WHERE c.tenant_id = %(tenant)s AND c.external_id = %(external_id)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tenant": tenant.pk, "kinds": kinds, "external_id": external_id})
        pointer_list, customer, product, kind, value, stamp = cursor.fetchone()
    pointers = {k: int(v) for k, _, v in (p.partition("=") for p in pointer_list or [])}
    return pointers, _history(customer, product, kind, value, stamp)


def active_products(*, tenant: Tenant, ids: list[int]) -> dict[int, tuple[str, str]]:
    """External id and title of those of `ids` that are active products (the hot path's
    second and last statement)."""
    if current_tenant_id() != tenant.pk:
        raise TenantScopeError("active_products runs inside its tenant's scope.")
    if connection.vendor != "postgresql":
        rows = Product.objects.filter(tenant=tenant, id__in=ids, is_active=True).values_list(
            "id", "external_id", "title"
        )
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, external_id, title FROM {Product._meta.db_table} "
                "WHERE tenant_id = %s AND id = ANY(%s) AND is_active",
                [tenant.pk, ids],
            )
            rows = cursor.fetchall()
    return {pk: (external_id, title) for pk, external_id, title in rows}


def batch_reads(
    *, tenant: Tenant, customer_ids: list[int], kinds: list[str]
) -> tuple[dict[str, int], InteractionArrays]:
    """`serving_reads` for a batch of customers by internal id (campaign sends): the active
    version ids of `kinds` and those customers' interactions now. Runs in the caller's
    tenant scope."""
    from training.models import ActiveModel

    if current_tenant_id() != tenant.pk:
        raise TenantScopeError("batch_reads runs inside its tenant's scope.")
    pointers = dict(
        ActiveModel.objects.filter(tenant=tenant, kind__in=kinds).values_list("kind", "version_id")
    )
    if connection.vendor != "postgresql":
        rows = Interaction.objects.filter(tenant=tenant, customer_id__in=customer_ids).values_list(
            "customer_id", "product_id", "kind", "value", "occurred_at"
        )
        return pointers, InteractionArrays.from_rows(
            [(c, p, k, v, t.timestamp()) for c, p, k, v, t in rows]
        )
    sql = (
        "SELECT array_agg(customer_id), array_agg(COALESCE(product_id, -1)), "
        f"array_agg({_kind_code_sql()}), array_agg(COALESCE(value, 'NaN')), "
        "array_agg(EXTRACT(EPOCH FROM occurred_at)::float8) "
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = %s AND customer_id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk, list(customer_ids)])
        customer, product, kind, value, stamp = cursor.fetchone()
    return pointers, _history(customer, product, kind, value, stamp)


def product_cards(*, tenant: Tenant, ids: list[int]) -> dict[int, dict]:
    """What a message shows of each active product among `ids`: external id, title,
    category, price and the `url` attribute."""
    rows = Product.objects.filter(tenant=tenant, id__in=ids, is_active=True).values_list(
        "id", "external_id", "title", "category", "price", "attributes"
    )
    return {
        pk: {
            "external_id": external_id, "title": title, "category": category,
            "price": None if price is None else float(price),
            "url": str((attributes or {}).get("url", "")),
        }
        for pk, external_id, title, category, price, attributes in rows
    }  # fmt: skip
