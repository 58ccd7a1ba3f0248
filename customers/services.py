"""Writes to customers and products. Batch ingest lives in customers.ingest.bulk."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection

from customers.ingest.bulk import (  # noqa: F401  (re-exported: the app's write API)
    BulkResult,
    consent_record,  # noqa: F401  (re-exported)
    customer_upsert_bulk,
    interaction_ingest_bulk,
    product_upsert_bulk,
)
from customers.models import Customer, CustomerPrediction, Product
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.models import Tenant


def _create(model: type, tenant: Tenant, data: dict):
    if model.objects.filter(tenant=tenant, external_id=data["external_id"]).exists():
        raise Conflict(
            f"A {model._meta.verbose_name} with external_id {data['external_id']!r} exists."
        )
    return model.objects.create(tenant=tenant, **data)


def _update(instance, data: dict):
    data.pop("external_id", None)  # the client's id is the address; it does not change
    for field, value in data.items():
        setattr(instance, field, value)
    instance.save()
    return instance


def customer_create(*, tenant: Tenant, data: dict, source: str = "api") -> Customer:
    customer = _create(Customer, tenant, data)
    if "email_opt_in" in data:
        consent_record(tenant=tenant, changes={customer.pk: customer.email_opt_in}, source=source)
    return customer


def customer_update(*, customer: Customer, data: dict, source: str = "api") -> Customer:
    before = customer.email_opt_in
    customer = _update(customer, data)
    if "email_opt_in" in data and customer.email_opt_in != before:
        consent_record(
            tenant=customer.tenant_id, changes={customer.pk: customer.email_opt_in}, source=source
        )
    return customer


def customer_delete(*, customer: Customer) -> None:
    customer.delete()


def product_create(*, tenant: Tenant, data: dict) -> Product:
    return _create(Product, tenant, data)


def product_update(*, product: Product, data: dict) -> Product:
    return _update(product, data)


def product_delete(*, product: Product) -> None:
    product.delete()


PREDICTION_CHUNK = 100_000  # rows per INSERT: bounded statement size


def customer_predictions_store(
    *, tenant: Tenant, version: Any, customer_ids: np.ndarray,
    segments: np.ndarray | None = None, scores: np.ndarray | None = None,
) -> int:  # fmt: skip
    """Store a model version's per-customer outputs (a segment and/or a score each); one
    array-parameter INSERT per chunk on PostgreSQL. Returns the number of rows."""
    n = len(customer_ids)
    segment_list = [None] * n if segments is None else [int(s) for s in segments]
    score_list = [None] * n if scores is None else [float(s) for s in scores]
    ids = [int(c) for c in customer_ids]
    with tenant_scope(tenant):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for start in range(0, n, PREDICTION_CHUNK):
                    part = slice(start, start + PREDICTION_CHUNK)
                    cursor.execute(
                        f"INSERT INTO {CustomerPrediction._meta.db_table} "
                        "(tenant_id, version_id, customer_id, segment, score) "
                        "SELECT %s, %s, c, s, p FROM unnest(%s::bigint[], %s::int[], "
                        "%s::float8[]) AS u(c, s, p)",
                        [tenant.pk, version.pk, ids[part], segment_list[part], score_list[part]],
                    )
        else:
            CustomerPrediction.objects.bulk_create(
                [
                    CustomerPrediction(
                        tenant=tenant, version_id=version.pk, customer_id=c, segment=s, score=p
                    )  # fmt: skip
                    for c, s, p in zip(ids, segment_list, score_list, strict=True)
                ],
                batch_size=5_000,
            )
    return n
