"""Writes to customers and products. Batch ingest lives in customers.ingest.bulk."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection, transaction

from customers.ingest.bulk import (  # noqa: F401  (re-exported: the app's write API)
    BulkResult,
    chunks,
    consent_record,  # noqa: F401  (re-exported)
    customer_upsert_bulk,
    interaction_ingest_bulk,
    product_upsert_bulk,
)
from customers.models import Customer, CustomerPrediction, Product
from tenants.audit import audit
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.models import AuditEvent, Tenant
from tenants.pseudonyms import customer_fields, customer_ref, looks_pseudonymised


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
    data = customer_fields(tenant, data)
    customer = _create(Customer, tenant, data)
    if "email_opt_in" in data:
        consent_record(tenant=tenant, changes={customer.pk: customer.email_opt_in}, source=source)
    return customer


def customer_update(*, customer: Customer, data: dict, source: str = "api") -> Customer:
    before = customer.email_opt_in
    customer = _update(customer, customer_fields(customer.tenant, data))
    if "email_opt_in" in data and customer.email_opt_in != before:
        consent_record(
            tenant=customer.tenant_id, changes={customer.pk: customer.email_opt_in}, source=source
        )
    return customer


def customer_delete(*, customer: Customer) -> None:
    customer.delete()


CHUNK = 5000  # rows per UPDATE when pseudonymising


def customers_pseudonymise(*, tenant: Tenant) -> int:
    """Turn pseudonymisation on for `tenant`: every stored customer id and email (and the
    customer ids in its audit log) becomes its keyed hash, in one transaction, and from then
    on every write and lookup hashes the client's values. One way: the originals are gone.
    Returns how many customers were converted."""
    converted = 0
    with transaction.atomic(), tenant_scope(tenant):
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if tenant.pseudonymise_customers:
            return 0
        tenant.pseudonymise_customers = True
        rows = Customer.objects.filter(tenant=tenant).only("id", "external_id", "email")
        for chunk in chunks(rows.order_by("id").iterator(chunk_size=CHUNK), CHUNK):
            for customer in chunk:
                if not looks_pseudonymised(customer.external_id):
                    stored = customer_fields(tenant, {"external_id": customer.external_id,
                                                      "email": customer.email})  # fmt: skip
                    customer.external_id, customer.email = stored["external_id"], stored["email"]
            Customer.objects.bulk_update(chunk, ["external_id", "email"])
            converted += len(chunk)
        events = AuditEvent.objects.filter(tenant=tenant, object_type="Customer").exclude(
            object_ref=""
        )
        for chunk in chunks(events.only("id", "object_ref").iterator(chunk_size=CHUNK), CHUNK):
            for event in chunk:
                if not looks_pseudonymised(event.object_ref):
                    event.object_ref = customer_ref(tenant, event.object_ref)
            AuditEvent.objects.bulk_update(chunk, ["object_ref"])
        tenant.save(update_fields=["pseudonymise_customers"])
        audit(tenant=tenant, action="pseudonymise customers", object_type="Tenant",
              object_ref=tenant.slug, details={"customers": converted})  # fmt: skip
    return converted


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
