"""Tenant isolation for every API route, generated from the URL configuration.

The routes are found by walking the URL resolver, so a route added later is covered
without editing this file. Only views that need no credential (schema, docs) are left
out, recognised by their empty authentication and permission classes.

For each tenant-scoped route and each method it allows, tenant A's object is built with
the factory for the view's model (tests/factories.py FACTORIES) and tenant B, holding a
key with every scope, tries to reach it:

- lists and list filters never show A's object to B;
- A's object, addressed by B, is a 404 for reads, writes, deletes and detail actions;
- creates and list actions (bulk) naming A's ids make B its own rows and leave A's alone;
- after every request A's object and A's row counts are unchanged.

A route answering any address (recommendations for a customer id: an unknown customer
gets popular products) must answer B about A's id exactly as about an id nobody holds.

A route whose address is shared by every tenant (a per-tenant setting keyed by kind,
say) is recognised by the factory giving A's and B's objects the same address; there B
must get its own object, and A's must still be unchanged.

Every route also answers 401 with no key or a revoked key, and 403 to a key lacking the
scope its method needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from tenants.api.permissions import required_scope
from tenants.api.viewsets import TenantScopedViewMixin
from tenants.context import has_tenant_scope, tenant_scope
from tenants.models import ApiKey, Tenant, TenantOwnedModel
from tenants.rls import tenant_owned_models
from tenants.services import api_key_create, api_key_revoke
from tests.factories import FACTORIES

API_PREFIX = "api/v1/"
ALL_SCOPES = list(ApiKey.Scope.values)
TAMPER_PREFIX = "b-"


# --- discovery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One DRF view under /api/v1/ as the URL configuration declares it."""

    name: str  # URL name, with namespaces
    cls: type
    actions: tuple[tuple[str, str], ...]  # (HTTP method, viewset action)
    initkwargs: tuple[tuple[str, object], ...]
    url_kwargs: tuple[str, ...]

    @property
    def template(self) -> str:
        url = reverse(self.name, kwargs={k: f"__{k}__" for k in self.url_kwargs})
        for kwarg in self.url_kwargs:
            url = url.replace(f"__{kwarg}__", f"{{{kwarg}}}")
        return url

    @property
    def detail(self) -> bool:
        return bool(dict(self.initkwargs).get("detail", bool(self.url_kwargs)))

    @property
    def methods(self) -> list[str]:
        methods = [method.upper() for method, _ in self.actions]
        if "GET" in methods:
            methods.append("HEAD")  # DRF answers HEAD wherever it answers GET
        return [*methods, "OPTIONS"]

    @property
    def model(self) -> type[models.Model] | None:
        return getattr(self.cls, "model", None)

    def effective(self, attribute: str):
        """A view attribute as the view runs with it (as_view() arguments override the class)."""
        return dict(self.initkwargs).get(attribute, getattr(self.cls, attribute, None))

    def action(self, method: str) -> str | None:
        if method == "OPTIONS":
            return "metadata"
        actions = dict(self.actions)
        return actions.get(method.lower()) or actions.get("get" if method == "HEAD" else "")

    def view(self, method: str = "GET"):
        """An instance of the view set up for `method`, as DRF sets it up for a request."""
        view = self.cls(**dict(self.initkwargs))
        view.action = self.action(method)
        view.format_kwarg = None
        return view

    def url(self, lookup: object = "missing") -> str:
        if not self.url_kwargs:
            return reverse(self.name)
        view = self.view()
        kwarg = view.lookup_url_kwarg or view.lookup_field
        assert self.url_kwargs == (kwarg,), (
            f"{self.template} takes {self.url_kwargs}; this suite can only fill the lookup "
            f"{kwarg!r}. Teach Route.url about nested routes."
        )
        return reverse(self.name, kwargs={kwarg: lookup})


def _walk(patterns, prefix: str = "", namespace: str = "", kwargs: tuple = ()) -> Iterator:
    for entry in patterns:
        entry_kwargs = kwargs + tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner, entry_kwargs)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry, entry_kwargs


def discover_api_routes() -> list[Route]:
    routes = []
    for path, namespace, pattern, url_kwargs in _walk(get_resolver().url_patterns):
        cls = getattr(pattern.callback, "cls", None)
        if not path.lstrip("^").startswith(API_PREFIX) or cls is None:
            continue
        assert pattern.name, f"API route {path} has no URL name; give it one."
        actions = getattr(pattern.callback, "actions", None) or {
            method: method for method in cls.http_method_names if method != "options"
            if hasattr(cls, method)
        }  # fmt: skip
        routes.append(
            Route(
                name=namespace + pattern.name,
                cls=cls,
                actions=tuple(sorted(actions.items())),
                initkwargs=tuple(sorted(getattr(pattern.callback, "initkwargs", {}).items())),
                url_kwargs=tuple(dict.fromkeys(url_kwargs)),
            )
        )
    return routes


def is_public(route: Route) -> bool:
    """A view that asks for no credential at all (the schema and its docs)."""
    return all(issubclass(p, AllowAny) for p in route.effective("permission_classes"))


API_ROUTES = discover_api_routes()
TENANT_ROUTES = [route for route in API_ROUTES if not is_public(route)]
ROUTE_METHODS = [
    pytest.param(route, method, id=f"{method} {route.template}")
    for route in TENANT_ROUTES
    for method in route.methods
]


def test_discovery_finds_the_known_routes():
    # given the routes the URL walker found
    found = {(route.name, method) for route in TENANT_ROUTES for method in route.methods}
    public = {route.name for route in API_ROUTES if is_public(route)}

    # then the customer, product and interaction routes are among them, bulk actions included
    for resource in ("customer", "product"):
        for method in ("GET", "POST", "HEAD", "OPTIONS"):
            assert (f"{resource}-list", method) in found
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            assert (f"{resource}-detail", method) in found
        assert (f"{resource}-bulk", "POST") in found
    assert {("interaction-list", "GET"), ("interaction-bulk", "POST")} <= found
    # and only the schema and its docs are public
    assert public == {"schema", "docs"}


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=lambda route: route.template)
def test_every_view_of_tenant_owned_rows_is_built_on_the_tenant_base(route):
    # A view of tenant-owned rows outside the base would have no tenant filter or scope;
    # a view on the base must say which model it serves.
    on_base = issubclass(route.cls, TenantScopedViewMixin)
    assert on_base == (route.model is not None), (
        f"{route.cls.__name__} ({route.template}): a view naming a `model` must be built on "
        "tenants.api.viewsets.TenantScopedViewMixin, and one built on it must name its model."
    )


# --- authentication and scopes -------------------------------------------------------------


def send(client: APIClient, method: str, url: str, body: object = None):
    data = "" if body is None else json.dumps(body)
    return client.generic(method, url, data, content_type="application/json")


def _key_client(tenant, scopes: list[str]) -> tuple[APIClient, ApiKey]:
    created = api_key_create(tenant=tenant, name=f"key-{'-'.join(scopes)}", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    return client, created.api_key


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS)
def test_a_request_without_a_key_is_401(db, route, method):
    response = send(APIClient(), method, route.url())
    assert response.status_code == 401, response.content


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS)
def test_a_revoked_key_is_401(tenant_a, route, method):
    # given a key with every scope, revoked
    client, api_key = _key_client(tenant_a, ALL_SCOPES)
    api_key_revoke(api_key=api_key)

    # when it is used, then it is refused as a credential
    response = send(client, method, route.url())
    assert response.status_code == 401, response.content


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS)
def test_a_key_lacking_the_needed_scope_is_403(tenant_a, route, method):
    # given a key with every scope but the one this method needs
    needed = required_scope(route.view(method), method)
    client, _ = _key_client(tenant_a, [scope for scope in ALL_SCOPES if scope != needed])

    # when it is used, then the request is forbidden and the message names the scope
    response = send(client, method, route.url())
    assert response.status_code == 403, response.content
    if method != "HEAD":
        assert needed in response.json()["detail"]


# --- tenant B against tenant A's objects ---------------------------------------------------


def factory_for(route: Route):
    model = route.model
    factory = FACTORIES.get(model)
    if factory is None:
        pytest.fail(
            f"{model.__name__} (the model of {route.cls.__name__}, {route.template}) has no "
            "factory in tests/factories.py FACTORIES; add one so the cross-tenant suite can "
            "build tenant A's rows for this route.",
            pytrace=False,
        )
    return factory


def identity_field(route: Route, representation: dict, *, natural_first: bool = False) -> str:
    """The field that tells rows apart in API answers: the lookup, id, or a natural key
    (first, for bulk upserts: server ids are not the client's to choose)."""
    lookup = route.view().lookup_field
    natural = [
        field
        for constraint in route.model._meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None
        for field in constraint.fields
        if set(constraint.fields) - {field} == {"tenant"}
    ]
    addressed = [lookup, "id" if lookup == "pk" else None]
    candidates = natural + addressed if natural_first else addressed + natural
    for field in candidates:
        if field and field in representation:
            return field
    pytest.fail(
        f"Cannot tell {route.model.__name__} rows apart in {route.template} answers: the "
        f"serializer shows none of {[c for c in candidates if c]}.",
        pytrace=False,
    )


def serves_its_model(route: Route) -> bool:
    """The view's serializer renders its model's rows (not a computed answer about one)."""
    meta = getattr(route.view().get_serializer_class(), "Meta", None)
    return getattr(meta, "model", None) is route.model


def representation(route: Route, obj) -> dict:
    if not serves_its_model(route):  # a computed answer: the row is known by its address
        lookup = route.view().lookup_field
        return {lookup: getattr(obj, lookup)}
    serializer = route.view().get_serializer_class()(obj, context={})
    return json.loads(JSONRenderer().render(serializer.data))


def tampered(route: Route, obj) -> dict:
    """A's object as the API shows it, with its writable free-text fields changed.

    Posted by B, it names A's ids; if it ever reached A's row, the change would show.
    """
    body = representation(route, obj)
    fields = route.view().get_serializer_class()(context={}).fields
    unique = {f for c in route.model._meta.constraints for f in getattr(c, "fields", ())}
    for name, value in body.items():
        try:
            model_field = route.model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        writable = name in fields and not fields[name].read_only
        free_text = isinstance(model_field, models.CharField | models.TextField)
        if writable and free_text and not model_field.choices and name not in unique and value:
            body[name] = f"{TAMPER_PREFIX}{value}"
    return body


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


@dataclass
class World:
    """Tenant A's object, tenant B's own object, and a client for each tenant."""

    route: Route
    tenant_a: Tenant
    a_obj: models.Model | None  # None for a view of no model (e.g. whoami)
    b_obj: models.Model | None
    as_a: APIClient
    as_b: APIClient

    @property
    def lookup(self) -> object:
        return getattr(self.a_obj, self.route.view().lookup_field)

    @property
    def shared_address(self) -> bool:
        """B owns an object at A's address (a key every tenant has, such as a kind)."""
        field = self.route.view().lookup_field
        return getattr(self.b_obj, field) == getattr(self.a_obj, field)

    @property
    def identity_field(self) -> str:
        return identity_field(self.route, representation(self.route, self.a_obj))

    def identity(self, obj) -> str:
        return str(representation(self.route, obj)[self.identity_field])

    def identities(self, rows: list[dict]) -> set[str]:
        return {str(row.get(self.identity_field)) for row in rows}

    def snapshot_a(self) -> dict:
        """A's object as stored, and how many rows A has in every tenant-owned table."""
        with tenant_scope(self.tenant_a):
            counts = {m.__name__: m.objects.count() for m in tenant_owned_models()}
            if self.a_obj is None:
                return {"counts": counts}
            row = type(self.a_obj).objects.filter(pk=self.a_obj.pk).values().first()
        return {"row": row, "counts": counts}

    def assert_b_owns(self, lookup: dict) -> None:
        """B has a row matching lookup, and everything it points to is B's too."""
        model = self.route.model
        relations = [
            f for f in model._meta.concrete_fields
            if f.is_relation and issubclass(f.related_model, TenantOwnedModel)
        ]  # fmt: skip
        with tenant_scope(self.b_obj.tenant_id):
            row = model.objects.filter(**lookup).first()
            assert row is not None, f"B got no {model.__name__} of its own for {lookup}"
            for relation in relations:
                target = getattr(row, relation.attname)
                found = relation.related_model.objects.filter(pk=target).exists()
                assert target is None or found, f"B's {relation.name} points at another tenant"

    def assert_not_listed(self, rows: list[dict]) -> None:
        """B's rows hold nothing of A's object (at a shared address: only B's own)."""
        at_a = [row for row in rows if self.identities([row]) == {self.identity(self.a_obj)}]
        if self.shared_address:
            assert all(row == representation(self.route, self.b_obj) for row in at_a), at_a
        else:
            assert at_a == [], f"B was shown A's {self.route.model.__name__}: {at_a}"

    def assert_not_in(self, response) -> None:
        """A's client-chosen id appears nowhere in an answer to B (internal ids are too short
        to search for, and a shared address is B's own)."""
        if self.identity_field != "id" and not self.shared_address:
            assert json.dumps(self.identity(self.a_obj)) not in response.content.decode()


@pytest.fixture
def world_for(tenant_a, tenant_b, client_for):
    """Builds the World for a route inside the test, so a missing factory fails the test."""

    def build(route: Route) -> World:
        factory = factory_for(route) if route.model is not None else None
        return World(
            route=route,
            tenant_a=tenant_a,
            a_obj=factory(tenant=tenant_a) if factory else None,
            b_obj=factory(tenant=tenant_b) if factory else None,
            as_a=client_for(tenant_a),
            as_b=client_for(tenant_b),
        )

    return build


def check_list(world: World, method: str):
    response = send(world.as_b, method, f"{world.route.url()}?page_size=1000")
    if method == "HEAD":
        assert response.status_code == 200 and not response.content
        return response
    rows = results(response)
    world.assert_not_listed(rows)
    assert world.identity(world.b_obj) in world.identities(rows), (
        "B's own object is missing from B's list: the comparison would prove nothing."
    )
    return response


def check_create(world: World, method: str):
    response = send(world.as_b, method, world.route.url(), tampered(world.route, world.a_obj))
    assert response.status_code < 500, response.content
    if world.route.view().lookup_field != "pk":
        # Client-chosen ids are unique per tenant: B may use the one A uses.
        assert response.status_code == 201, response.content
    return response


def check_list_action(world: World, method: str):
    body = [tampered(world.route, world.a_obj)] if method != "GET" else None
    response = send(world.as_b, method, world.route.url(), body)
    assert response.status_code < 500, response.content
    if method == "GET":
        world.assert_not_in(response)
    action = world.route.action(method)
    if getattr(getattr(world.route.cls, action, None), "url_path", action) == "bulk":
        # B's batch named A's ids: B gets rows of its own under those ids.
        assert response.status_code == 200, response.content
        shown = representation(world.route, world.a_obj)
        field = identity_field(world.route, shown, natural_first=True)
        world.assert_b_owns({field if field != "id" else "pk": str(shown[field])})
    return response


def check_detail(world: World, method: str):
    body = tampered(world.route, world.a_obj) if method in ("POST", "PUT", "PATCH") else None
    response = send(world.as_b, method, world.route.url(world.lookup), body)
    if world.route.effective("answers_any_address"):
        # B is answered about A's id exactly as about an id no tenant holds.
        fallback = send(world.as_b, method, world.route.url("held-by-no-tenant"), body)
        assert response.status_code == fallback.status_code == 200, response.content
        assert response.content == fallback.content
    elif world.shared_address:
        assert response.status_code < 500, response.content
        if method == "GET":
            assert response.json() == representation(world.route, world.b_obj)
    else:
        assert response.status_code == 404, response.content
    return response


def check_options(world: World, method: str):
    url = world.route.url(world.lookup) if world.route.detail else world.route.url()
    response = send(world.as_b, method, url)
    assert response.status_code == 200, response.content
    world.assert_not_in(response)
    return response


def check_without_model(world: World, method: str):
    """A view of no tenant-owned model (whoami): it answers B about B only."""
    response = send(world.as_b, method, world.route.url(), {} if method != "GET" else None)
    assert response.status_code < 500, response.content
    return response


def checker_for(route: Route, method: str):
    action = route.action(method)
    if route.model is None:
        return check_without_model
    if method == "OPTIONS":
        return check_options
    if route.detail:
        return check_detail
    if action == "list":
        return check_list
    if action == "create":
        return check_create
    return check_list_action


@pytest.mark.parametrize(("route", "method"), ROUTE_METHODS)
def test_tenant_b_cannot_reach_tenant_a(world_for, route, method):
    # given tenant A's object, and B's own of the same kind
    world = world_for(route)
    before = world.snapshot_a()

    # when B sends this request about A's object (its address, its ids)
    response = checker_for(route, method)(world, method)

    # then the answer never names tenant A, and A's object and rows are as they were
    assert world.tenant_a.slug not in response.content.decode()
    assert world.snapshot_a() == before


# --- list filters and search with A's values ------------------------------------------------

FILTER_LOOKUPS = {"exact", "iexact", "gte", "lte"}  # those A's own value satisfies


def list_filters(route: Route) -> dict[str, str]:
    """Query parameter -> path of A's attribute that satisfies it."""
    filterset = DjangoFilterBackend().get_filterset_class(
        route.view(), route.model._default_manager.none()
    )
    params = {
        name: f.field_name
        for name, f in (filterset.base_filters.items() if filterset else [])
        if f.lookup_expr in FILTER_LOOKUPS and not f.method
    }
    if route.effective("search_fields"):
        params["search"] = ""  # searched for A's identity
    return params


def query_value(world: World, path: str) -> str:
    if not path:
        return world.identity(world.a_obj)
    value = world.a_obj
    for part in path.split("__"):
        value = getattr(value, part)
    if isinstance(value, models.Model):
        value = value.pk
    if value is None:
        pytest.skip(f"A's object has no value at {path}; the filter cannot name it.")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, str | int | float | Decimal) else json.dumps(value)


FILTER_PARAMS = [
    pytest.param(route, name, path, id=f"{route.template}?{name}=<A's value>")
    for route in TENANT_ROUTES
    if dict(route.actions).get("get") == "list" and route.model is not None
    for name, path in list_filters(route).items()
]


@pytest.mark.parametrize(("route", "param", "path"), FILTER_PARAMS)
def test_list_filters_with_tenant_a_values_show_b_nothing_of_a(world_for, route, param, path):
    # given a filter value taken from A's object
    world = world_for(route)
    url = f"{route.url()}?{urlencode({'page_size': 1000, param: query_value(world, path)})}"

    # when A filters with it, A's object is found (so the value is the right one)
    assert world.identity(world.a_obj) in world.identities(results(world.as_a.get(url)))

    # then B filtering with the same value sees nothing of A
    world.assert_not_listed(results(world.as_b.get(url)))


# --- a failing request ends its tenant scope ------------------------------------------------


def test_a_request_failing_with_an_unexpected_error_leaves_no_tenant_in_scope(api_a, monkeypatch):
    # given a service that fails with an error no handler knows
    def explode(**kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("customers.services.customer_upsert_bulk", explode)
    blocks_before = len(connection.atomic_blocks)

    # when a request reaches it
    with pytest.raises(RuntimeError):
        api_a.post("/api/v1/customers/bulk/", [{"external_id": "c1"}], format="json")

    # then the request's tenant scope and transaction are closed all the same
    assert not has_tenant_scope()
    assert len(connection.atomic_blocks) == blocks_before
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_id', true)")
            assert cursor.fetchone()[0] in (None, "")
