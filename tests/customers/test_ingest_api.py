"""The customers, products and interactions API as a client sees it: bulk ingest, CRUD by
external id, the customer summary and the interaction filters.

Every bad input must be answered 400 with a message a client can act on, never 500.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.ingest.validation import INTERACTION_KINDS
from customers.models import Customer, Interaction, Product
from tenants.context import tenant_scope
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

BULK_URLS = {
    "customers": "/api/v1/customers/bulk/",
    "products": "/api/v1/products/bulk/",
    "interactions": "/api/v1/interactions/bulk/",
}
EVENTS_URL = BULK_URLS["interactions"]
MISSING = object()  # an override that removes the field from a row
_event_numbers = itertools.count(1)


# --- helpers -------------------------------------------------------------------------------


def event(**overrides) -> dict:
    """A valid event with a fresh event_id; overrides replace fields, MISSING removes one."""
    row = {
        "event_id": f"evt-{next(_event_numbers)}",
        "customer": "c1",
        "product": "p1",
        "kind": "view",
        "occurred_at": "2026-01-01T10:00:00Z",
    }
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not MISSING}


def without(row: dict, field: str) -> dict:
    return {key: value for key, value in row.items() if key != field}


def post_raw(client, url: str, body: bytes | str):
    """Post a body exactly as given (the test client's encoder would refuse some of them)."""
    return client.generic("POST", url, body, content_type="application/json")


def post_rows(client, url: str, rows: object):
    # json.dumps escapes lone surrogates and NUL, so those reach the server as a client sends them.
    return post_raw(client, url, json.dumps(rows))


def stored(model, tenant, **filters) -> list:
    with tenant_scope(tenant):
        return list(model.objects.filter(**filters).order_by("pk"))


def count(model, tenant) -> int:
    with tenant_scope(tenant):
        return model.objects.count()


def assert_bad_request(response, *fragments: str) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"], body
    for fragment in fragments:
        assert fragment in json.dumps(body), body
    return body


def assert_rejected(body: dict, expected: list[tuple[int, str, str]]) -> None:
    """Each rejected row is listed by index with its field and a reason naming the problem."""
    got = [(r["index"], r["field"], r["reason"]) for r in body["rejected"]]
    assert [(i, f) for i, f, _ in got] == [(i, f) for i, f, _ in expected], got
    for (_, _, reason), (_, _, fragment) in zip(got, expected, strict=True):
        assert fragment in reason, got


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def given_events(tenant, *specs: tuple) -> None:
    """Events (event_id, customer, product, kind, occurred_at, value) built with factories."""
    customers: dict[str, Customer] = {}
    products: dict[str, Product] = {}
    for event_id, customer, product, kind, occurred_at, value in specs:
        if customer not in customers:
            customers[customer] = CustomerFactory(tenant=tenant, external_id=customer)
        if product and product not in products:
            products[product] = ProductFactory(tenant=tenant, external_id=product)
        InteractionFactory(
            tenant=tenant,
            event_id=event_id,
            customer=customers[customer],
            product=products.get(product),
            kind=kind,
            occurred_at=parse_iso(occurred_at) if isinstance(occurred_at, str) else occurred_at,
            value=value,
        )


# --- every bulk endpoint: whole-body errors ------------------------------------------------

BAD_BODIES = {
    "malformed JSON": b'[{"event_id": ',
    "an object instead of an array": b'{"event_id": "e1"}',
    "a string instead of an array": b'"rows"',
    "null": b"null",
    "an empty body": b"",
    "an empty batch": b"[]",
    "a NaN literal": b'[{"value": NaN}]',
    "an Infinity literal": b'[{"value": -Infinity}]',
    "bytes that are not UTF-8": b'["\xff\xfe"]',
    "nesting deeper than the parser's recursion limit": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("url", BULK_URLS.values(), ids=BULK_URLS.keys())
@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bulk_body_that_is_not_a_batch_is_400(api_a, url, body):
    # when a body that is not a JSON array of rows is posted
    response = post_raw(api_a, url, body)

    # then it is refused as a whole, with a message
    assert_bad_request(response)


@pytest.mark.parametrize("url", BULK_URLS.values(), ids=BULK_URLS.keys())
def test_bulk_batch_over_the_limit_is_400_and_stores_nothing(api_a, tenant_a, url):
    # given 10,001 rows, one more than a request may carry
    rows = [event(customer=f"c{i}", external_id=f"x{i}") for i in range(10_001)]

    # when they are posted
    response = post_rows(api_a, url, rows)

    # then the batch is refused and the message names the limit
    assert_bad_request(response, "10,000")
    assert count(Customer, tenant_a) == count(Product, tenant_a) == 0


@pytest.mark.parametrize("url", BULK_URLS.values(), ids=BULK_URLS.keys())
def test_bulk_batch_of_only_bad_rows_is_400_listing_each(api_a, url):
    # when every row of the batch is bad
    response = post_rows(api_a, url, [42, "row", None, []])

    # then nothing is accepted and each row is listed as rejected
    body = assert_bad_request(response, "nothing was stored")
    assert_rejected(body, [(i, "__row__", "JSON object") for i in range(4)])


# --- interactions/bulk/ ----------------------------------------------------------------------


def test_posting_the_same_batch_twice_stores_it_once(api_a, tenant_a):
    # given a batch that has been posted once
    batch = [event(), event(kind="purchase", value=10), event(kind="review", product=MISSING)]
    first = post_rows(api_a, EVENTS_URL, batch)
    assert first.status_code == 200, first.content
    assert first.json()["created"] == 3

    # when the same batch is posted again
    again = post_rows(api_a, EVENTS_URL, batch)

    # then every event is reported as a duplicate and nothing new is stored
    assert again.status_code == 200, again.content
    assert again.json() | {"rejected": None} == {
        "created": 0,
        "updated": 0,
        "duplicates": 3,
        "customers_created": 0,
        "products_created": 0,
        "rejected": None,
    }
    assert count(Interaction, tenant_a) == 3


def test_an_event_id_repeated_inside_one_batch_is_stored_once(api_a, tenant_a):
    # given a batch naming one event_id twice
    first = event(kind="purchase", value=5)
    repeat = {**first, "value": 99}

    # when it is posted
    response = post_rows(api_a, EVENTS_URL, [first, repeat])

    # then the first copy is stored and the second counted as a duplicate
    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (1, 1)
    assert [i.value for i in stored(Interaction, tenant_a)] == [5]


def test_events_create_unknown_customers_and_products(api_a, tenant_a):
    # given one known customer
    CustomerFactory(tenant=tenant_a, external_id="known")

    # when events name it, a new customer and two new products
    rows = [
        event(customer="known", product="p1"),
        event(customer="new", product="p2"),
        event(customer="new", product="p1"),
    ]
    response = post_rows(api_a, EVENTS_URL, rows)

    # then the missing customer and products are created once each
    assert response.status_code == 200, response.content
    assert response.json()["customers_created"] == 1
    assert response.json()["products_created"] == 2
    assert {c.external_id for c in stored(Customer, tenant_a)} == {"known", "new"}


def test_a_partly_bad_batch_keeps_every_valid_row_and_lists_each_reject(api_a, tenant_a):
    # given a batch mixing valid and bad events
    rows = [
        event(event_id="ok-1"),
        event(kind="teleport"),
        event(event_id="ok-2", kind="rating", value=4),
        event(kind="purchase", value="abc"),
        event(occurred_at="yesterday"),
    ]

    # when it is posted
    response = post_rows(api_a, EVENTS_URL, rows)

    # then the valid rows are stored and each bad one is listed with field and reason
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2
    assert_rejected(
        response.json(),
        [(1, "kind", "must be one of"), (3, "value", "number"), (4, "occurred_at", "ISO 8601")],
    )
    assert [i.event_id for i in stored(Interaction, tenant_a)] == ["ok-1", "ok-2"]


def _future() -> str:
    return iso(datetime.now(UTC) + timedelta(days=3))


BAD_EVENTS = {
    "unknown kind": (event(kind="teleport"), "kind", "must be one of"),
    "kind as a list": (event(kind=["view"]), "kind", "must be one of"),
    "customer as a list": (event(customer=["c1"]), "customer", "must be a string"),
    "customer as an object": (event(customer={"id": "c1"}), "customer", "must be a string"),
    "value as text": (event(kind="purchase", value="abc"), "value", "must be a number"),
    "value as a list": (event(kind="purchase", value=[1]), "value", "must be a number"),
    "value as a bool": (event(kind="purchase", value=True), "value", "must be a number"),
    "value 'NaN' as text": (event(kind="purchase", value="NaN"), "value", "finite"),
    "value 'inf' as text": (event(kind="purchase", value="inf"), "value", "finite"),
    "occurred_at as a number": (event(occurred_at=1767261600), "occurred_at", "ISO 8601"),
    "occurred_at not a date": (event(occurred_at="yesterday"), "occurred_at", "ISO 8601"),
    "occurred_at out of range in UTC": (
        event(occurred_at="0001-01-01T00:00:00+05:00"),
        "occurred_at",
        "range",
    ),
    "future occurred_at": (event(occurred_at=_future()), "occurred_at", "future"),
    "event_id as a bool": (event(event_id=True), "event_id", "must be a string"),
    "customer as a bool": (event(customer=False), "customer", "must be a string"),
    "product as a bool": (event(product=True), "product", "must be a string"),
    "text of 10,001 characters": (
        event(kind="review", text="x" * 10_001),
        "text",
        "longer than 10000",
    ),
    "text as a number": (event(kind="review", text=5), "text", "must be a string"),
    "text with NUL": (event(kind="review", text="a\x00b"), "text", "NUL"),
    "text with a lone surrogate": (event(kind="review", text="a\ud800b"), "text", "Unicode"),
    "event_id of 129 characters": (event(event_id="e" * 129), "event_id", "longer than 128"),
    "customer of 129 characters": (event(customer="c" * 129), "customer", "longer than 128"),
    "product of 129 characters": (event(product="p" * 129), "product", "longer than 128"),
    "customer with a lone surrogate": (event(customer="c\udfff"), "customer", "Unicode"),
    "blank event_id": (event(event_id="  "), "event_id", "blank"),
    "control character in an id": (event(customer="a\nb"), "customer", "control"),
    "rating of 0": (event(kind="rating", value=0), "value", "1 to 5"),
    "rating of 6": (event(kind="rating", value=6), "value", "1 to 5"),
    "rating of 3.5": (event(kind="rating", value=3.5), "value", "1 to 5"),
    "rating with no value": (event(kind="rating"), "value", "1 to 5"),
    "negative purchase": (event(kind="purchase", value=-1), "value", "negative"),
    "missing event_id": (event(event_id=MISSING), "event_id", "required"),
    "missing customer": (event(customer=MISSING), "customer", "required"),
    "missing kind": (event(kind=MISSING), "kind", "must be one of"),
    "missing occurred_at": (event(occurred_at=MISSING), "occurred_at", "required"),
    "view with no product": (event(product=MISSING), "product", "required"),
    "a row that is not an object": (["e1", "c1"], "__row__", "JSON object"),
}


@pytest.mark.parametrize(("row", "field", "reason"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_a_bad_event_is_400_naming_field_and_reason(api_a, tenant_a, row, field, reason):
    # when a batch of one bad event is posted
    response = post_rows(api_a, EVENTS_URL, [row])

    # then it is refused with the row, field and reason listed, and nothing is stored
    assert_rejected(assert_bad_request(response), [(0, field, reason)])
    assert count(Interaction, tenant_a) == 0


def test_a_value_beyond_the_float_range_is_rejected(api_a):
    # given a number JSON can carry but a float cannot (it parses as infinity)
    body = '[{"event_id": "e1", "customer": "c1", "kind": "purchase", "value": 1e400, '
    body += '"occurred_at": "2026-01-01T10:00:00Z"}]'

    # when it is posted, then the row is rejected, not stored as infinity
    response = post_raw(api_a, EVENTS_URL, body)
    assert_rejected(assert_bad_request(response), [(0, "value", "finite")])


# --- customers/bulk/ and products/bulk/ ----------------------------------------------------


def test_customer_upsert_updates_sent_fields_and_keeps_the_rest(api_a, tenant_a):
    # given a customer created by a first batch
    first = [{"external_id": "c1", "email": "a@example.com", "attributes": {"tier": "gold"}}]
    created = post_rows(api_a, BULK_URLS["customers"], first)
    assert (created.status_code, created.json()["created"]) == (200, 1), created.content

    # when a second batch sends only a new email (and a new customer)
    second = [{"external_id": "c1", "email": "b@example.com"}, {"external_id": "c2"}]
    response = post_rows(api_a, BULK_URLS["customers"], second)

    # then the email changes, the attributes are kept, and c2 is created
    assert response.status_code == 200, response.content
    assert (response.json()["updated"], response.json()["created"]) == (1, 1)
    c1, c2 = stored(Customer, tenant_a)
    assert (c1.email, c1.attributes, c1.email_opt_in) == ("b@example.com", {"tier": "gold"}, False)
    assert c2.external_id == "c2"


def test_product_upsert_updates_sent_fields_and_keeps_the_rest(api_a, tenant_a):
    # given a product created by a first batch
    first = [{"external_id": "p1", "title": "Boots", "price": 49.9, "tags": ["winter"]}]
    assert post_rows(api_a, BULK_URLS["products"], first).status_code == 200

    # when the same product is posted again with a new price only
    response = post_rows(api_a, BULK_URLS["products"], [{"external_id": "p1", "price": "39.5"}])

    # then the price changes and the title and tags are kept
    assert response.status_code == 200, response.content
    assert response.json()["updated"] == 1
    (product,) = stored(Product, tenant_a)
    assert (product.title, str(product.price), product.tags) == ("Boots", "39.50", ["winter"])


def test_an_external_id_repeated_inside_one_upsert_batch_merges_last_wins(api_a, tenant_a):
    # when one batch names the same product twice
    rows = [
        {"external_id": "p1", "title": "First", "category": "shoes"},
        {"external_id": "p1", "title": "Second"},
    ]
    response = post_rows(api_a, BULK_URLS["products"], rows)

    # then one product is stored, with the later title and the earlier category
    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (1, 1)
    (product,) = stored(Product, tenant_a)
    assert (product.title, product.category) == ("Second", "shoes")


def test_a_partly_bad_customer_batch_keeps_the_valid_rows(api_a, tenant_a):
    # when valid customers are posted with bad ones between them
    rows = [
        {"external_id": "c1"},
        {"external_id": "c2", "email": "not an email"},
        {"external_id": "c3", "attributes": {"tier": "gold"}},
        {"external_id": "c4", "attributes": {"note": "a\x00b"}},
    ]
    response = post_rows(api_a, BULK_URLS["customers"], rows)

    # then the valid ones are stored and the bad ones listed
    assert response.status_code == 200, response.content
    assert_rejected(response.json(), [(1, "email", "email"), (3, "attributes", "NUL")])
    assert [c.external_id for c in stored(Customer, tenant_a)] == ["c1", "c3"]


BAD_CUSTOMERS = {
    "missing external_id": ({"email": "a@example.com"}, "external_id", "required"),
    "external_id as a list": ({"external_id": ["c1"]}, "external_id", "must be a string"),
    "external_id as a bool": ({"external_id": True}, "external_id", "must be a string"),
    "external_id of 129 characters": ({"external_id": "c" * 129}, "external_id", "128"),
    "invalid email": ({"external_id": "c1", "email": "nobody"}, "email", "email"),
    "email too long": ({"external_id": "c1", "email": "a@" + "b" * 253}, "email", "254"),
    "email as a number": ({"external_id": "c1", "email": 5}, "email", "must be a string"),
    "attributes as a list": ({"external_id": "c1", "attributes": [1]}, "attributes", "object"),
    "attributes with NUL": ({"external_id": "c1", "attributes": {"a\x00": 1}}, "attributes", "NUL"),
    "attributes with a lone surrogate": (
        {"external_id": "c1", "attributes": {"a": ["\ud800"]}},
        "attributes",
        "Unicode",
    ),
    "email_opt_in not a bool": ({"external_id": "c1", "email_opt_in": "maybe"}, "email_opt_in", ""),
}

BAD_PRODUCTS = {
    "missing external_id": ({"title": "Boots"}, "external_id", "required"),
    "external_id of 129 characters": ({"external_id": "p" * 129}, "external_id", "128"),
    "price as text": ({"external_id": "p1", "price": "abc"}, "price", "number"),
    "negative price": ({"external_id": "p1", "price": -1}, "price", "between"),
    "price too large": ({"external_id": "p1", "price": 1e10}, "price", "between"),
    "price that rounds up past the limit": (
        {"external_id": "p1", "price": 9_999_999_999.999},
        "price",
        "between",
    ),
    "price 'NaN' as text": ({"external_id": "p1", "price": "NaN"}, "price", "finite"),
    "tags not a list": ({"external_id": "p1", "tags": 5}, "tags", "list of strings"),
    "tags of numbers": ({"external_id": "p1", "tags": [1, 2]}, "tags", "list of strings"),
    "tags with NUL": ({"external_id": "p1", "tags": ["a\x00"]}, "tags", "NUL"),
    "title of 501 characters": ({"external_id": "p1", "title": "t" * 501}, "title", "500"),
    "description of 10,001 characters": (
        {"external_id": "p1", "description": "d" * 10_001},
        "description",
        "10000",
    ),
    "category as a list": ({"external_id": "p1", "category": ["a"]}, "category", "string"),
    "is_active not a bool": ({"external_id": "p1", "is_active": "maybe"}, "is_active", ""),
}


@pytest.mark.parametrize(
    ("url", "row", "field", "reason"),
    [
        pytest.param(BULK_URLS[what], *case, id=f"{what}: {name}")
        for what, cases in (("customers", BAD_CUSTOMERS), ("products", BAD_PRODUCTS))
        for name, case in cases.items()
    ],
)
def test_a_bad_customer_or_product_is_400_naming_field_and_reason(api_a, url, row, field, reason):
    # when a batch of one bad row is posted
    response = post_rows(api_a, url, [row])

    # then it is refused with the row, field and reason listed
    assert_rejected(assert_bad_request(response), [(0, field, reason)])


# --- hypothesis: no input makes a bulk endpoint fail -----------------------------------------

_tz = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
# Plausible values get a row past the first checks, so the later ones are exercised too.
_plausible = st.one_of(
    st.sampled_from(INTERACTION_KINDS),
    st.datetimes(timezones=st.none() | _tz).map(datetime.isoformat),
    st.sampled_from(["c1", "p1", "e1", "a@example.com", "1.5", "true"]),
    st.floats(min_value=-1e12, max_value=1e12),
)
_FIELDS = {
    "customers": ["external_id", "email", "attributes", "email_opt_in"],
    "products": ["external_id", "title", "description", "category", "price", "tags", "is_active"],
    "interactions": ["event_id", "customer", "product", "kind", "value", "text", "occurred_at"],
}


def _rows(what: str):
    record = st.dictionaries(st.sampled_from(_FIELDS[what]), _json | _plausible, max_size=7)
    return st.lists(record | _json, min_size=1, max_size=4)


@pytest.mark.parametrize("what", BULK_URLS.keys())
def test_no_batch_of_json_values_makes_a_bulk_endpoint_fail(api_a, what):
    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(rows=_rows(what))
    def check(rows):
        # when arbitrary JSON rows are posted
        response = post_rows(api_a, BULK_URLS[what], rows)

        # then the answer is a result or a clear refusal, never a server error
        assert response.status_code in (200, 400), response.content

    check()


# --- CRUD by external_id -------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    url: str
    model: type
    factory: type
    create: dict
    patch: dict
    put: dict


RESOURCES = {
    "customers": Resource(
        url="/api/v1/customers/",
        model=Customer,
        factory=CustomerFactory,
        create={"external_id": "new-1", "email": "new@example.com", "attributes": {"a": 1}},
        patch={"email": "patched@example.com"},
        put={"email": "put@example.com", "attributes": {"b": 2}, "email_opt_in": False},
    ),
    "products": Resource(
        url="/api/v1/products/",
        model=Product,
        factory=ProductFactory,
        create={"external_id": "new-1", "title": "Boots", "price": "49.90", "tags": ["w"]},
        patch={"title": "Better boots"},
        put={"title": "Put", "price": "1.00", "category": "hats", "tags": []},
    ),
}
resources = pytest.mark.parametrize("resource", RESOURCES.values(), ids=RESOURCES.keys())


def _subset(body: dict, expected: dict) -> dict:
    return {key: body[key] for key in expected}


def _stable(body: dict) -> dict:
    """A record as read back, without what changes on its own (timestamps, the summary and
    what the models say of a customer)."""
    computed = ("updated_at", "summary", "segment", "propensity", "churn_risk", "sentiment")
    return {k: v for k, v in body.items() if k not in computed}


@resources
def test_create_then_retrieve_by_external_id(api_a, resource):
    # when a record is created
    created = api_a.post(resource.url, resource.create, format="json")

    # then it answers 201 and is found at its external id, with no internal id exposed
    assert created.status_code == 201, created.content
    fetched = api_a.get(f"{resource.url}new-1/")
    assert fetched.status_code == 200, fetched.content
    assert _subset(fetched.json(), resource.create) == resource.create
    assert "id" not in fetched.json() and "tenant" not in fetched.json()


@resources
def test_create_with_a_taken_external_id_is_409(api_a, tenant_a, resource):
    # given a record with the external id
    resource.factory(tenant=tenant_a, external_id="new-1")

    # when another is created with it, then the answer is a conflict
    response = api_a.post(resource.url, resource.create, format="json")
    assert response.status_code == 409, response.content
    assert "new-1" in response.json()["detail"]


@resources
@pytest.mark.parametrize(
    "external_id",
    [None, "", "x" * 129, ["a"], "a\x00b"],
    ids=["null", "blank", "129", "list", "nul"],
)
def test_create_with_a_bad_external_id_is_400(api_a, resource, external_id):
    response = api_a.post(resource.url, {**resource.create, "external_id": external_id}, "json")
    assert_bad_request(response, "external_id")


def test_create_customer_with_attributes_holding_nul_is_400(api_a):
    response = post_rows(
        api_a, RESOURCES["customers"].url, {"external_id": "c", "attributes": {"a": "\x00"}}
    )
    assert_bad_request(response, "attributes")


@resources
def test_patch_changes_the_sent_fields_only(api_a, tenant_a, resource):
    # given a record
    before = api_a.post(resource.url, resource.create, format="json").json()

    # when one field is patched
    response = api_a.patch(f"{resource.url}new-1/", resource.patch, format="json")

    # then that field changes and the others keep their values
    assert response.status_code == 200, response.content
    after = api_a.get(f"{resource.url}new-1/").json()
    assert _stable(after) == _stable({**before, **resource.patch})


@resources
def test_put_replaces_the_fields_and_never_the_external_id(api_a, resource):
    # given a record
    api_a.post(resource.url, resource.create, format="json")

    # when it is replaced, with a different external_id in the body
    body = {**resource.put, "external_id": "renamed"}
    response = api_a.put(f"{resource.url}new-1/", body, format="json")

    # then the fields are replaced and it is still addressed by its own external id
    assert response.status_code == 200, response.content
    after = api_a.get(f"{resource.url}new-1/")
    assert _subset(after.json(), resource.put) == resource.put
    assert api_a.get(f"{resource.url}renamed/").status_code == 404


@resources
def test_delete_then_retrieve_is_404(api_a, tenant_a, resource):
    # given a record
    resource.factory(tenant=tenant_a, external_id="gone")

    # when it is deleted, then it is no longer found
    assert api_a.delete(f"{resource.url}gone/").status_code == 204
    assert api_a.get(f"{resource.url}gone/").status_code == 404
    assert count(resource.model, tenant_a) == 0


@resources
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_an_unknown_external_id_is_404(api_a, resource, method):
    response = getattr(api_a, method)(f"{resource.url}nobody/", {}, format="json")
    assert response.status_code == 404, response.content


@resources
def test_list_pages_with_a_cursor_through_every_record(api_a, tenant_a, resource):
    # given five records
    resource.factory.create_batch(5, tenant=tenant_a)
    expected = sorted(r.external_id for r in stored(resource.model, tenant_a))

    # when the list is read two at a time, following the next links
    seen, url, pages = [], f"{resource.url}?page_size=2", 0
    while url:
        page = api_a.get(url)
        assert page.status_code == 200, page.content
        seen += [r["external_id"] for r in page.json()["results"]]
        url, pages = page.json()["next"], pages + 1

    # then every record is seen once, in external_id order, over three pages
    assert (seen, pages) == (expected, 3)


def _listed(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return [r.get("external_id") or r.get("event_id") for r in response.json()["results"]]


def test_customer_list_filters_and_search(api_a, tenant_a):
    # given three customers
    CustomerFactory(tenant=tenant_a, external_id="ann", email="ann@shop.test", email_opt_in=True)
    CustomerFactory(tenant=tenant_a, external_id="bob", email="bob@mail.test", email_opt_in=False)
    CustomerFactory(tenant=tenant_a, external_id="cy", email="cy@shop.test", email_opt_in=True)

    # when the list is filtered or searched, then only the matches are listed
    url = RESOURCES["customers"].url
    assert _listed(api_a, f"{url}?email_opt_in=false") == ["bob"]
    assert _listed(api_a, f"{url}?email=cy@shop.test") == ["cy"]
    assert _listed(api_a, f"{url}?search=shop.test") == ["ann", "cy"]
    assert _listed(api_a, f"{url}?updated_since=2000-01-01T00:00:00Z") == ["ann", "bob", "cy"]
    assert_bad_request(api_a.get(f"{url}?updated_since=notadate"))


def test_product_list_filters_and_search(api_a, tenant_a):
    # given three products
    ProductFactory(tenant=tenant_a, external_id="p1", title="Red boots", category="shoes", price=10)
    ProductFactory(tenant=tenant_a, external_id="p2", title="Blue hat", category="hats", price=30)
    ProductFactory(tenant=tenant_a, external_id="p3", title="Old boots", is_active=False, price=50)

    # when the list is filtered or searched, then only the matches are listed
    url = RESOURCES["products"].url
    assert _listed(api_a, f"{url}?category=hats") == ["p2"]
    assert _listed(api_a, f"{url}?is_active=false") == ["p3"]
    assert _listed(api_a, f"{url}?min_price=20&max_price=40") == ["p2"]
    assert _listed(api_a, f"{url}?search=boots") == ["p1", "p3"]
    assert_bad_request(api_a.get(f"{url}?min_price=cheap"))


# --- customer summary ------------------------------------------------------------------------


def test_customer_detail_summarises_a_known_history(api_a, tenant_a):
    # given a history of a view, two purchases and a rating, relative to now
    now = datetime.now(UTC).replace(microsecond=0)
    first, last_purchase, last = now - timedelta(days=10), now - timedelta(days=3, hours=1), now
    given_events(
        tenant_a,
        ("e1", "c1", "p1", "view", first, None),
        ("e2", "c1", "p1", "purchase", now - timedelta(days=8), 10.0),
        ("e3", "c1", "p2", "purchase", last_purchase, 20.5),
        ("e4", "c1", "p2", "rating", last - timedelta(minutes=1), 4.0),
    )

    # when the customer is read
    summary = api_a.get("/api/v1/customers/c1/").json()["summary"]

    # then recency, frequency, monetary value and first and last seen are right
    assert (summary["recency_days"], summary["frequency"], summary["monetary"]) == (3, 2, 30.5)
    assert summary["interactions"] == 4
    assert parse_iso(summary["first_seen"]) == first
    assert parse_iso(summary["last_seen"]) == last - timedelta(minutes=1)
    assert parse_iso(summary["last_purchase_at"]) == last_purchase


def test_customer_recency_is_never_negative(api_a, tenant_a):
    # given a purchase stamped a little ahead of the server clock (ingest allows a day)
    ahead = datetime.now(UTC) + timedelta(hours=2)
    given_events(tenant_a, ("e1", "c1", "p1", "purchase", ahead, 5.0))

    # then the customer bought today, not -1 days ago
    assert api_a.get("/api/v1/customers/c1/").json()["summary"]["recency_days"] == 0


def test_customer_detail_summary_with_no_history(api_a, tenant_a):
    CustomerFactory(tenant=tenant_a, external_id="quiet")
    summary = api_a.get("/api/v1/customers/quiet/").json()["summary"]
    assert summary == {
        "recency_days": None,
        "frequency": 0,
        "monetary": 0.0,
        "interactions": 0,
        "first_seen": None,
        "last_seen": None,
        "last_purchase_at": None,
    }


# --- GET interactions/ -----------------------------------------------------------------------

INTERACTION_FILTERS = {
    "no filter": ("", ["e3", "e2", "e1"]),
    "customer": ("customer=c1", ["e2", "e1"]),
    "product": ("product=p1", ["e3", "e1"]),
    "kind": ("kind=purchase", ["e2"]),
    "since (inclusive)": ("since=2026-01-05T00:00:00Z", ["e3", "e2"]),
    "until (exclusive)": ("until=2026-01-05T00:00:00Z", ["e1"]),
    "combined": ("customer=c1&product=p1&since=2025-12-01T00:00:00Z", ["e1"]),
    "unknown customer": ("customer=nobody", []),
}


@pytest.mark.parametrize(
    ("query", "expected"), INTERACTION_FILTERS.values(), ids=INTERACTION_FILTERS.keys()
)
def test_interaction_list_filters(api_a, tenant_a, query, expected):
    # given three events, newest last
    given_events(
        tenant_a,
        ("e1", "c1", "p1", "view", "2026-01-01T10:00:00Z", None),
        ("e2", "c1", "p2", "purchase", "2026-01-05T00:00:00Z", 12.0),
        ("e3", "c2", "p1", "click", "2026-01-10T10:00:00Z", None),
    )

    # when the list is filtered, then the matches are listed newest first
    assert _listed(api_a, f"/api/v1/interactions/?{query}") == expected


@pytest.mark.parametrize("query", ["since=notadate", "until=2026-13-01", "kind=teleport"], ids=str)
def test_interaction_list_with_a_bad_filter_is_400(api_a, query):
    assert_bad_request(api_a.get(f"/api/v1/interactions/?{query}"))
