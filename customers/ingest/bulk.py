"""Batch writes shared by the bulk API, the file importers and the demo loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TypeVar

from django.db import connection, transaction
from django.utils import timezone

from customers.ingest.validation import (
    RowError,
    validate_customer,
    validate_interaction,
    validate_product,
)
from customers.models import ConsentEvent, Customer, Interaction, Product
from tenants.context import tenant_scope
from tenants.models import Tenant
from tenants.pseudonyms import customer_fields, customer_ref, is_pseudonymised

T = TypeVar("T")


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    customers_created: int = 0
    products_created: int = 0
    rejected: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.duplicates

    def merge(self, other: BulkResult, index_offset: int = 0) -> None:
        self.created += other.created
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.customers_created += other.customers_created
        self.products_created += other.products_created
        self.rejected.extend({**r, "index": r["index"] + index_offset} for r in other.rejected)


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` rows, in order, without holding more than one in memory."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _validate_all(rows: list, validator, result: BulkResult) -> list[tuple[int, dict]]:
    valid = []
    for index, row in enumerate(rows):
        try:
            valid.append((index, validator(row)))
        except RowError as error:
            result.rejected.append(error.as_dict(index))
    return valid


def ensure_by_external_id(
    model: type, tenant: Tenant, external_ids: Iterable[str]
) -> tuple[dict[str, int], int]:
    """Map external ids to internal ids, creating the missing rows. Returns (map, created)."""
    wanted = set(external_ids)
    if not wanted:
        return {}, 0
    found = dict(model.objects.filter(external_id__in=wanted).values_list("external_id", "id"))
    missing = wanted - found.keys()
    if missing:
        # Sorted, so concurrent batches lock new keys in one order and cannot deadlock.
        model.objects.bulk_create(
            [model(tenant=tenant, external_id=ext) for ext in sorted(missing)],
            ignore_conflicts=True,
        )
        found.update(model.objects.filter(external_id__in=missing).values_list("external_id", "id"))
    return found, len(missing)


def _upsert(model: type, tenant: Tenant, valid: list[tuple[int, dict]], result: BulkResult) -> None:
    # Last row wins when one batch names the same external id twice.
    latest: dict[str, dict] = {}
    for _, clean in valid:
        latest[clean["external_id"]] = {**latest.get(clean["external_id"], {}), **clean}
    existing = set(
        model.objects.filter(external_id__in=latest.keys()).values_list("external_id", flat=True)
    )
    # Rows that name different fields are upserted in groups, so a missing field keeps its value.
    groups: dict[tuple[str, ...], list[dict]] = {}
    for clean in latest.values():
        groups.setdefault(tuple(sorted(set(clean) - {"external_id"})), []).append(clean)
    for fields, members in groups.items():
        members.sort(key=lambda clean: clean["external_id"])  # one lock order: no deadlocks
        objects = [model(tenant=tenant, **clean) for clean in members]
        if fields:
            model.objects.bulk_create(
                objects,
                update_conflicts=True,
                unique_fields=["tenant", "external_id"],
                update_fields=[*fields, "updated_at"],
            )
        else:
            model.objects.bulk_create(objects, ignore_conflicts=True)
    result.updated += len(existing)
    result.created += len(latest) - len(existing)
    result.duplicates += len(valid) - len(latest)


def consent_record(*, tenant: Tenant | int, changes: dict[int, bool], source: str,
                   channel: str = "email") -> None:  # fmt: skip
    """Append grants and withdrawals (customer id -> granted) to the consent log."""
    if not changes:
        return
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with tenant_scope(tenant_id):
        ConsentEvent.objects.bulk_create(
            ConsentEvent(
                tenant_id=tenant_id, customer_id=pk, channel=channel, granted=granted, source=source
            )  # fmt: skip
            for pk, granted in changes.items()
        )


def customer_upsert_bulk(*, tenant: Tenant, rows: list, source: str = "bulk") -> BulkResult:
    result = BulkResult()
    valid = [(index, customer_fields(tenant, clean))
             for index, clean in _validate_all(rows, validate_customer, result)]  # fmt: skip
    with tenant_scope(tenant):
        # Consent before and after, for the log: only real changes are appended.
        named = {clean["external_id"]: clean["email_opt_in"] for _, clean in valid
                 if "email_opt_in" in clean}  # fmt: skip
        before = dict(
            Customer.objects.filter(external_id__in=named).values_list(
                "external_id", "email_opt_in"
            )
        )
        _upsert(Customer, tenant, valid, result)
        after = Customer.objects.filter(external_id__in=named).values_list(
            "external_id", "id", "email_opt_in"
        )
        consent_record(
            tenant=tenant, source=source,
            changes={pk: now for ext, pk, now in after if before.get(ext) != now},
        )  # fmt: skip
    return result


def product_upsert_bulk(*, tenant: Tenant, rows: list) -> BulkResult:
    result = BulkResult()
    valid = _validate_all(rows, validate_product, result)
    with tenant_scope(tenant):
        _upsert(Product, tenant, valid, result)
    return result


# Called (after commit) with the tenant when a batch stored reviews with text: the nlp app
# registers the scoring of new reviews here, so ingest does not depend on it.
NEW_REVIEW_HOOKS: list[Callable[[Tenant], None]] = []


def _announce_reviews(tenant: Tenant, stored: list[dict]) -> None:
    if NEW_REVIEW_HOOKS and any(r["text"] and r["kind"] in ("review", "rating") for r in stored):
        for hook in NEW_REVIEW_HOOKS:
            transaction.on_commit(lambda hook=hook: hook(tenant))


def interaction_ingest_bulk(
    *, tenant: Tenant, rows: list, now: datetime | None = None
) -> BulkResult:
    """Store new events; a repeated event_id (in this batch or before) is counted, not stored."""
    now = now or timezone.now()
    result = BulkResult()
    valid = _validate_all(rows, lambda row: validate_interaction(row, now=now), result)
    if is_pseudonymised(tenant):
        for _, clean in valid:
            clean["customer"] = customer_ref(tenant, clean["customer"])
    unique: dict[str, dict] = {}
    for _, clean in valid:
        unique.setdefault(clean["event_id"], clean)
    result.duplicates += len(valid) - len(unique)
    if not unique:
        return result
    if connection.vendor == "postgresql":
        _store_interactions_postgresql(tenant, unique, result)
        if result.created:
            _announce_reviews(tenant, list(unique.values()))
        return result
    with tenant_scope(tenant):
        seen = set(
            Interaction.objects.filter(event_id__in=unique.keys()).values_list(
                "event_id", flat=True
            )
        )
        result.duplicates += len(seen)
        fresh = [unique[event_id] for event_id in sorted(unique.keys() - seen)]
        customer_ids, result.customers_created = ensure_by_external_id(
            Customer, tenant, (c["customer"] for c in fresh)
        )
        product_ids, result.products_created = ensure_by_external_id(
            Product, tenant, (c["product"] for c in fresh if c["product"])
        )
        Interaction.objects.bulk_create(
            [
                Interaction(
                    tenant=tenant,
                    event_id=clean["event_id"],
                    customer_id=customer_ids[clean["customer"]],
                    product_id=product_ids[clean["product"]] if clean["product"] else None,
                    kind=clean["kind"],
                    value=clean["value"],
                    text=clean["text"],
                    occurred_at=clean["occurred_at"],
                )
                for clean in fresh
            ],
            batch_size=2000,
            # A concurrent request may have stored the same event meanwhile: still stored once.
            ignore_conflicts=True,
        )
        result.created += len(fresh)
        _announce_reviews(tenant, fresh)
    return result


_INSERT_INTERACTIONS_SQL = """
INSERT INTO customers_interaction
    (tenant_id, event_id, customer_id, product_id, kind, value, text, occurred_at, received_at)
SELECT %s, e, c, p, k, v, t, o, now()
FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::float8[], %s::text[],
            %s::timestamptz[]) AS u(e, c, p, k, v, t, o)
ON CONFLICT (tenant_id, event_id) DO NOTHING
"""


def _store_interactions_postgresql(
    tenant: Tenant, unique: dict[str, dict], result: BulkResult
) -> None:
    """One statement per table with arrays as parameters: a batch of 1,000 events costs a few
    milliseconds of Python instead of building 1,000 model instances."""
    from customers.ingest.pg_copy import ExternalIds

    rows = [unique[event_id] for event_id in sorted(unique)]  # one lock order: no deadlocks
    customers, products = ExternalIds("customers_customer"), ExternalIds("customers_product")
    with tenant_scope(tenant), connection.cursor() as cursor:
        result.customers_created = customers.resolve(
            cursor, tenant.pk, {r["customer"] for r in rows}
        )
        result.products_created = products.resolve(
            cursor, tenant.pk, sorted({r["product"] for r in rows if r["product"]})
        )
        cursor.execute(
            _INSERT_INTERACTIONS_SQL,
            [
                tenant.pk,
                [r["event_id"] for r in rows],
                [int(customers.ids[r["customer"]]) for r in rows],
                [int(products.ids[r["product"]]) if r["product"] else None for r in rows],
                [r["kind"] for r in rows],
                [r["value"] for r in rows],
                [r["text"] for r in rows],
                [r["occurred_at"] for r in rows],
            ],
        )
        inserted = cursor.rowcount
    result.created += inserted
    # A repeated event_id (stored before, or by a concurrent request) was not stored again.
    result.duplicates += len(rows) - inserted
