"""The segment filter: its JSON grammar, and validation into a small typed tree.

Grammar::

    node      := {"and": [node, ...]} | {"or": [node, ...]} | {"not": node}
               | condition | behaviour
    condition := {"field": <name>, "op": <op>, "value": <json>}
    behaviour := {"behaviour": {"kind": <interaction kind>, "category": <str>?,
                                "product": <product external_id>?,
                                "within_days": <1..3650>?, "min_count": <1..100000, default 1>}}

Fields, by family (each takes the operators of its type, below):

- customer: `external_id`, `email` (text), `email_opt_in` (boolean: the consent),
  `created_at` (datetime), and `attributes.<key>`: the value at a top-level key of the
  customer's JSON attributes, compared as the JSON value it is (a string value matches
  only string attributes, a number only numbers, a boolean only booleans).
- features, as of now, with the definitions of customers.ml.features (interactions
  before now; a day is 86,400 s): `recency_days` (days since the last purchase, or since
  the first interaction for a customer who never bought), `frequency` (purchases),
  `monetary` (sum of purchase values), `tenure_days`, `avg_order_value`,
  `interpurchase_days`, `views_30d`, `clicks_30d`, `carts_30d`. A customer with no
  interaction has counts and sums of 0 and no recency or tenure.
- model: `segment` (the customer's segment id in the tenant's active segmentation
  version), `propensity` (the purchase score of the active propensity version),
  `churn_risk` (1 - propensity, only for a customer who has purchased).

Operators by type: text `eq ne in not_in contains icontains startswith`; boolean
`eq ne`; datetime (ISO 8601; a date is its midnight UTC, a time without offset is UTC)
`lt lte gt gte between`; number `eq ne lt lte gt gte between in not_in`; integer
(`segment`) `eq ne in not_in`; attributes all of these, by the value's JSON type.
`is_null` (value true or false) applies to what a customer may lack: attributes,
`recency_days`, `tenure_days` and the model fields. `in`/`not_in` take a non-empty list,
`between` a list `[lo, hi]` with lo <= hi (both ends included).

Semantics: a condition on a value the customer lacks (no such attribute, no prediction,
no purchase for churn_risk) is false whatever the operator, except `is_null`; `not`
inverts exactly, so `{"not": {"field": "attributes.tier", "op": "eq", "value": "gold"}}`
includes customers without a tier. A behaviour holds for a customer with at least
`min_count` interactions of that kind (on that product, in that product category, in the
last `within_days` days, as given). "Viewed product Y but did not buy it"::

    {"and": [{"behaviour": {"kind": "view", "product": "Y"}},
             {"not": {"behaviour": {"kind": "purchase", "product": "Y"}}}]}

Limits: nesting of and/or/not at most 10 deep, at most 100 conditions and behaviours.
Every violation raises tenants.errors.BadRequest naming the JSON path of the bad node,
e.g. `filter.and[1].op: unknown operator 'lik'; known: eq, ne, ...`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.utils.dateparse import parse_date, parse_datetime

from customers.ingest.validation import CATEGORY_MAX, EXTERNAL_ID_MAX, INTERACTION_KINDS
from tenants.errors import BadRequest

MAX_DEPTH = 10
MAX_CONDITIONS = 100
MAX_LIST = 1000
MAX_LISTED = 10_000  # list values in a whole filter: bounds the statement's parameters
MAX_TEXT = 1000
MAX_NUMBER = 1e15  # beyond any amount or count; keeps every database's numbers exact
MAX_WITHIN_DAYS = 3650
MAX_MIN_COUNT = 100_000
ATTRIBUTE_PREFIX = "attributes."
# Word characters, spaces and dashes: safe inside a JSON path on every database.
ATTRIBUTE_KEY = re.compile(r"[\w\- ]{1,100}")

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between",
       "contains", "icontains", "startswith", "is_null")  # fmt: skip
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "icontains", "startswith")
OPS_BY_TYPE = {
    "text": TEXT_OPS,
    "boolean": ("eq", "ne"),
    "datetime": ("lt", "lte", "gt", "gte", "between"),
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in"),
    "integer": ("eq", "ne", "in", "not_in"),
    "json": tuple(op for op in OPS if op != "is_null"),
}


@dataclass(frozen=True)
class Field:
    name: str
    family: str  # customer, attribute, feature, model
    type: str  # a key of OPS_BY_TYPE
    nullable: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS_BY_TYPE[self.type] + (("is_null",) if self.nullable else ())


FIELDS = {
    field.name: field
    for field in [
        Field("external_id", "customer", "text"),
        Field("email", "customer", "text"),
        Field("email_opt_in", "customer", "boolean"),
        Field("created_at", "customer", "datetime"),
        Field("recency_days", "feature", "number", nullable=True),
        Field("frequency", "feature", "number"),
        Field("monetary", "feature", "number"),
        Field("tenure_days", "feature", "number", nullable=True),
        Field("avg_order_value", "feature", "number"),
        Field("interpurchase_days", "feature", "number"),
        Field("views_30d", "feature", "number"),
        Field("clicks_30d", "feature", "number"),
        Field("carts_30d", "feature", "number"),
        Field("segment", "model", "integer", nullable=True),
        Field("propensity", "model", "number", nullable=True),
        Field("churn_risk", "model", "number", nullable=True),
    ]
}
KNOWN_FIELDS = ", ".join([*FIELDS, f"{ATTRIBUTE_PREFIX}<key>"])
BEHAVIOUR_KEYS = ("kind", "category", "product", "within_days", "min_count")


# --- the validated tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str
    value: object  # typed: str, bool, float/int, datetime, or a list/pair of them
    key: str | None = None  # the attribute key, for the attribute family


@dataclass(frozen=True)
class Behaviour:
    kind: str
    category: str | None = None
    product: str | None = None
    within_days: int | None = None
    min_count: int = 1


Node = And | Or | Not | Condition | Behaviour


def parse_filter(data: object, path: str = "filter") -> Node:
    """The validated tree of a filter, or BadRequest naming the JSON path of the bad node."""
    return _Parser().node(data, path, depth=0)


def _fail(path: str, reason: str) -> BadRequest:
    return BadRequest(f"{path}: {reason}", details={"path": path, "reason": reason})


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)  # fmt: skip


class _Parser:
    def __init__(self) -> None:
        self.conditions = 0
        self.listed = 0

    def node(self, data: object, path: str, depth: int) -> Node:
        if not isinstance(data, dict):
            raise _fail(path, f"a node must be an object, not {_kind_of(data)}")
        if "field" in data:
            return self.condition(data, path)
        keys = [key for key in ("and", "or", "not", "behaviour") if key in data]
        if len(keys) != 1:
            found = f"it has {', '.join(keys)}" if keys else "it has none"
            raise _fail(path, "a node is exactly one of and, or, not, behaviour or a condition "
                              f"{{field, op, value}}; {found}")  # fmt: skip
        extra = sorted(str(k) for k in data if k not in keys)
        if extra:
            raise _fail(f"{path}.{extra[0][:40]}", f"unknown key beside {keys[0]!r}")
        (key,) = keys
        if key == "behaviour":
            return self.behaviour(data[key], f"{path}.behaviour")
        if depth >= MAX_DEPTH:
            raise _fail(path, f"and/or/not are nested deeper than {MAX_DEPTH} levels")
        if key == "not":
            return Not(self.node(data[key], f"{path}.not", depth + 1))
        children = data[key]
        if not isinstance(children, list) or not children:
            raise _fail(f"{path}.{key}", "must be a non-empty list of nodes")
        parsed = tuple(
            self.node(child, f"{path}.{key}[{i}]", depth + 1) for i, child in enumerate(children)
        )
        return And(parsed) if key == "and" else Or(parsed)

    def count(self, path: str) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _fail(path, f"a filter holds at most {MAX_CONDITIONS} conditions and behaviours")

    def condition(self, data: dict, path: str) -> Condition:
        self.count(path)
        extra = sorted(str(k) for k in data if k not in ("field", "op", "value"))
        if extra:
            raise _fail(f"{path}.{extra[0][:40]}", "unknown key; a condition has field, op, value")
        name = data["field"]
        if not isinstance(name, str):
            raise _fail(f"{path}.field", f"must be a string, not {_kind_of(name)}")
        field, key = FIELDS.get(name), None
        if field is None and name.startswith(ATTRIBUTE_PREFIX):
            key = name[len(ATTRIBUTE_PREFIX) :]
            if not ATTRIBUTE_KEY.fullmatch(key):
                raise _fail(f"{path}.field", f"attribute key {_short(key)} must be 1 to 100 "
                                             "letters, digits, _, - or spaces")  # fmt: skip
            field = Field(name, "attribute", "json", nullable=True)
        if field is None:
            raise _fail(f"{path}.field", f"unknown field {_short(name)}; known: {KNOWN_FIELDS}")
        op = data.get("op")
        if op not in OPS:
            raise _fail(f"{path}.op", f"unknown operator {_short(op)}; known: {', '.join(OPS)}")
        if op not in field.ops:
            raise _fail(f"{path}.op", f"{op!r} does not apply to {name} ({field.type}); it "
                                      f"takes {', '.join(field.ops)}")  # fmt: skip
        if "value" not in data:
            raise _fail(f"{path}.value", "is required")
        value = _Values(self, field, op, f"{path}.value").check(data["value"])
        return Condition(field, op, value, key)

    def behaviour(self, data: object, path: str) -> Behaviour:
        self.count(path)
        if not isinstance(data, dict):
            raise _fail(path, f"must be an object, not {_kind_of(data)}")
        extra = sorted(str(k) for k in data if k not in BEHAVIOUR_KEYS)
        if extra:
            raise _fail(
                f"{path}.{extra[0][:40]}", f"unknown key; known: {', '.join(BEHAVIOUR_KEYS)}"
            )
        kind = data.get("kind")
        if kind not in INTERACTION_KINDS:
            raise _fail(f"{path}.kind", f"unknown interaction kind {_short(kind)}; known: "
                                        f"{', '.join(INTERACTION_KINDS)}")  # fmt: skip
        category = data.get("category")
        if category is not None:
            category = _text(category, f"{path}.category", CATEGORY_MAX)
        product = data.get("product")
        if product is not None:
            product = _text(product, f"{path}.product", EXTERNAL_ID_MAX)
        within = data.get("within_days")
        if within is not None:
            within = _integer(within, f"{path}.within_days", 1, MAX_WITHIN_DAYS)
        min_count = _integer(data.get("min_count", 1), f"{path}.min_count", 1, MAX_MIN_COUNT)
        return Behaviour(kind, category, product, within, min_count)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Values:
    """Checks a condition's value against its field's type and operator."""

    def __init__(self, parser: _Parser, field: Field, op: str, path: str) -> None:
        self.parser, self.field, self.op, self.path = parser, field, op, path

    def fail(self, reason: str) -> BadRequest:
        return _fail(self.path, reason)

    def check(self, value: object) -> object:
        op = self.op
        if op == "is_null":
            if not isinstance(value, bool):
                raise self.fail(f"is_null takes true or false, not {_kind_of(value)}")
            return value
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
                raise self.fail(f"{op} takes a list of 1 to {MAX_LIST} values")
            self.parser.listed += len(value)
            if self.parser.listed > MAX_LISTED:
                raise self.fail(f"a filter lists at most {MAX_LISTED} values in all")
            items = [self.scalar(item, f"{self.path}[{i}]") for i, item in enumerate(value)]
            if len({type(item) is str for item in items}) > 1:
                raise self.fail(f"{op} takes values of one type (all strings or all numbers)")
            return items
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise self.fail("between takes a list of two values [lo, hi]")
            low, high = (self.ordered(item, f"{self.path}[{i}]") for i, item in enumerate(value))
            if low > high:
                raise self.fail("between needs lo <= hi")
            return [low, high]
        if op in ("lt", "lte", "gt", "gte"):
            return self.ordered(value, self.path)
        if op in ("contains", "icontains", "startswith"):
            return _text(value, self.path, MAX_TEXT)
        return self.scalar(value, self.path)  # eq, ne

    def scalar(self, value: object, path: str) -> object:
        """A value of the field's type for eq, ne, in, not_in."""
        kind = self.field.type
        if kind == "json":
            if isinstance(value, str):
                return _text(value, path, MAX_TEXT)
            if isinstance(value, bool) and self.op in ("eq", "ne"):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _number(value, path)
            wanted = "a string, number or boolean" if self.op in ("eq", "ne") else (
                "a string or a number")  # fmt: skip
            raise _fail(
                path,
                f"must be {wanted}, not {_kind_of(value)}"
                + ("; use is_null for a missing attribute" if value is None else ""),
            )
        if kind == "text":
            return _text(value, path, MAX_TEXT)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _fail(path, f"must be true or false, not {_kind_of(value)}")
            return value
        if kind == "integer":
            return _integer(value, path, -int(MAX_NUMBER), int(MAX_NUMBER))
        return _number(value, path)

    def ordered(self, value: object, path: str) -> object:
        """A bound for lt, lte, gt, gte, between: a datetime or a number."""
        if self.field.type == "datetime":
            return _datetime(value, path)
        return _number(value, path)


def _text(value: object, path: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, not {_kind_of(value)}")
    if len(value) > max_length:
        raise _fail(path, f"is longer than {max_length} characters")
    if "\x00" in value:  # databases refuse NUL in text
        raise _fail(path, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(path, "must be valid Unicode text (it has a lone surrogate)") from None
    return value


def _number(value: object, path: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"must be a number, not {_kind_of(value)}")
    # Compare before any float conversion: a 400-digit integer cannot become a float.
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_NUMBER:
        raise _fail(path, "must be a finite number between -1e15 and 1e15")
    return value


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"must be an integer, not {_kind_of(value)}")
    if not low <= value <= high:
        raise _fail(path, f"must be between {low} and {high}")
    return value


def _datetime(value: object, path: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _fail(path, f"must be an ISO 8601 date or datetime string, not {_kind_of(value)}")
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:  # well formed but impossible, like February 30th
        moment = None
    if moment is None:
        raise _fail(path, f"{_short(value)} is not an ISO 8601 date or datetime")
    try:  # as UTC, which is how databases compare it; the year 1 or 9999 may not fit
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise _fail(path, f"{_short(value)} is out of range") from None


def describe() -> str:
    """The grammar in short, for the OpenAPI description (generated from the tables above)."""
    by_family: dict[str, list[str]] = {}
    for field in FIELDS.values():
        by_family.setdefault(field.family, []).append(f"`{field.name}` ({field.type})")
    families = "; ".join(f"{family}: {', '.join(names)}" for family, names in by_family.items())
    types = "; ".join(f"{kind}: {' '.join(ops)}" for kind, ops in OPS_BY_TYPE.items())
    return (
        'A node is `{"and": [node, ...]}`, `{"or": [node, ...]}`, `{"not": node}`, a condition '
        '`{"field": name, "op": op, "value": json}` or a behaviour `{"behaviour": {"kind": '
        'interaction kind, "category"?: str, "product"?: product external_id, "within_days"?: '
        '1-3650, "min_count"?: int (default 1)}}`. Fields: ' + families + "; customer attribute: "
        "`attributes.<key>` (json, compared as the JSON value). Operators by type: "
        + types
        + "; `is_null` (true/false) for attributes, recency_days, tenure_days, segment, "
        "propensity, churn_risk. `in`/`not_in` take a non-empty list, `between` `[lo, hi]`. "
        "Features are as of now (customers.ml.features definitions); model fields read the "
        "active segmentation and propensity versions. A condition on a value the customer "
        "lacks is false (except is_null); `not` inverts exactly. At most "
        f"{MAX_DEPTH} levels of and/or/not and {MAX_CONDITIONS} conditions. An invalid filter "
        "is a 400 naming the JSON path of the bad node, e.g. `filter.and[1].op`."
    )
