"""An invalid filter is refused with a message naming the JSON path of the bad node; no JSON
input makes validation fail otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from campaigns.filters import parse_filter
from tenants.errors import BadRequest
from tests.campaigns.helpers import cond, random_filters

OK = cond("email_opt_in", "eq", True)


def nested_not(depth: int) -> dict:
    node: dict = OK
    for _ in range(depth):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ([], "filter: a node must be an object, not list"),
        ({}, "filter: a node is exactly one of and, or, not, behaviour"),
        ({"and": [OK], "or": [OK]}, "filter: a node is exactly one of"),
        ({"and": [OK], "extra": 1}, "filter.extra: unknown key beside 'and'"),
        ({"and": []}, "filter.and: must be a non-empty list of nodes"),
        ({"or": {"a": OK}}, "filter.or: must be a non-empty list of nodes"),
        ({"not": [OK]}, "filter.not: a node must be an object, not list"),
        ({"and": [OK, cond("email", "lik", "x")]},
         "filter.and[1].op: unknown operator 'lik'; known: eq, ne, lt"),
        ({"or": [OK, {"not": cond("nope", "eq", 1)}]},
         "filter.or[1].not.field: unknown field 'nope'; known: external_id"),
        (cond(3, "eq", 1), "filter.field: must be a string, not number"),
        (cond("attributes.a.b", "eq", 1), "filter.field: attribute key 'a.b' must be"),
        (cond("attributes.", "eq", 1), "filter.field: attribute key '' must be"),
        (cond("email_opt_in", "lt", True),
         "filter.op: 'lt' does not apply to email_opt_in (boolean); it takes eq, ne"),
        (cond("frequency", "is_null", True), "filter.op: 'is_null' does not apply to frequency"),
        (cond("segment", "gt", 1), "filter.op: 'gt' does not apply to segment (integer)"),
        (cond("email", "between", ["a", "b"]), "filter.op: 'between' does not apply to email"),
        ({"field": "email", "op": "eq"}, "filter.value: is required"),
        ({"field": "email", "op": "eq", "value": "a", "vale": 1}, "filter.vale: unknown key"),
        (cond("external_id", "in", "ann"), "filter.value: in takes a list of 1 to 1000 values"),
        (cond("external_id", "not_in", []), "filter.value: not_in takes a list of 1 to 1000"),
        (cond("external_id", "in", ["a", 1]), "filter.value[1]: must be a string, not number"),
        (cond("attributes.x", "in", ["a", 1]), "filter.value: in takes values of one type"),
        (cond("attributes.x", "in", [True]), "filter.value[0]: must be a string or a number"),
        (cond("attributes.x", "eq", None), "use is_null for a missing attribute"),
        (cond("attributes.x", "eq", {"a": 1}), "filter.value: must be a string, number or"),
        (cond("monetary", "between", [1, 2, 3]), "filter.value: between takes a list of two"),
        (cond("monetary", "between", ["1", 2]), "filter.value[0]: must be a number, not string"),
        (cond("monetary", "between", [5, 1]), "filter.value: between needs lo <= hi"),
        (cond("frequency", "gt", "2"), "filter.value: must be a number, not string"),
        (cond("frequency", "gt", True), "filter.value: must be a number, not boolean"),
        (cond("frequency", "gt", 10**400), "filter.value: must be a finite number"),
        (cond("frequency", "gt", float("inf")), "filter.value: must be a finite number"),
        (cond("segment", "eq", 1.5), "filter.value: must be an integer, not number"),
        (cond("email_opt_in", "eq", "true"), "filter.value: must be true or false, not string"),
        (cond("recency_days", "is_null", "yes"), "filter.value: is_null takes true or false"),
        (cond("created_at", "gt", "2026-02-30"), "filter.value: '2026-02-30' is not an ISO"),
        (cond("created_at", "gt", 20260101), "filter.value: must be an ISO 8601 date"),
        (cond("created_at", "gt", "0001-01-01T00:00:00+05:00"), "is out of range"),
        (cond("email", "contains", "a\x00b"), "filter.value: must not contain NUL characters"),
        (cond("email", "eq", "\ud800"), "filter.value: must be valid Unicode text"),
        (cond("email", "eq", "x" * 1001), "filter.value: is longer than 1000 characters"),
        ({"behaviour": "purchase"}, "filter.behaviour: must be an object, not string"),
        ({"behaviour": {"kind": "like"}},
         "filter.behaviour.kind: unknown interaction kind 'like'; known: view, click"),
        ({"behaviour": {"kind": "view", "when": 1}}, "filter.behaviour.when: unknown key"),
        ({"behaviour": {"kind": "view", "within_days": 0}},
         "filter.behaviour.within_days: must be between 1 and 3650"),
        ({"behaviour": {"kind": "view", "within_days": 3651}}, "must be between 1 and 3650"),
        ({"behaviour": {"kind": "view", "within_days": "7"}},
         "filter.behaviour.within_days: must be an integer, not string"),
        ({"behaviour": {"kind": "view", "min_count": 0}},
         "filter.behaviour.min_count: must be between 1 and"),
        ({"behaviour": {"kind": "view", "category": 5}},
         "filter.behaviour.category: must be a string"),
        ({"and": [OK, {"behaviour": {"kind": "view", "product": ["p"]}}]},
         "filter.and[1].behaviour.product: must be a string, not list"),
        (nested_not(11), "filter" + ".not" * 10 + ": and/or/not are nested deeper than 10"),
        ({"and": [OK] * 101}, "filter.and[100]: a filter holds at most 100 conditions"),
        ({"or": [cond("external_id", "in", ["x"] * 1000)] * 11},
         "filter.or[10].value: a filter lists at most 10000 values in all"),
    ],
)  # fmt: skip
def test_an_invalid_filter_names_the_path_of_the_bad_node(filter, message):
    with pytest.raises(BadRequest) as raised:
        parse_filter(filter)
    assert message in raised.value.message
    assert raised.value.message.startswith(raised.value.details["path"] + ": ")


@pytest.mark.parametrize(
    "filter",
    [
        nested_not(10),
        {"and": [OK] * 100},
        cond("attributes.Größe-x y_1", "eq", "L"),
        cond("created_at", "between", ["2026-01-01", "2026-01-01"]),
        {"behaviour": {"kind": "purchase", "min_count": 3, "within_days": 3650}},
    ],
)
def test_filters_at_the_limits_are_valid(filter):
    parse_filter(filter)


# --- hypothesis: any JSON is a tree or a BadRequest ----------------------------------------------


@settings(max_examples=500, deadline=None)
@given(filter=random_filters)
def test_any_json_is_a_valid_tree_or_a_bad_request(filter):
    try:
        parse_filter(filter)
    except BadRequest as error:
        assert error.message.startswith("filter")
