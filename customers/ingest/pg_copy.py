"""Interaction import on PostgreSQL: COPY into a temp staging table, then set-based SQL.

The application role is subject to row-level security, and PostgreSQL refuses
`COPY ... FROM` into a table with RLS for such a role. So each chunk is copied into
a TEMP table (no RLS), then moved with `INSERT ... SELECT ... ON CONFLICT DO NOTHING`
inside `tenant_scope`, where the policy's WITH CHECK holds. Customer and product ids
are resolved (and missing rows created) before the COPY, see ExternalIds.

Parsing and validation are the Python side's cost, so CSV rows go through
`fast_staged_row`, which accepts only rows it is sure the shared validator accepts
and returns what the validator's output would give; every other row goes to
`validate_interaction` itself, so every rejection reason comes from the shared rules.
A property test holds the two together when the rules change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from django.db import connection

from customers.ingest.validation import (
    EXTERNAL_ID_MAX,
    FUTURE_TOLERANCE,
    INTERACTION_KINDS,
    KINDS_NEEDING_PRODUCT,
    TEXT_MAX,
    VALUE_MAX,
    RowError,
    validate_interaction,
)
from tenants.context import tenant_scope
from tenants.models import Tenant
from tenants.pseudonyms import customer_ref, is_pseudonymised

STAGING = "mip_import_interactions"
STAGED_FIELDS = ("event_id", "customer", "product", "kind", "value", "text", "occurred_at")
NULL = "\\N"  # COPY's text-format NULL
ID_CACHE_LIMIT = 2_000_000  # external ids remembered per table (about 200 MB at most)
_KINDS = frozenset(INTERACTION_KINDS)
_fromisoformat = datetime.fromisoformat

_CREATE_STAGING = f"""
CREATE TEMP TABLE {STAGING} (
    event_id text NOT NULL, customer_id bigint NOT NULL, product_id bigint, kind text NOT NULL,
    value double precision, text text NOT NULL, occurred_at timestamptz NOT NULL
) ON COMMIT DROP
"""
_COPY = f"""COPY {STAGING} (event_id, customer_id, product_id, kind, value, text, occurred_at)
FROM STDIN"""
_INSERT_INTERACTIONS = f"""
INSERT INTO customers_interaction
    (tenant_id, event_id, customer_id, product_id, kind, value, text, occurred_at, received_at)
SELECT %s, event_id, customer_id, product_id, kind, value, text, occurred_at, now()
FROM {STAGING}
ON CONFLICT (tenant_id, event_id) DO NOTHING
"""
# Defaults spelt out: Django's model defaults live in Python, not in the schema.
_NEW_ROW_VALUES = {
    "customers_customer": ("email, attributes, email_opt_in", "'', '{}'::jsonb, false"),
    "customers_product": (
        "title, description, category, price, tags, attributes, is_active",
        "'', '', '', NULL, '[]'::jsonb, '{}'::jsonb, true",
    ),
}


class ExternalIds:
    """external_id -> id (as COPY text) of one table for one tenant, creating missing rows.

    Ids are resolved here, a chunk's distinct names at a time, rather than by joins in
    SQL: statistics lag behind a big import into a fresh tenant, and the planner then
    chose nested loops that took minutes a chunk. These two statements have no join.
    """

    def __init__(self, table: str) -> None:
        self.table = table
        columns, values = _NEW_ROW_VALUES[table]
        self.select_sql = (
            f"SELECT external_id, id FROM {table} WHERE tenant_id = %s AND external_id = ANY(%s)"
        )
        self.insert_sql = (
            f"INSERT INTO {table} (tenant_id, external_id, {columns}, created_at, updated_at) "
            f"SELECT %s, name, {values}, now(), now() FROM unnest(%s::text[]) AS name "
            "ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING external_id, id"
        )
        self.ids: dict[str | None, str] = {None: NULL}

    def resolve(self, cursor: Any, tenant_id: int, names: set) -> int:
        """Make sure every name has an id; returns how many rows were created."""
        ids = self.ids
        missing = [name for name in names if name not in ids]
        if not missing:
            return 0
        if len(ids) + len(missing) > ID_CACHE_LIMIT:
            ids.clear()
            ids[None] = NULL
            missing = [name for name in names if name is not None]
        cursor.execute(self.select_sql, [tenant_id, missing])
        ids.update((name, str(pk)) for name, pk in cursor.fetchall())
        missing = [name for name in missing if name not in ids]
        if not missing:
            return 0
        cursor.execute(self.insert_sql, [tenant_id, missing])
        created = cursor.fetchall()
        ids.update((name, str(pk)) for name, pk in created)
        if len(created) < len(missing):  # another import created some meanwhile
            cursor.execute(self.select_sql, [tenant_id, [n for n in missing if n not in ids]])
            ids.update((name, str(pk)) for name, pk in cursor.fetchall())
        return len(created)


def copy_escape(value: str) -> str:
    """Escape a value for COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    return value


def _encodable(text: str) -> bool:
    """False for lone surrogates, which the shared validator refuses."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Staged = tuple[str, str, str | None, str]  # (event id for COPY, customer, product, tail)


def staged_row(clean: dict) -> Staged:
    """The staged form of a row `validate_interaction` accepted."""
    value = clean["value"]
    tail = (
        f"{clean['kind']}\t{NULL if value is None else repr(value)}\t"
        f"{copy_escape(clean['text'])}\t{clean['occurred_at'].isoformat()}"
    )
    return copy_escape(clean["event_id"]), clean["customer"], clean["product"], tail


def fast_staged_row(
    event_id: str,
    customer: str,
    product: str,
    kind: str,
    value: str,
    text: str,
    occurred_at: str,
    latest: datetime,
) -> Staged | None:
    """The staged form of CSV cells ("" = missing), or None: "ask validate_interaction".

    Never accepts a row the shared validator rejects, and returns what
    `staged_row(validate_interaction(row))` returns; `latest` is now + FUTURE_TOLERANCE.
    """
    if kind not in _KINDS or not event_id or not customer:
        return None
    ids = event_id + customer + product
    # Printable ASCII without space or backslash: nothing to strip, reject or escape.
    if (
        len(event_id) > EXTERNAL_ID_MAX
        or len(customer) > EXTERNAL_ID_MAX
        or len(product) > EXTERNAL_ID_MAX
        or not ids.isascii()
        or not ids.isprintable()
        or " " in ids
        or "\\" in ids
    ):
        return None
    if not product:
        if kind in KINDS_NEEDING_PRODUCT:
            return None
        product = None
    if value:
        try:
            number = float(value)
        except ValueError:
            return None
        if not -VALUE_MAX <= number <= VALUE_MAX:  # also refuses inf and nan
            return None
        if kind == "rating":
            if number != int(number) or not 1 <= number <= 5:
                return None
        elif kind == "purchase" and number < 0:
            return None
        value = repr(number)
    elif kind == "rating":
        return None
    else:
        value = NULL
    if text:
        if len(text) > TEXT_MAX or "\x00" in text:
            return None
        if not text.isascii() and not _encodable(text):
            return None
        text = copy_escape(text)
    stamp = occurred_at.replace("Z", "+00:00")
    try:
        moment = _fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is not UTC:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            return None
    if moment > latest:
        return None
    # isoformat() is the costliest step; "YYYY-MM-DDTHH:MM:SS+00:00" already is its output.
    if not (
        len(stamp) == 25
        and stamp[19:] == "+00:00"
        and stamp[10] == "T"
        and stamp[4] == stamp[7] == "-"
        and stamp[13] == stamp[16] == ":"
    ):
        stamp = moment.isoformat()
    return event_id, customer, product, f"{kind}\t{value}\t{text}\t{stamp}"


class CopyInteractionWriter:
    """Writes chunks of interaction rows for one tenant; one transaction a chunk."""

    def __init__(self, tenant: Tenant, now: datetime) -> None:
        self.tenant = tenant
        self.now = now
        self.latest = now + FUTURE_TOLERANCE
        self.customers = ExternalIds("customers_customer")
        self.products = ExternalIds("customers_product")

    def prepare(
        self, chunk: list[tuple[int, Any]], source: Any, rejects: Any
    ) -> tuple[list[Staged], int]:
        """Validated rows, first of each event id, and how many repeats were dropped."""
        now, latest = self.now, self.latest
        pick = self._csv_picker(source)
        seen: set[str] = set()
        rows: list[Staged] = []
        duplicates = 0
        for line, item in chunk:
            staged = None
            if pick is not None:
                fields = pick(item)
                staged = fast_staged_row(*fields, latest)
                event_id = fields[0]
            if staged is None:
                try:
                    clean = validate_interaction(source.as_row(item), now=now)
                except RowError as error:
                    rejects.add(line, source.raw(item), error.field, error.reason)
                    continue
                event_id = clean["event_id"]
                staged = staged_row(clean)
            # The first row with an event id wins, as in the bulk API.
            if event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
            rows.append(staged)
        return rows, duplicates

    @staticmethod
    def _csv_picker(source: Any) -> Callable[[list[str]], tuple[str, ...]] | None:
        """Picks the staged fields out of CSV cells, in STAGED_FIELDS order."""
        if source.format != "csv":
            return None
        width = len(source.header)
        # A column missing from the header reads as "", which CSV import treats as missing.
        pick = itemgetter(*(source.index.get(field, width) for field in STAGED_FIELDS))
        if all(field in source.index for field in STAGED_FIELDS):
            return pick
        return lambda cells: pick([*cells, ""])

    def store(self, prepared: tuple[list[Staged], int], report: Any, rejects: Any) -> None:
        """One transaction: resolve customer and product ids, COPY, insert."""
        rows, repeats = prepared
        report.duplicates += repeats
        if not rows:
            return
        tenant_id = self.tenant.pk
        if is_pseudonymised(self.tenant):
            rows = [(event_id, customer_ref(self.tenant, customer), product, tail)
                    for event_id, customer, product, tail in rows]  # fmt: skip
        with tenant_scope(self.tenant), connection.cursor() as cursor:
            report.customers_created += self.customers.resolve(
                cursor, tenant_id, {row[1] for row in rows}
            )
            report.products_created += self.products.resolve(
                cursor, tenant_id, {row[2] for row in rows}
            )
            customer_ids, product_ids = self.customers.ids, self.products.ids
            payload = "".join(
                [
                    f"{event_id}\t{customer_ids[customer]}\t{product_ids[product]}\t{tail}\n"
                    for event_id, customer, product, tail in rows
                ]
            )
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGING}")
            cursor.execute(_CREATE_STAGING)
            with cursor.cursor.copy(_COPY) as copy:
                copy.write(payload.encode("utf-8"))
            cursor.execute(_INSERT_INTERACTIONS, [tenant_id])
            report.created += cursor.rowcount
            report.duplicates += len(rows) - cursor.rowcount
            # ON COMMIT DROP does not fire when an outer transaction (a test) is still open.
            cursor.execute(f"DROP TABLE {STAGING}")
