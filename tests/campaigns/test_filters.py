"""Segment filters: each operator on each field family, and/or/not, behaviours, the active
model's outputs, the SQL features against the reference ones, and one query per count."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.selectors import segment_customers, segment_preview, segment_profile
from customers.models import Customer, CustomerPrediction, Interaction, Product
from customers.selectors import customer_feature_matrix
from tenants.context import tenant_scope
from tests.campaigns.helpers import NOW, cond, days_ago, members
from tests.factories import (
    ActiveModelFactory,
    CustomerFactory,
    ModelVersionFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


# --- customer fields and attributes ------------------------------------------------------------


@pytest.fixture
def people(tenant_a):
    rows = [
        ("ann", "Ann@Example.com", True,
         {"tier": "gold", "age": 41, "vip": True, "city": "Paris", "home town": "Lyon"},
         datetime(2025, 1, 1, tzinfo=UTC)),
        ("bob", "bob@shop.test", False, {"tier": "silver", "age": "41", "vip": 1, "score": 7.5},
         datetime(2025, 6, 1, tzinfo=UTC)),
        ("cy", "cy@example.com", True, {"tier": None, "age": 25},
         datetime(2026, 1, 1, tzinfo=UTC)),
        ("dee", "", False, {}, datetime(2026, 2, 1, tzinfo=UTC)),
    ]  # fmt: skip
    for external_id, email, opt_in, attributes, created_at in rows:
        CustomerFactory(tenant=tenant_a, external_id=external_id, email=email,
                        email_opt_in=opt_in, attributes=attributes)  # fmt: skip
        with tenant_scope(tenant_a):  # auto_now_add: set the creation time afterwards
            Customer.objects.filter(external_id=external_id).update(created_at=created_at)
    return tenant_a


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("external_id", "eq", "ann", {"ann"}),
        ("external_id", "ne", "ann", {"bob", "cy", "dee"}),
        ("external_id", "in", ["ann", "cy", "zed"], {"ann", "cy"}),
        ("external_id", "not_in", ["ann", "cy"], {"bob", "dee"}),
        ("email", "contains", "Example", {"ann"}),  # case-sensitive on every database
        ("email", "icontains", "EXAMPLE", {"ann", "cy"}),
        ("email", "startswith", "bob@", {"bob"}),
        ("email", "startswith", "", {"ann", "bob", "cy", "dee"}),
        ("email", "contains", "", {"ann", "bob", "cy", "dee"}),
        ("email", "eq", "", {"dee"}),
        ("email_opt_in", "eq", True, {"ann", "cy"}),
        ("email_opt_in", "ne", True, {"bob", "dee"}),
        ("created_at", "lt", "2025-06-01", {"ann"}),
        ("created_at", "lte", "2025-06-01T00:00:00Z", {"ann", "bob"}),
        ("created_at", "lt", "2025-06-01T02:00:00+02:00", {"ann"}),  # the same instant
        ("created_at", "gt", "2026-01-01", {"dee"}),
        ("created_at", "gte", "2026-01-01", {"cy", "dee"}),
        ("created_at", "between", ["2025-05-01", "2026-01-15T00:00:00"], {"bob", "cy"}),
    ],
)
def test_customer_fields(people, field, op, value, expected):
    assert members(people, cond(field, op, value)) == expected


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("attributes.tier", "eq", "gold", {"ann"}),
        ("attributes.tier", "ne", "gold", {"bob"}),  # no tier (null or missing): false
        ("attributes.tier", "in", ["gold", "silver"], {"ann", "bob"}),
        ("attributes.age", "not_in", [41], {"cy"}),  # bob's "41" is a string, not 41
        ("attributes.age", "eq", "41", {"bob"}),
        ("attributes.age", "gt", 30, {"ann"}),
        ("attributes.age", "gte", 41, {"ann"}),
        ("attributes.age", "lt", 30, {"cy"}),
        ("attributes.age", "lte", 25, {"cy"}),
        ("attributes.age", "between", [20, 41], {"ann", "cy"}),
        ("attributes.score", "eq", 7.5, {"bob"}),
        ("attributes.home town", "eq", "Lyon", {"ann"}),
        ("attributes.vip", "eq", True, {"ann"}),  # bob's 1 is a number, not true
        ("attributes.vip", "ne", False, {"ann"}),
        ("attributes.city", "contains", "ar", {"ann"}),
        ("attributes.city", "contains", "AR", set()),
        ("attributes.city", "icontains", "PAR", {"ann"}),
        ("attributes.city", "startswith", "Pa", {"ann"}),
        ("attributes.city", "startswith", "", {"ann"}),  # only string-valued cities
        ("attributes.tier", "is_null", True, {"cy", "dee"}),  # JSON null or no key
        ("attributes.tier", "is_null", False, {"ann", "bob"}),
    ],
)
def test_attributes_compare_as_json_values(people, field, op, value, expected):
    assert members(people, cond(field, op, value)) == expected


def test_not_of_a_condition_on_a_missing_value_includes_the_customers_lacking_it(people):
    # given a condition false for customers without a tier
    gold = cond("attributes.tier", "eq", "gold")

    # then its negation is its exact complement, customers without a tier included
    assert members(people, {"not": gold}) == {"bob", "cy", "dee"}
    assert members(people, {"not": {"not": gold}}) == {"ann"}


# --- features ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("recency_days", "lt", 15, {"buyer"}),
        ("recency_days", "between", [19.5, 20.5], {"viewer"}),  # since the first interaction
        ("recency_days", "is_null", True, {"idle", "late"}),
        ("recency_days", "is_null", False, {"buyer", "viewer"}),
        ("frequency", "eq", 2, {"buyer"}),
        ("frequency", "ne", 2, {"viewer", "idle", "late"}),  # late's purchase is after now
        ("frequency", "in", [0], {"viewer", "idle", "late"}),
        ("frequency", "not_in", [0, 1], {"buyer"}),
        ("monetary", "gte", 40, {"buyer"}),
        ("monetary", "lte", 0, {"viewer", "idle", "late"}),
        ("tenure_days", "gt", 30, {"buyer"}),
        ("tenure_days", "is_null", True, {"idle", "late"}),
        ("avg_order_value", "eq", 20, {"buyer"}),
        ("interpurchase_days", "between", [29.99, 30.01], {"buyer"}),
        ("views_30d", "eq", 2, {"viewer"}),
        ("clicks_30d", "gte", 1, {"viewer"}),
        ("carts_30d", "lt", 1, {"buyer", "idle", "late"}),
    ],
)
def test_features_as_of_now(shop, field, op, value, expected):
    tenant, _ = shop
    assert members(tenant, cond(field, op, value)) == expected


def test_not_of_a_feature_a_customer_lacks_includes_that_customer(shop):
    tenant, _ = shop
    assert members(tenant, {"not": cond("recency_days", "lt", 15)}) == {"viewer", "idle", "late"}


def test_sql_features_agree_with_the_reference_feature_matrix(tenant_a):
    # given customers with random histories (some in the future, some without a value)
    rng = np.random.default_rng(7)
    kinds = ["view", "click", "add_to_cart", "purchase", "purchase", "rating"]
    with tenant_scope(tenant_a):
        product = Product.objects.create(tenant=tenant_a, external_id="p", category="x")
        customers = Customer.objects.bulk_create(
            [Customer(tenant=tenant_a, external_id=f"c{i:02d}") for i in range(30)]
        )
        events = [
            Interaction(
                tenant=tenant_a, event_id=f"e{i}-{j}", customer=customer, product=product,
                kind=str(rng.choice(kinds)), occurred_at=days_ago(float(rng.uniform(-2, 90))),
                value=None if rng.random() < 0.2 else round(float(rng.uniform(1, 99)), 2),
            )
            for i, customer in enumerate(customers[:26])
            for j in range(int(rng.integers(1, 9)))
        ]  # fmt: skip
        Interaction.objects.bulk_create(events)
    matrix = customer_feature_matrix(tenant=tenant_a, as_of=NOW)
    with tenant_scope(tenant_a):
        names = dict(Customer.objects.values_list("pk", "external_id"))
    in_matrix = {names[int(pk)] for pk in matrix.customer_ids}

    for feature in ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
                    "interpurchase_days", "views_30d", "clicks_30d", "carts_30d"):  # fmt: skip
        column = matrix.column(feature)
        # a threshold halfway between two values, so rounding cannot move anyone across it
        values = np.unique(column)
        threshold = float((values[len(values) // 2 - 1] + values[len(values) // 2]) / 2)
        above = matrix.customer_ids[column > threshold]
        expected = {names[int(pk)] for pk in above}

        # then the segment of "feature > threshold" holds exactly those customers
        got = members(tenant_a, cond(feature, "gt", threshold)) & in_matrix
        assert got == expected, feature


# --- the active models' outputs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("segment", "eq", 2, {"viewer", "late"}),
        ("segment", "in", [1], {"buyer"}),
        ("segment", "ne", 2, {"buyer"}),  # idle has no segment: false
        ("segment", "not_in", [1], {"viewer", "late"}),
        ("segment", "is_null", True, {"idle"}),
        ("propensity", "gt", 0.5, {"viewer"}),
        ("propensity", "between", [0.1, 0.5], {"buyer", "late"}),
        ("propensity", "is_null", True, {"idle"}),
        ("churn_risk", "gte", 0.55, {"buyer", "late"}),  # late bought (whenever): 0.6
        ("churn_risk", "lt", 0.7, {"late"}),
        ("churn_risk", "is_null", True, {"viewer", "idle"}),  # never bought / no score
    ],
)
def test_model_fields_read_the_active_versions(predictions, field, op, value, expected):
    tenant, _, _ = predictions
    assert members(tenant, cond(field, op, value)) == expected


def test_rolling_back_the_segmentation_changes_membership_without_a_rewrite(predictions):
    # given the segmentation pointer moved to the retired version
    tenant, pointer, retired = predictions
    with tenant_scope(tenant):
        pointer.version = retired
        pointer.save()

    # then that version's segments are the ones filters see
    assert members(tenant, cond("segment", "eq", 1)) == {"idle"}
    assert members(tenant, cond("segment", "eq", 3)) == {"buyer"}


def test_model_fields_are_missing_before_any_model_is_trained(shop):
    tenant, _ = shop
    assert members(tenant, cond("segment", "is_null", True)) == {"buyer", "viewer", "idle", "late"}
    assert members(tenant, cond("propensity", "gte", 0)) == set()


# --- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ({"kind": "purchase"}, {"buyer", "late"}),
        ({"kind": "purchase", "category": "hats"}, {"buyer", "late"}),
        ({"kind": "purchase", "category": "shoes"}, {"buyer"}),
        ({"kind": "view", "product": "boots"}, {"buyer", "viewer"}),
        ({"kind": "click", "product": "boots"}, set()),
        ({"kind": "view", "within_days": 7}, {"buyer", "viewer"}),
        ({"kind": "view", "within_days": 4}, {"viewer"}),
        ({"kind": "purchase", "category": "shoes", "within_days": 30}, set()),
        ({"kind": "view", "min_count": 2}, {"viewer"}),
        ({"kind": "purchase", "min_count": 2}, {"buyer"}),
        ({"kind": "view", "product": "boots", "within_days": 30, "min_count": 2}, {"viewer"}),
        ({"kind": "review"}, set()),
    ],
)
def test_behaviour(shop, behaviour, expected):
    tenant, _ = shop
    assert members(tenant, {"behaviour": behaviour}) == expected


def test_viewed_a_product_but_did_not_buy_it(shop):
    tenant, _ = shop
    viewed_not_bought = {"and": [
        {"behaviour": {"kind": "view", "product": "boots"}},
        {"not": {"behaviour": {"kind": "purchase", "product": "boots"}}},
    ]}  # fmt: skip
    # buyer viewed boots but bought them 40 days ago; viewer never bought them
    assert members(tenant, viewed_not_bought) == {"viewer"}


# --- and / or / not ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"or": [cond("frequency", "eq", 2), cond("views_30d", "eq", 2)]}, {"buyer", "viewer"}),
        ({"not": {"or": [cond("frequency", "eq", 2), cond("views_30d", "eq", 2)]}},
         {"idle", "late"}),
        ({"and": [{"behaviour": {"kind": "purchase"}}, {"not": cond("frequency", "gte", 1)}]},
         {"late"}),
        ({"or": [{"and": [cond("segment", "eq", 2), cond("propensity", "gt", 0.5)]},
                 cond("segment", "is_null", True)]}, {"viewer", "idle"}),
        ({"and": [{"or": [cond("external_id", "startswith", "b"),
                          cond("external_id", "startswith", "v")]},
                  {"not": {"not": {"behaviour": {"kind": "add_to_cart"}}}}]}, {"viewer"}),
    ],
)  # fmt: skip
def test_nested_and_or_not(predictions, filter, expected):
    tenant, _, _ = predictions
    assert members(tenant, filter) == expected


def test_a_segment_sees_only_its_own_tenants_customers(shop, tenant_b):
    # given tenant B with a customer who matches the same filter
    CustomerFactory(tenant=tenant_b, external_id="buyer")
    tenant, _ = shop
    # then each tenant's evaluation shows its own customers only
    with tenant_scope(tenant_b):
        b_members = segment_customers(tenant=tenant_b, filter=cond("external_id", "eq", "buyer"))
        assert [c.tenant_id for c in b_members] == [tenant_b.pk]
    assert members(tenant, cond("external_id", "eq", "buyer")) == {"buyer"}


# --- cost: one query whatever the number of customers ----------------------------------------

EVERY_FAMILY = {"and": [
    cond("email_opt_in", "eq", True),
    cond("attributes.tier", "in", ["gold", "silver"]),
    cond("recency_days", "lt", 60),
    cond("monetary", "gt", 5),
    {"or": [cond("segment", "eq", 1), cond("churn_risk", "gt", 0.5)]},
    {"behaviour": {"kind": "purchase", "category": "shoes", "within_days": 30}},
    {"not": {"behaviour": {"kind": "view", "min_count": 3}}},
]}  # fmt: skip


def _crowd(size: int):
    """`size` customers, every other one matching EVERY_FAMILY."""
    tenant = TenantFactory(slug=f"crowd-{size}")
    version = ModelVersionFactory(tenant=tenant, kind="segmentation", status="active")
    ActiveModelFactory(tenant=tenant, kind="segmentation", version=version)
    with tenant_scope(tenant):
        shoes = Product.objects.create(tenant=tenant, external_id="boots", category="shoes")
        customers = Customer.objects.bulk_create([
            Customer(tenant=tenant, external_id=f"c{i:04d}", email_opt_in=True,
                     attributes={"tier": "gold" if i % 2 == 0 else "bronze"})
            for i in range(size)
        ])  # fmt: skip
        Interaction.objects.bulk_create(
            Interaction(tenant=tenant, event_id=f"e{c.pk}", customer=c, product=shoes,
                        kind="purchase", value=20.0, occurred_at=days_ago(3))
            for c in customers
        )  # fmt: skip
        CustomerPrediction.objects.bulk_create(
            CustomerPrediction(tenant=tenant, version=version, customer=c, segment=1)
            for c in customers
        )
    return tenant


@pytest.mark.parametrize("size", [10, 200])
def test_count_and_members_are_one_query_each_whatever_the_size(size):
    # given a tenant with `size` customers, half in the segment
    tenant = _crowd(size)
    with tenant_scope(tenant):
        segment = segment_customers(tenant=tenant, filter=EVERY_FAMILY, now=NOW)

        # when it is counted, then listed
        with CaptureQueriesContext(connection) as counting:
            count = segment.count()
        with CaptureQueriesContext(connection) as listing:
            listed = list(segment)

    # then each took one query
    assert count == len(listed) == size // 2
    assert len(counting.captured_queries) == 1, counting.captured_queries
    assert len(listing.captured_queries) == 1


def test_preview_counts_and_samples_the_first_members_by_external_id():
    tenant = _crowd(10)
    with tenant_scope(tenant):
        preview = segment_preview(tenant=tenant, filter=EVERY_FAMILY, sample=3, now=NOW)
        everyone = segment_preview(tenant=tenant, filter=EVERY_FAMILY, sample=20, now=NOW)
    assert preview == {"count": 5, "sample": ["c0000", "c0002", "c0004"]}
    assert everyone["count"] == 5 and len(everyone["sample"]) == 5


def test_a_segment_profile_describes_its_members(shop, tenant_a):
    # given the segment of customers with at least one purchase (only "buyer", as of NOW)
    with tenant_scope(tenant_a):
        found = segment_profile(tenant=tenant_a, filter=cond("frequency", "gte", 1), now=NOW)
    # then its profile is buyer's: two orders worth 40, mostly shoes, then hats
    assert found["members"] == 1
    assert found["orders_per_member"] == 2 and found["revenue_per_member"] == 40.0
    assert found["top_categories"] == ["shoes", "hats"]
    assert found["opted_in_share"] in (0.0, 1.0)
