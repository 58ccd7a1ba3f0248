"""Row validation for every ingest path (bulk API, CSV/JSONL import, demo loader).

Pure Python, no database: each validator turns one raw row (a dict of JSON values
or CSV strings) into a clean dict, or raises RowError naming the field and reason.
Everything the database would refuse is caught here, so one bad row never aborts
a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

EXTERNAL_ID_MAX = 128
EMAIL_MAX = 254
TEXT_MAX = 10_000
TITLE_MAX = 500
CATEGORY_MAX = 200
TAG_MAX = 100
TAGS_MAX = 100
BATCH_MAX = 10_000
VALUE_MAX = 1e12  # keeps sums of amounts finite
JSON_DEPTH_MAX = 32
FUTURE_TOLERANCE = timedelta(days=1)

INTERACTION_KINDS = ("view", "click", "add_to_cart", "purchase", "rating", "review")
KINDS_NEEDING_PRODUCT = frozenset({"view", "click", "add_to_cart", "rating"})


@dataclass(frozen=True)
class RowError(Exception):
    field: str
    reason: str

    def as_dict(self, index: int) -> dict:
        return {"index": index, "field": self.field, "reason": self.reason}


def check_unicode(value: str, field: str) -> None:
    """Refuse what a database cannot store: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in value:
        raise RowError(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(field, "must be valid Unicode text (it has a lone surrogate)") from None


def identifier(value: object, field: str, *, required: bool = True) -> str | None:
    """A client's id for a record (external_id, event_id): a short string without controls."""
    if value is None or value == "":
        if required:
            raise RowError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(field, "must be a string")
    value = str(value).strip()
    if not value:
        raise RowError(field, "must not be blank")
    if len(value) > EXTERNAL_ID_MAX:
        raise RowError(field, f"is longer than {EXTERNAL_ID_MAX} characters")
    if any(ch in value for ch in "\x00\t\n\r"):
        raise RowError(field, "must not contain control characters")
    check_unicode(value, field)
    return value


def _identifier(row: dict, field: str, *, required: bool = True) -> str | None:
    return identifier(row.get(field), field, required=required)


def _text(row: dict, field: str, max_length: int) -> str:
    value = row.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(field, "must be a string")
    if len(value) > max_length:
        raise RowError(field, f"is longer than {max_length} characters")
    check_unicode(value, field)
    return value


def _number(row: dict, field: str) -> float | None:
    value = row.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(field, "must be a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RowError(field, "must be a number") from None
    if not isinstance(value, int | float):
        raise RowError(field, "must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise RowError(field, "must be a finite number")
    if abs(value) > VALUE_MAX:
        raise RowError(field, f"must be between -{VALUE_MAX:,.0f} and {VALUE_MAX:,.0f}")
    return value


def _bool(row: dict, field: str, default: bool | None) -> bool | None:
    value = row.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "false", "0", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise RowError(field, "must be true or false")


def json_object(value: object, field: str) -> dict | None:
    """A JSON object the database can store: text without NUL or lone surrogates, not too deep."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RowError(field, "must be a JSON object")
    pending = [(value, 1)]  # iterative, so a deep document cannot exhaust the stack
    while pending:
        node, depth = pending.pop()
        if depth > JSON_DEPTH_MAX:
            raise RowError(field, f"is nested deeper than {JSON_DEPTH_MAX} levels")
        if isinstance(node, str):
            check_unicode(node, field)
        elif isinstance(node, float) and not math.isfinite(node):
            raise RowError(field, "must hold finite numbers only")
        elif isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise RowError(field, "must have string keys")
                check_unicode(key, field)
                pending.append((child, depth + 1))
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
    return value


def _json_object(row: dict, field: str) -> dict | None:
    return json_object(row.get(field), field)


def parse_timestamp(value: object, field: str = "occurred_at") -> datetime:
    if value is None or value == "":
        raise RowError(field, "is required")
    if not isinstance(value, str):
        raise RowError(field, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RowError(field, f"is not an ISO 8601 date-time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # naive times are read as UTC
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RowError(field, "is out of range once converted to UTC") from None


def validate_interaction(row: object, *, now: datetime) -> dict:
    if not isinstance(row, dict):
        raise RowError("__row__", "must be a JSON object")
    kind = row.get("kind")
    if kind not in INTERACTION_KINDS:
        raise RowError("kind", f"must be one of {', '.join(INTERACTION_KINDS)}")
    clean = {
        "event_id": _identifier(row, "event_id"),
        "customer": _identifier(row, "customer"),
        "product": _identifier(row, "product", required=kind in KINDS_NEEDING_PRODUCT),
        "kind": kind,
        "value": _number(row, "value"),
        "text": _text(row, "text", TEXT_MAX),
        "occurred_at": parse_timestamp(row.get("occurred_at")),
    }
    if clean["occurred_at"] > now + FUTURE_TOLERANCE:
        raise RowError("occurred_at", "is in the future")
    value = clean["value"]
    if kind == "rating" and (value is None or value != int(value) or not 1 <= value <= 5):
        raise RowError("value", "a rating must be a whole number from 1 to 5")
    if kind == "purchase" and value is not None and value < 0:
        raise RowError("value", "a purchase amount must not be negative")
    return clean


def validate_customer(row: object) -> dict:
    """Only the fields present in the row are returned, so an upsert leaves the rest alone."""
    if not isinstance(row, dict):
        raise RowError("__row__", "must be a JSON object")
    clean: dict = {"external_id": _identifier(row, "external_id")}
    if "email" in row:
        email = _text(row, "email", EMAIL_MAX).strip()
        if email and ("@" not in email or " " in email):
            raise RowError("email", "is not a valid email address")
        clean["email"] = email
    if "attributes" in row:
        clean["attributes"] = _json_object(row, "attributes") or {}
    if "email_opt_in" in row:
        clean["email_opt_in"] = _bool(row, "email_opt_in", False)
    return clean


def validate_product(row: object) -> dict:
    if not isinstance(row, dict):
        raise RowError("__row__", "must be a JSON object")
    clean: dict = {"external_id": _identifier(row, "external_id")}
    for field, limit in (
        ("title", TITLE_MAX),
        ("description", TEXT_MAX),
        ("category", CATEGORY_MAX),
    ):
        if field in row:
            clean[field] = _text(row, field, limit)
    if "price" in row:
        price = _number(row, "price")
        if price is not None:
            price = round(price, 2)  # checked after rounding: 9,999,999,999.999 does not fit
            if not 0 <= price < 1e10:
                raise RowError("price", "must be between 0 and 9,999,999,999.99")
        clean["price"] = None if price is None else _decimal(price)
    if "tags" in row:
        tags = row["tags"]
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split("|") if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RowError("tags", "must be a list of strings")
        if len(tags) > TAGS_MAX:
            raise RowError("tags", f"has more than {TAGS_MAX} tags")
        for tag in tags:
            check_unicode(tag, "tags")
            if len(tag) > TAG_MAX:
                raise RowError("tags", f"has a tag longer than {TAG_MAX} characters")
        clean["tags"] = tags
    if "attributes" in row:
        clean["attributes"] = _json_object(row, "attributes") or {}
    if "is_active" in row:
        clean["is_active"] = _bool(row, "is_active", True)
    return clean


def _decimal(value: float) -> Decimal:
    try:
        return Decimal(str(round(value, 2)))
    except InvalidOperation:
        raise RowError("price", "must be a number") from None


def check_batch(rows: object, *, what: str) -> list:
    """The whole-batch checks; a failure here is a 400 for the whole request."""
    if not isinstance(rows, list):
        raise RowError("__batch__", f"the body must be a JSON array of {what}")
    if not rows:
        raise RowError("__batch__", f"the batch is empty: send 1 to {BATCH_MAX:,} {what}")
    if len(rows) > BATCH_MAX:
        raise RowError(
            "__batch__", f"the batch has {len(rows):,} {what}; the limit is {BATCH_MAX:,} a request"
        )
    return rows
