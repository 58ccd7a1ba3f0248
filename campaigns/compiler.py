"""A validated segment filter (campaigns.filters) as one ORM condition over Customer.

Every feature, model field and behaviour is a correlated subquery of the same statement,
so a segment's members, or its count, are one query whatever the filter. The active
model versions are read by subqueries too (on ActiveModel), not looked up beforehand.
Conditions are two-valued: a comparison with a missing (NULL) value is false, so `not` is
its exact complement.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import reduce

from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Left, StrIndex
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

from campaigns.filters import And, Behaviour, Condition, Node, Not, Or
from customers.ml.features import RECENT_DAYS
from customers.models import CustomerPrediction, Interaction
from tenants.models import Tenant
from training.models import ActiveModel

PURCHASE = Interaction.Kind.PURCHASE
SEGMENTATION, PROPENSITY = "segmentation", "propensity"  # model kinds, as customers.selectors
COLUMN_TYPES = {"text": TextField, "boolean": BooleanField, "datetime": DateTimeField}
LOOKUPS = {"eq": Exact, "lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan,
           "gte": GreaterThanOrEqual, "in": In, "icontains": IContains}  # fmt: skip


class DaysBetween(Func):
    """(later - earlier) in fractional days; NULL when either is NULL."""

    output_field = FloatField()

    def __init__(self, later: Expression, earlier: Expression) -> None:
        super().__init__(later, earlier)

    def as_sql(self, compiler, connection, **extra):
        (later, p1), (earlier, p2) = (compiler.compile(e) for e in self.source_expressions)
        sql = f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision) / 86400.0)"
        return sql, [*p1, *p2]

    def as_sqlite(self, compiler, connection, **extra):
        (later, p1), (earlier, p2) = (compiler.compile(e) for e in self.source_expressions)
        return f"(julianday({later}) - julianday({earlier}))", [*p1, *p2]


class JsonAttribute(Expression):
    """The customer's attribute at `key` if it holds a JSON `kind` (string, number,
    boolean), else NULL; or with kind "type", its JSON type, 'null' when missing."""

    OUTPUT = {"string": TextField, "number": FloatField, "boolean": BooleanField,
              "type": TextField}  # fmt: skip

    def __init__(self, key: str, kind: str) -> None:
        super().__init__(output_field=self.OUTPUT[kind]())
        self.key, self.kind, self.column = key, kind, F("attributes")

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, expressions: list) -> None:
        (self.column,) = expressions

    def as_sql(self, compiler, connection):  # PostgreSQL: jsonb
        column, params = compiler.compile(self.column)
        typeof = f"jsonb_typeof({column} -> %s)"
        text = f"({column} ->> %s)"
        p = [*params, self.key]
        if self.kind == "type":
            return f"COALESCE({typeof}, 'null')", p
        if self.kind == "string":
            return f"(CASE WHEN {typeof} = 'string' THEN {text} END)", p + p
        if self.kind == "boolean":
            return f"(CASE WHEN {typeof} = 'boolean' THEN {text}::boolean END)", p + p
        # A number too large for a double (jsonb keeps any) is left out, not an error.
        return (
            f"(CASE WHEN {typeof} = 'number' THEN CASE WHEN abs({text}::numeric) < 1e300 "
            f"THEN {text}::double precision END END)",
            p * 3,
        )

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        p = [*params, '$."' + self.key + '"']  # the key's characters need no escaping
        typeof = f"json_type({column}, %s)"
        if self.kind == "type":
            return f"COALESCE({typeof}, 'null')", p
        if self.kind == "boolean":
            return f"(CASE {typeof} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)", p
        types = "('text')" if self.kind == "string" else "('integer', 'real')"
        return f"(CASE WHEN {typeof} IN {types} THEN json_extract({column}, %s) END)", p + p


def _aggregate(function: str, expression: Expression | str, output_field) -> Func:
    # A plain Func, so the subquery gets no GROUP BY: it always yields exactly one row.
    source = F(expression) if isinstance(expression, str) else expression
    return Func(source, function=function, output_field=output_field)


def compare(lhs: Callable[[], Expression], op: str, value: object, nullable: bool) -> Q:
    """`lhs op value` as a two-valued condition; lhs builds a fresh expression per use."""
    if op == "is_null":
        return Q(IsNull(lhs(), True)) if value else Q(IsNull(lhs(), False))
    if op == "ne":
        condition = ~Q(Exact(lhs(), value))
    elif op == "not_in":
        condition = ~Q(In(lhs(), value))
    elif op == "between":
        condition = Q(GreaterThanOrEqual(lhs(), value[0])) & Q(LessThanOrEqual(lhs(), value[1]))
    elif op == "contains":  # INSTR/STRPOS: case-sensitive on every database, unlike LIKE
        condition = Q(GreaterThan(StrIndex(lhs(), Value(value)), 0))
    elif op == "startswith" and not value:  # every text starts with "" (Left needs 1+)
        condition = Q(IsNull(lhs(), False))
    elif op == "startswith":
        condition = Q(Exact(Left(lhs(), len(value)), value))
    else:
        condition = Q(LOOKUPS[op](lhs(), value))
    if not nullable:
        return condition
    # NULL (a missing value) becomes false: the condition is two-valued, so `not` is its
    # exact complement, and the value's subquery is written once.
    wrapped = ExpressionWrapper(condition, output_field=BooleanField())
    return Q(Coalesce(wrapped, Value(False), output_field=BooleanField()))


class SegmentCompiler:
    """Compiles for one tenant, with features as of `now`."""

    def __init__(self, *, tenant: Tenant | int, now: datetime) -> None:
        self.tenant, self.now = tenant, now

    def compile(self, node: Node) -> Q:
        if isinstance(node, And):
            return reduce(operator.and_, (self.compile(child) for child in node.children))
        if isinstance(node, Or):
            return reduce(operator.or_, (self.compile(child) for child in node.children))
        if isinstance(node, Not):
            return ~self.compile(node.child)
        if isinstance(node, Behaviour):
            return self.behaviour(node)
        return self.condition(node)

    def condition(self, node: Condition) -> Q:
        field = node.field
        if field.family == "customer":
            output = COLUMN_TYPES[field.type]
            column = lambda: ExpressionWrapper(F(field.name), output_field=output())  # noqa: E731
            return compare(column, node.op, node.value, nullable=False)
        if field.family == "attribute":
            return self.attribute(node)
        return compare(getattr(self, field.name), node.op, node.value, field.nullable)

    def attribute(self, node: Condition) -> Q:
        if node.op == "is_null":
            is_null = Q(Exact(JsonAttribute(node.key, "type"), "null"))
            return is_null if node.value else ~is_null
        sample = node.value[0] if isinstance(node.value, list) else node.value
        kind = "string" if isinstance(sample, str) else "boolean" if isinstance(
            sample, bool) else "number"  # fmt: skip
        return compare(lambda: JsonAttribute(node.key, kind), node.op, node.value, True)

    # --- interactions ----------------------------------------------------------------------

    def events(self, **filters) -> object:
        """The customer's interactions before now (the features' definition)."""
        return Interaction.objects.filter(
            tenant=self.tenant, customer=OuterRef("pk"), occurred_at__lt=self.now, **filters
        ).order_by()

    def scalar(self, queryset, expression: Expression, output_field) -> Subquery:
        return Subquery(queryset.annotate(v=expression).values("v"), output_field=output_field)

    def count(self, **filters) -> Subquery:
        return self.scalar(self.events(**filters), _aggregate("COUNT", "id", IntegerField()),
                           IntegerField())  # fmt: skip

    def recent_count(self, kind: str) -> Subquery:
        return self.count(kind=kind, occurred_at__gte=self.now - timedelta(days=RECENT_DAYS))

    def behaviour(self, node: Behaviour) -> Q:
        events = Interaction.objects.filter(
            tenant=self.tenant, customer=OuterRef("pk"), kind=node.kind
        ).order_by()
        if node.category is not None:
            events = events.filter(product__category=node.category)
        if node.product is not None:
            events = events.filter(product__external_id=node.product)
        if node.within_days is not None:
            events = events.filter(occurred_at__gte=self.now - timedelta(days=node.within_days))
        if node.min_count == 1:
            return Q(Exists(events))
        counted = self.scalar(events, _aggregate("COUNT", "id", IntegerField()), IntegerField())
        return Q(GreaterThanOrEqual(counted, node.min_count))

    # --- features (customers.ml.features definitions, as of now) -----------------------------

    def now_value(self) -> Value:
        return Value(self.now, output_field=DateTimeField())

    def recency_days(self) -> Subquery:
        last_purchase = _aggregate(
            "MAX", Case(When(kind=PURCHASE, then=F("occurred_at"))), DateTimeField()
        )
        first_seen = _aggregate("MIN", "occurred_at", DateTimeField())
        days = DaysBetween(self.now_value(), Coalesce(last_purchase, first_seen))
        return self.scalar(self.events(), days, FloatField())

    def tenure_days(self) -> Subquery:
        first_seen = _aggregate("MIN", "occurred_at", DateTimeField())
        return self.scalar(self.events(), DaysBetween(self.now_value(), first_seen), FloatField())

    def frequency(self) -> Subquery:
        return self.count(kind=PURCHASE)

    def monetary(self) -> Subquery:
        total = Coalesce(_aggregate("SUM", "value", FloatField()), Value(0.0))
        return self.scalar(self.events(kind=PURCHASE), total, FloatField())

    def avg_order_value(self) -> Subquery:
        # A purchase without a value adds 0 to monetary but counts in frequency.
        mean = _aggregate("AVG", Coalesce(F("value"), Value(0.0)), FloatField())
        return self.scalar(self.events(kind=PURCHASE), Coalesce(mean, Value(0.0)), FloatField())

    def interpurchase_days(self) -> Subquery:
        n = _aggregate("COUNT", "id", IntegerField())
        span = DaysBetween(_aggregate("MAX", "occurred_at", DateTimeField()),
                           _aggregate("MIN", "occurred_at", DateTimeField()))  # fmt: skip
        gap = Case(
            When(GreaterThanOrEqual(n, 2), then=span / (n - Value(1))),
            default=Value(0.0),
            output_field=FloatField(),
        )
        return self.scalar(self.events(kind=PURCHASE), gap, FloatField())

    def views_30d(self) -> Subquery:
        return self.recent_count(Interaction.Kind.VIEW)

    def clicks_30d(self) -> Subquery:
        return self.recent_count(Interaction.Kind.CLICK)

    def carts_30d(self) -> Subquery:
        return self.recent_count(Interaction.Kind.ADD_TO_CART)

    # --- model outputs (the tenant's active versions) ----------------------------------------

    def prediction(self, kind: str, column: str, output_field) -> Subquery:
        active = ActiveModel.objects.filter(tenant=self.tenant, kind=kind).values("version_id")
        rows = CustomerPrediction.objects.filter(
            tenant=self.tenant, customer=OuterRef("pk"), version_id=Subquery(active[:1])
        )
        return Subquery(rows.values(column)[:1], output_field=output_field)

    def segment(self) -> Subquery:
        return self.prediction(SEGMENTATION, "segment", IntegerField())

    def propensity(self) -> Subquery:
        return self.prediction(PROPENSITY, "score", FloatField())

    def churn_risk(self) -> Case:
        # As the customer API: only a customer who has bought can lapse.
        bought = Exists(
            Interaction.objects.filter(tenant=self.tenant, customer=OuterRef("pk"), kind=PURCHASE)
        )
        return Case(
            When(bought, then=Value(1.0) - self.propensity()),
            default=None,
            output_field=FloatField(),
        )
