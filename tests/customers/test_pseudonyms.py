"""Pseudonymised identifiers: a tenant that opts in stores customer ids and emails only as
keyed hashes, while every route still takes the client's own ids."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from customers.ingest.files import import_file
from customers.models import Customer, Interaction
from customers.services import customers_pseudonymise
from tenants.context import tenant_scope
from tenants.models import AuditEvent
from tenants.pseudonyms import pseudonym
from tests.factories import CampaignFactory, TenantFactory, member_of
from training import services as training
from training.registry import registered_kinds
from training.selectors import model_cache

CUSTOMERS = [
    {"external_id": "alice-01", "email": "Alice@Example.com", "email_opt_in": True},
    {"external_id": "bob-02", "email": "bob@example.com"},
]
EVENTS = [
    {"event_id": "e1", "customer": "alice-01", "product": "p1", "kind": "purchase",
     "occurred_at": "2026-11-01T10:00:00Z"},
    {"event_id": "e2", "customer": "bob-02", "product": "p1", "kind": "view",
     "occurred_at": "2026-11-01T11:00:00Z"},
]  # fmt: skip


@pytest.fixture
def private(db):
    return TenantFactory(slug="private", pseudonymise_customers=True)


@pytest.fixture
def private_api(private, client_for):
    api = client_for(private)
    assert api.post("/api/v1/customers/bulk/", CUSTOMERS, format="json").status_code == 200
    assert api.post("/api/v1/interactions/bulk/", EVENTS, format="json").status_code == 200
    return api


def _stored(tenant) -> list[tuple[str, str]]:
    with tenant_scope(tenant):
        return sorted(Customer.objects.values_list("external_id", "email"))


def test_the_database_holds_no_client_id_or_email(private, private_api):
    stored = _stored(private)
    assert stored == sorted([
        (pseudonym(private.pk, "alice-01"), pseudonym(private.pk, "alice@example.com", kind="email")),
        (pseudonym(private.pk, "bob-02"), pseudonym(private.pk, "bob@example.com", kind="email")),
    ])  # fmt: skip
    dump = repr(stored).lower()
    assert "alice" not in dump and "bob" not in dump and "example.com" not in dump
    with tenant_scope(private):
        # the events went to the same (pseudonymised) customers: no raw-id twins were made
        assert Customer.objects.count() == 2
        assert Interaction.objects.filter(customer__external_id=stored[0][0]).count() == 1


def test_every_lookup_still_works_from_the_clients_ids(private_api):
    detail = private_api.get("/api/v1/customers/alice-01/")
    assert detail.status_code == 200
    assert detail.json()["email_opt_in"] is True
    assert private_api.patch("/api/v1/customers/bob-02/", {"email_opt_in": True},
                             format="json").status_code == 200  # fmt: skip
    assert private_api.get("/api/v1/customers/alice-01/export/").status_code == 200
    assert private_api.get("/api/v1/customers/alice-01/recommendations/").status_code == 200
    events = private_api.get("/api/v1/interactions/?customer=alice-01").json()["results"]
    assert [event["event_id"] for event in events] == ["e1"]
    by_email = private_api.get("/api/v1/customers/?email=ALICE@example.com").json()["results"]
    assert len(by_email) == 1
    by_search = private_api.get("/api/v1/customers/?search=bob-02").json()["results"]
    assert len(by_search) == 1
    assert private_api.get("/api/v1/customers/carol/").status_code == 404
    # creating an id the tenant already holds is still a conflict
    again = private_api.post("/api/v1/customers/", {"external_id": "alice-01"}, format="json")
    assert again.status_code == 409
    assert "alice-01" not in again.json()["detail"]


def test_the_key_is_per_tenant_and_outside_the_database(private, db):
    other = TenantFactory(slug="other-private", pseudonymise_customers=True)
    assert pseudonym(private.pk, "alice-01") != pseudonym(other.pk, "alice-01")
    before = pseudonym(private.pk, "alice-01")
    with override_settings(PSEUDONYM_SECRET="another secret"):
        # nothing in the database can reproduce a pseudonym without the secret
        assert pseudonym(private.pk, "alice-01") != before


def test_an_email_campaign_is_refused_a_webhook_one_is_not_blocked_by_it(private, private_api):
    campaign = CampaignFactory(tenant=private)
    response = private_api.post(f"/api/v1/campaigns/{campaign.pk}/launch/")
    assert response.status_code == 409
    assert "pseudonym" in response.json()["detail"]


def test_turning_it_on_converts_what_is_stored_and_lookups_keep_working(client_for, db):
    tenant = TenantFactory(slug="converting")
    api = client_for(tenant)
    api.post("/api/v1/customers/bulk/", CUSTOMERS, format="json")
    api.patch("/api/v1/customers/alice-01/", {"email_opt_in": False}, format="json")
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(object_ref="alice-01").exists()

    call_command("pseudonymise_tenant", "converting", "--yes", verbosity=0)

    tenant.refresh_from_db()
    stored = repr(_stored(tenant)).lower()
    assert "alice" not in stored and "example.com" not in stored
    with tenant_scope(tenant):
        assert not AuditEvent.objects.filter(object_ref="alice-01").exists()
        assert AuditEvent.objects.filter(action="pseudonymise customers").exists()
    assert api.get("/api/v1/customers/alice-01/").status_code == 200
    assert api.post("/api/v1/interactions/bulk/", EVENTS, format="json").json()[
        "customers_created"] == 0  # fmt: skip
    assert customers_pseudonymise(tenant=tenant) == 0  # once only


def test_training_never_reads_emails(artifact_root, db):
    """Every kind trains on the demo shop; no query of any of them reads the email column,
    and no artifact holds an address."""
    tenant = TenantFactory(slug="trainer")
    call_command("load_demo_data", "trainer", customers=300, products=60, days=150, seed=3,
                 verbosity=0)  # fmt: skip
    with tenant_scope(tenant):
        emails = [e for e in Customer.objects.values_list("email", flat=True) if e]
    assert emails
    model_cache.clear()
    fast = {"recommender": {"time_budget": 10, "families": ["popularity", "itemknn"]}}
    with CaptureQueriesContext(connection) as queries:
        runs = [training.training_run_train_now(tenant=tenant, kind=kind, parameters=fast.get(kind))
                for kind in registered_kinds()]  # fmt: skip
    assert {run.kind: run.status for run in runs} == dict.fromkeys(registered_kinds(), "succeeded")
    reads = [q["sql"] for q in queries.captured_queries if re.search(r"\bemail\b", q["sql"])]
    assert not reads, reads[:3]
    held = b"".join(path.read_bytes() for path in artifact_root.rglob("*") if path.is_file())
    assert held, "the runs stored artifacts"
    assert not [email for email in emails if email.encode() in held]


def test_file_imports_store_pseudonyms_too(private, private_api, tmp_path):
    """Customers and interactions from files (COPY on PostgreSQL) meet the API's customers."""
    customers = tmp_path / "customers.csv"
    customers.write_text("external_id,email\ncarol-03,carol@example.com\n")
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,customer,product,kind,occurred_at\n"
        "f1,alice-01,p1,view,2026-11-02T10:00:00Z\nf2,carol-03,p1,view,2026-11-02T10:00:00Z\n"
    )
    import_file(tenant=private, path=customers, kind="customers", progress=False)
    report = import_file(tenant=private, path=events, kind="interactions", progress=False)
    assert (report.created, report.customers_created) == (2, 0)
    stored = repr(_stored(private)).lower()
    assert "carol" not in stored and "alice" not in stored
    assert len(private_api.get("/api/v1/interactions/?customer=carol-03").json()["results"]) == 1


def test_the_admin_finds_a_customer_by_the_clients_id_and_shows_the_email_read_only(
    client, private, private_api
):
    client.force_login(member_of(private, "owner"))
    page = client.get("/admin/customers/customer/", {"q": "alice-01"})
    assert page.status_code == 200
    assert pseudonym(private.pk, "alice-01").encode() in page.content
    assert pseudonym(private.pk, "bob-02").encode() not in page.content
    with tenant_scope(private):
        alice = Customer.objects.get(external_id=pseudonym(private.pk, "alice-01"))
    form = client.get(f"/admin/customers/customer/{alice.pk}/change/")
    assert b'name="email"' not in form.content  # a pseudonym, shown but not editable
