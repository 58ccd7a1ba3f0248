"""The audit log: who (a user or an API key) did what to which object, per tenant, for
writes over the API and in the admin, erasures, exports, keys, model activations and
campaign launches; read-only and scoped in the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.services import campaign_launch
from tenants.context import tenant_scope
from tenants.models import ApiKey, AuditEvent
from tenants.services import api_key_create, api_key_revoke
from tests.factories import CampaignFactory, CustomerFactory, ModelVersionFactory, member_of
from training.services import model_version_activate

pytestmark = pytest.mark.django_db


def _events(tenant) -> list[tuple[str, str, str, str]]:
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.order_by("id").values_list(
                "actor", "action", "object_type", "object_ref"
            )  # fmt: skip
        )


def _key_actor(tenant) -> str:
    with tenant_scope(tenant):
        return f"api key:{ApiKey.objects.order_by('-id').first().prefix}"


def test_api_writes_erasure_and_export_are_logged_by_key_and_failures_are_not(tenant_a, api_a):
    actor = _key_actor(tenant_a)
    api_a.post("/api/v1/customers/", {"external_id": "c1", "email_opt_in": True}, format="json")
    api_a.patch("/api/v1/customers/c1/", {"email": "c1@x.test"}, format="json")
    bad = api_a.post("/api/v1/customers/", {"external_id": ""}, format="json")
    assert bad.status_code == 400
    api_a.get("/api/v1/customers/c1/export/")
    api_a.delete("/api/v1/customers/c1/?erase=true")
    events = [e for e in _events(tenant_a) if e[0] == actor]
    assert [(action, kind, ref) for _, action, kind, ref in events][:3] == [
        ("create", "Customer", ""), ("partial_update", "Customer", "c1"),
        ("customer exported", "Customer", "c1"),
    ]  # fmt: skip
    assert {"customer erased", "destroy"} <= {action for _, action, _, _ in events}


def test_admin_changes_keys_activations_and_launches_are_logged(tenant_a, tenant_b):
    user = member_of(tenant_a, role="owner")
    customer = CustomerFactory(tenant=tenant_a, external_id="c9")
    client = Client()
    client.force_login(user)
    response = client.post(f"/admin/customers/customer/{customer.pk}/change/", {
        "external_id": "c9", "email": "new@x.test", "email_opt_in": "on", "attributes": "{}",
    })  # fmt: skip
    assert response.status_code == 302, response.content[:500]
    created = api_key_create(tenant=tenant_a, name="ci", scopes=["read"])
    api_key_revoke(api_key=created.api_key)
    version = ModelVersionFactory(tenant=tenant_a, kind="popularity")
    model_version_activate(tenant=tenant_a, version=version)
    campaign_launch(tenant=tenant_a, campaign=CampaignFactory(tenant=tenant_a))
    actions = [(actor, action) for actor, action, _, _ in _events(tenant_a)]
    assert (f"user:{user.get_username()}", "admin change") in actions
    for action in ("api key created", "api key revoked", "model activated", "campaign launched"):
        assert ("system", action) in actions
    # and the admin shows A's events to A's members only, with no way to change them
    other = member_of(tenant_b, role="owner")
    listing = Client()
    listing.force_login(other)
    page = listing.get("/admin/tenants/auditevent/")
    assert page.status_code == 200 and b"api key revoked" not in page.content
    mine = client.get("/admin/tenants/auditevent/")
    assert b"api key revoked" in mine.content
    assert client.get("/admin/tenants/auditevent/add/").status_code == 403
