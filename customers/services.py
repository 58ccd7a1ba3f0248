"""Writes to customers and products. Batch ingest lives in customers.ingest.bulk."""

from __future__ import annotations

from customers.ingest.bulk import (  # noqa: F401  (re-exported: the app's write API)
    BulkResult,
    customer_upsert_bulk,
    interaction_ingest_bulk,
    product_upsert_bulk,
)
from customers.models import Customer, Product
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


def customer_create(*, tenant: Tenant, data: dict) -> Customer:
    return _create(Customer, tenant, data)


def customer_update(*, customer: Customer, data: dict) -> Customer:
    return _update(customer, data)


def customer_delete(*, customer: Customer) -> None:
    customer.delete()


def product_create(*, tenant: Tenant, data: dict) -> Product:
    return _create(Product, tenant, data)


def product_update(*, product: Product, data: dict) -> Product:
    return _update(product, data)


def product_delete(*, product: Product) -> None:
    product.delete()
