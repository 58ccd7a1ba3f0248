"""Helpers of the segment tests: a fixed clock, conditions, and who is in a segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from campaigns.filters import FIELDS, OPS
from campaigns.selectors import segment_customers
from customers.ingest.validation import INTERACTION_KINDS
from tenants.context import tenant_scope
from tests.factories import InteractionFactory

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def cond(field: str, op: str, value: object) -> dict:
    return {"field": field, "op": op, "value": value}


def members(tenant, filter: object, now: datetime = NOW) -> set[str]:
    """External ids of the tenant's customers in the segment of `filter`, as of `now`."""
    with tenant_scope(tenant):
        customers = segment_customers(tenant=tenant, filter=filter, now=now)
        return set(customers.values_list("external_id", flat=True))


def event(tenant, customer, kind: str, days: float, product=None, value: float | None = None):
    return InteractionFactory(
        tenant=tenant, customer=customer, product=product, kind=kind,
        occurred_at=days_ago(days), value=value,
    )  # fmt: skip


# Random filters for hypothesis: plausible structure with arbitrary JSON anywhere in it.
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats() | st.text(max_size=8)
    | st.sampled_from(["2026-01-01", "2026-02-30", "gold", "", "attributes.tier"])
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
fields = st.sampled_from([*FIELDS, "attributes.tier", "attributes.a b", "attributes.", "x"])
conditions = st.fixed_dictionaries(
    {"field": fields | json_values, "op": st.sampled_from(OPS) | json_values,
     "value": scalars | st.lists(scalars, max_size=3)},
)  # fmt: skip
behaviour = st.fixed_dictionaries(
    {"kind": st.sampled_from(INTERACTION_KINDS) | json_values},
    optional={
        "category": st.text(max_size=5) | json_values,
        "product": st.text(max_size=5) | json_values,
        "within_days": st.integers(min_value=-5, max_value=4000) | json_values,
        "min_count": st.integers(min_value=-1, max_value=5) | json_values,
    },
)
leaves = conditions | st.fixed_dictionaries({"behaviour": behaviour}) | json_values
random_filters = st.recursive(
    leaves,
    lambda children: (
        st.fixed_dictionaries({"and": st.lists(children, max_size=3)})
        | st.fixed_dictionaries({"or": st.lists(children, max_size=3)})
        | st.fixed_dictionaries({"not": children})
    ),
    max_leaves=10,
)

# Filters more often valid, so that many reach the database.
typed = (
    st.booleans() | st.integers(min_value=-100, max_value=100)
    | st.floats(min_value=-1e6, max_value=1e6) | st.text(max_size=5)
    | st.sampled_from(["2026-01-01", "2026-02-01T10:00:00+02:00", "gold", "shoes"])
)  # fmt: skip
typed_values = (
    typed
    | st.lists(typed, min_size=1, max_size=3)
    | st.lists(st.integers(min_value=-5, max_value=60), min_size=2, max_size=2).map(sorted)
    | st.just(["2025-01-01", "2026-12-31"])
)
typed_conditions = st.fixed_dictionaries(
    {"field": st.sampled_from([*FIELDS, "attributes.tier", "attributes.age", "attributes.x y"]),
     "op": st.sampled_from(OPS), "value": typed_values},
)  # fmt: skip
typed_behaviour = st.fixed_dictionaries(
    {"kind": st.sampled_from(INTERACTION_KINDS)},
    optional={
        "category": st.sampled_from(["shoes", "hats", ""]) | st.text(max_size=3),
        "product": st.sampled_from(["boots", "hat"]) | st.text(max_size=3),
        "within_days": st.integers(min_value=1, max_value=3650),
        "min_count": st.integers(min_value=1, max_value=5),
    },
)
plausible_filters = st.recursive(
    typed_conditions | st.fixed_dictionaries({"behaviour": typed_behaviour}),
    lambda children: (
        st.fixed_dictionaries({"and": st.lists(children, min_size=1, max_size=3)})
        | st.fixed_dictionaries({"or": st.lists(children, min_size=1, max_size=3)})
        | st.fixed_dictionaries({"not": children})
    ),
    max_leaves=8,
)
