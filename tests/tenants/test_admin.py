"""The admin keeps each staff member inside their tenants and lets owners manage API keys.

Every test signs in with the Django test client, as a person would, and checks what the
pages show, what a POST changes, and what the API answers afterwards.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from customers.models import Customer, Interaction
from tenants.context import tenant_scope
from tenants.models import ApiKey, Membership, Tenant
from tenants.services import membership_set
from tests.factories import (
    CustomerFactory,
    InteractionFactory,
    ProductFactory,
    TenantFactory,
    UserFactory,
    api_key_for,
    member_of,
)

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"mip_[0-9a-f]+_[A-Za-z0-9-]+")
# What identifies each tenant's row on a page; "{}" is the tenant's letter.
MARKERS = {"customer": "shopper-{}", "product": "sku-{}", "interaction": "evt-{}"}


@pytest.fixture
def rows(tenant_a: Tenant, tenant_b: Tenant) -> dict[str, dict]:
    """One customer, product and interaction in each tenant, named after it."""
    made = {}
    for tenant, tag in ((tenant_a, "a"), (tenant_b, "b")):
        customer = CustomerFactory(
            tenant=tenant, external_id=f"shopper-{tag}", email=f"shopper@{tag}.example"
        )
        product = ProductFactory(tenant=tenant, external_id=f"sku-{tag}", title=f"sku-{tag}")
        interaction = InteractionFactory(
            tenant=tenant, customer=customer, product=product, event_id=f"evt-{tag}"
        )
        made[tag] = {"customer": customer, "product": product, "interaction": interaction}
    return made


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tenant_choices(html: str) -> set[int]:
    """The tenant ids an add form offers: a <select>, or one preset hidden input."""
    hidden = re.search(r'<input type="hidden" name="tenant" value="(\d+)"', html)
    if hidden:
        return {int(hidden.group(1))}
    select = re.search(r'<select name="tenant".*?</select>', html, re.S)
    assert select, "the add form has no tenant field"
    return {int(v) for v in re.findall(r'<option value="(\d+)"', select.group(0))}


# --- isolation between tenants ---------------------------------------------------------


def test_a_visitor_not_signed_in_is_sent_to_a_working_login_page(rows):
    # Given nobody signed in
    # When they open an admin list
    page = Client().get("/admin/customers/customer/", follow=True)
    # Then they land on the login form, and no row is shown
    assert page.redirect_chain[-1][0].startswith("/admin/login/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert "shopper-a" not in page.content.decode()


@pytest.mark.parametrize("model", ["customer", "product", "interaction"])
def test_staff_member_sees_only_their_tenants_rows(rows, tenant_a, model):
    # Given an analyst of tenant A
    client = signed_in(member_of(tenant_a, "analyst"))
    # When they open the list page
    page = client.get(f"/admin/customers/{model}/")
    # Then A's row is listed and B's is not
    assert page.status_code == 200
    assert MARKERS[model].format("a") in page.content.decode()
    assert MARKERS[model].format("b") not in page.content.decode()


@pytest.mark.parametrize("model", ["customer", "product", "interaction"])
def test_another_tenants_change_page_is_not_shown(rows, tenant_a, model):
    # Given an owner of tenant A
    client = signed_in(member_of(tenant_a, "owner"))
    # When they open the change page of B's row by its id
    page = client.get(f"/admin/customers/{model}/{rows['b'][model].pk}/change/", follow=True)
    # Then the admin sends them home saying there is no such row, and shows none of it
    assert page.redirect_chain == [("/admin/", 302)]
    assert "doesn’t exist" in page.content.decode()
    assert MARKERS[model].format("b") not in page.content.decode()


def test_a_change_posted_to_another_tenants_customer_changes_nothing(rows, tenant_a, tenant_b):
    # Given an owner of tenant A and B's customer
    client = signed_in(member_of(tenant_a, "owner"))
    other = rows["b"]["customer"]
    # When they post a change, then a deletion, to B's customer
    change = client.post(
        f"/admin/customers/customer/{other.pk}/change/",
        {"email": "stolen@a.example", "email_opt_in": "on", "attributes": "{}"},
    )
    delete = client.post(f"/admin/customers/customer/{other.pk}/delete/", {"post": "yes"})
    # Then both are turned away and B's customer is untouched
    assert (change.status_code, change["Location"]) == (302, "/admin/")
    assert (delete.status_code, delete["Location"]) == (302, "/admin/")
    with tenant_scope(tenant_b):
        other.refresh_from_db()
    assert other.email == "shopper@b.example"


def test_add_form_presets_the_only_tenant_of_a_single_tenant_member(tenant_a, tenant_b):
    # Given an analyst of tenant A only
    client = signed_in(member_of(tenant_a, "analyst"))
    # When they open the add forms
    for url in ("/admin/customers/customer/add/", "/admin/customers/product/add/"):
        page = client.get(url)
        # Then the tenant is A, preset, and B is not offered
        assert tenant_choices(page.content.decode()) == {tenant_a.pk}


def test_add_form_offers_only_tenants_the_user_may_write_to(tenant_a, tenant_b):
    # Given a user who is analyst in A and C, viewer in D, and nothing in B
    tenant_c, tenant_d = TenantFactory(slug="tenant-c"), TenantFactory(slug="tenant-d")
    user = member_of(tenant_a, "analyst")
    membership_set(tenant=tenant_c, user=user, role="analyst")
    membership_set(tenant=tenant_d, user=user, role="viewer")
    # When they open the customer add form
    page = signed_in(user).get("/admin/customers/customer/add/")
    # Then they may choose A or C only
    assert tenant_choices(page.content.decode()) == {tenant_a.pk, tenant_c.pk}


def test_adding_a_row_to_another_tenant_is_refused_with_a_clear_error(tenant_a, tenant_b):
    # Given an analyst of tenant A
    client = signed_in(member_of(tenant_a, "analyst"))
    # When they post an add form naming tenant B (as a tampered form would)
    page = client.post(
        "/admin/customers/customer/add/",
        {"tenant": tenant_b.pk, "external_id": "sneaky", "email": "", "attributes": "{}"},
    )
    # Then the form comes back with an error and nothing was stored anywhere
    assert page.status_code == 200
    assert "Choose one of your own tenants" in page.content.decode()
    with tenant_scope(tenants=[tenant_a, tenant_b]):
        assert not Customer.objects.filter(external_id="sneaky").exists()


def test_analyst_adds_and_changes_a_customer_of_their_tenant(tenant_a):
    # Given an analyst of tenant A
    client = signed_in(member_of(tenant_a, "analyst"))
    # When they add a customer, then change its email
    added = client.post(
        "/admin/customers/customer/add/",
        {"tenant": tenant_a.pk, "external_id": "new-1", "email": "n@a.example", "attributes": "{}"},
    )
    assert added.status_code == 302, added.content.decode()
    with tenant_scope(tenant_a):
        customer = Customer.objects.get(external_id="new-1")
    changed = client.post(
        f"/admin/customers/customer/{customer.pk}/change/",
        {"email": "renamed@a.example", "email_opt_in": "on", "attributes": "{}"},
    )
    # Then the customer is stored in A with the new email
    assert changed.status_code == 302, changed.content.decode()
    with tenant_scope(tenant_a):
        customer.refresh_from_db()
    assert (customer.tenant_id, customer.email, customer.email_opt_in) == (
        tenant_a.pk,
        "renamed@a.example",
        True,
    )


def test_viewer_can_look_but_not_change(rows, tenant_a):
    # Given a viewer of tenant A
    client = signed_in(member_of(tenant_a, "viewer"))
    customer = rows["a"]["customer"]
    url = f"/admin/customers/customer/{customer.pk}/change/"
    # When they open A's customer, post a change to it, and open the add form
    page = client.get(url)
    change = client.post(url, {"email": "x@a.example", "attributes": "{}"})
    add = client.get("/admin/customers/customer/add/")
    # Then they see it without a save button, and both writes are forbidden
    assert page.status_code == 200
    assert "shopper@a.example" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert (change.status_code, add.status_code) == (403, 403)
    with tenant_scope(tenant_a):
        customer.refresh_from_db()
    assert customer.email == "shopper@a.example"


def test_superuser_sees_every_tenant_with_a_tenant_filter(rows, tenant_a, tenant_b):
    # Given a superuser
    client = signed_in(UserFactory(is_superuser=True))
    # When they open the customer list and B's customer
    page = client.get("/admin/customers/customer/").content.decode()
    detail = client.get(f"/admin/customers/customer/{rows['b']['customer'].pk}/change/")
    # Then both tenants' customers are listed, filterable by tenant, and B's page opens
    assert "shopper-a" in page and "shopper-b" in page
    assert f"?tenant={tenant_a.pk}" in page and f"?tenant={tenant_b.pk}" in page
    assert detail.status_code == 200
    only_b = client.get(f"/admin/customers/customer/?tenant={tenant_b.pk}").content.decode()
    assert "shopper-b" in only_b and "shopper-a" not in only_b


# --- customers and interactions pages ---------------------------------------------------


def test_customer_page_shows_the_rfm_summary(rows, tenant_a):
    # Given A's customer with one purchase of 25.0
    client = signed_in(member_of(tenant_a, "viewer"))
    # When an A member opens the customer
    page = client.get(f"/admin/customers/customer/{rows['a']['customer'].pk}/change/")
    # Then the page shows recency, frequency and monetary value
    html = page.content.decode()
    assert "RFM summary" in html
    assert "<th>Frequency (purchases)</th><td>1</td>" in html
    assert "<th>Monetary (purchase value)</th><td>25.0</td>" in html


def test_interactions_are_read_only(rows, tenant_a):
    # Given an owner of tenant A
    client = signed_in(member_of(tenant_a, "owner"))
    # When they open an interaction and the add form
    page = client.get(f"/admin/customers/interaction/{rows['a']['interaction'].pk}/change/")
    add = client.get("/admin/customers/interaction/add/")
    # Then the interaction is shown without a save button and cannot be added by hand
    assert page.status_code == 200 and "evt-a" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert add.status_code == 403


def test_interaction_list_costs_the_same_queries_for_many_rows(tenant_a):
    # Given a tenant with a few interactions, then with many more
    client = signed_in(member_of(tenant_a, "analyst"))

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/customers/interaction/").status_code == 200
        return len(queries)

    InteractionFactory.create_batch(2, tenant=tenant_a)
    few = queries_for_list()
    InteractionFactory.create_batch(30, tenant=tenant_a)
    # When the list is shown again, then it needs no extra query per row
    assert queries_for_list() == few


def test_a_form_refuses_a_relation_to_another_tenants_row(tenant_a):
    # Given a user of tenants A and C, and C's customer
    tenant_c = TenantFactory(slug="tenant-c")
    user = member_of(tenant_a, "analyst")
    membership_set(tenant=tenant_c, user=user, role="analyst")
    customer_c = CustomerFactory(tenant=tenant_c)
    request = RequestFactory().get("/admin/")
    request.user, request.tenant_ids = user, [tenant_a.pk, tenant_c.pk]
    # When an interaction form for tenant A names C's customer
    with tenant_scope(tenants=request.tenant_ids):
        form_class = admin.site.get_model_admin(Interaction).get_form(request)
        form = form_class(
            data={
                **{"tenant": tenant_a.pk, "event_id": "e", "customer": customer_c.pk},
                **{"kind": "view", "occurred_at_0": "2026-01-01", "occurred_at_1": "10:00"},
            }
        )
        # Then the form points at the customer field
        assert not form.is_valid()
    assert form.errors["customer"] == ["This belongs to another tenant."]


# --- tenants and memberships ------------------------------------------------------------


def test_staff_see_their_tenant_and_only_owners_edit_it(tenant_a, tenant_b):
    # Given a viewer and an owner of tenant A
    viewer = signed_in(member_of(tenant_a, "viewer"))
    owner = signed_in(member_of(tenant_a, "owner"))
    url = f"/admin/tenants/tenant/{tenant_a.pk}/change/"
    # When each looks at the tenants and tries to rename A
    listing = viewer.get("/admin/tenants/tenant/").content.decode()
    refused = viewer.post(url, {"name": "By viewer", "settings": "{}"})
    renamed = owner.post(url, {"name": "By owner", "settings": "{}"})
    # Then only A is listed, the viewer is refused and the owner's rename is kept
    assert "tenant-a" in listing and "tenant-b" not in listing
    assert viewer.get(f"/admin/tenants/tenant/{tenant_b.pk}/change/").status_code == 302
    assert (refused.status_code, renamed.status_code) == (403, 302)
    tenant_a.refresh_from_db()
    assert tenant_a.name == "By owner"


def test_owner_adds_a_member_by_username_and_analyst_cannot(tenant_a):
    # Given an owner and an analyst of tenant A, and an account without membership
    owner = signed_in(member_of(tenant_a, "owner"))
    analyst = signed_in(member_of(tenant_a, "analyst"))
    newcomer = UserFactory(username="newcomer")
    # When the owner adds the newcomer as a viewer, and the analyst opens the add form
    added = owner.post(
        "/admin/tenants/membership/add/",
        {"tenant": tenant_a.pk, "user": "newcomer", "role": "viewer"},
    )
    # Then the newcomer is a viewer of A, and the analyst may not add members
    assert added.status_code == 302, added.content.decode()
    assert Membership.objects.get(user=newcomer).role == "viewer"
    assert analyst.get("/admin/tenants/membership/add/").status_code == 403


def test_the_last_owner_cannot_step_down(tenant_a):
    # Given the only owner of tenant A
    user = member_of(tenant_a, "owner")
    membership = Membership.objects.get(user=user)
    # When they try to make themselves a viewer
    page = signed_in(user).post(
        f"/admin/tenants/membership/{membership.pk}/change/", {"role": "viewer"}
    )
    # Then the form says a tenant needs an owner, and they stay owner
    assert page.status_code == 200
    assert "A tenant needs an owner" in page.content.decode()
    membership.refresh_from_db()
    assert membership.role == "owner"


# --- API keys ------------------------------------------------------------------------------


def create_key_in_admin(client: Client, tenant: Tenant, name: str) -> tuple[str, str]:
    """Post the add form as an owner would; returns (the page's HTML, the raw key on it)."""
    page = client.post(
        "/admin/tenants/apikey/add/",
        {"tenant": tenant.pk, "name": name, "scopes": ["read", "write"]},
    )
    assert page.status_code == 200, page.content.decode()
    html = page.content.decode()
    keys = RAW_KEY.findall(html)
    assert len(keys) == 1, "the new key is shown exactly once on the page"
    return html, keys[0]


def api_status(raw_key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api.get("/api/v1/customers/").status_code


def test_owner_creates_an_api_key_and_sees_it_exactly_once(tenant_a):
    # Given an owner of tenant A
    client = signed_in(member_of(tenant_a, "owner"))
    assert client.get("/admin/tenants/apikey/add/").status_code == 200
    # When they create a key
    html, raw_key = create_key_in_admin(client, tenant_a, "warehouse sync")
    # Then the page warns it is shown once, and the key works against the API
    assert "shown only this once" in html
    assert api_status(raw_key) == 200
    # And later pages show its prefix but never the key itself
    with tenant_scope(tenant_a):
        api_key = ApiKey.objects.get(name="warehouse sync")
    for url in ("/admin/tenants/apikey/", f"/admin/tenants/apikey/{api_key.pk}/change/"):
        later = client.get(url).content.decode()
        assert api_key.prefix in later
        assert raw_key not in later and not RAW_KEY.search(later)
    # And only a hash of it is stored
    assert raw_key.split("_")[2] not in (api_key.hashed_secret, api_key.prefix, api_key.name)


def test_revoking_a_key_in_the_admin_locks_it_out_of_the_api(tenant_a):
    # Given an owner of tenant A and a working key created in the admin
    client = signed_in(member_of(tenant_a, "owner"))
    _, raw_key = create_key_in_admin(client, tenant_a, "old integration")
    assert api_status(raw_key) == 200
    with tenant_scope(tenant_a):
        api_key = ApiKey.objects.get(name="old integration")
    # When they revoke it from the key list
    page = client.post(
        "/admin/tenants/apikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk], "index": 0},
        follow=True,
    )
    # Then the admin confirms and the API answers 401
    assert "Revoked 1 API key(s)" in page.content.decode()
    assert api_status(raw_key) == 401


def test_only_owners_create_or_revoke_keys(tenant_a):
    # Given an analyst of tenant A and one of A's keys
    client = signed_in(member_of(tenant_a, "analyst"))
    raw_key = api_key_for(tenant_a)
    with tenant_scope(tenant_a):
        api_key = ApiKey.objects.get()
    # When the analyst opens the add form and tries the revoke action
    add = client.get("/admin/tenants/apikey/add/")
    listing = client.get("/admin/tenants/apikey/").content.decode()
    client.post(
        "/admin/tenants/apikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk], "index": 0},
    )
    # Then adding is forbidden, no revoke action is offered, and the key still works
    assert add.status_code == 403
    assert api_key.prefix in listing and "revoke_keys" not in listing
    assert api_status(raw_key) == 200
