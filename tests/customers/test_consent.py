"""The consent log: every grant and withdrawal appended with its source, behind the
customer's consent flag, whatever path changed it; the export shows it."""

from __future__ import annotations

import pytest

from campaigns.channels import unsubscribe_token
from campaigns.services import customer_unsubscribe
from customers.models import ConsentEvent, Customer
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def _log(tenant, external_id: str) -> list[tuple[bool, str]]:
    with tenant_scope(tenant):
        return list(
            ConsentEvent.objects.filter(customer__external_id=external_id)
            .order_by("occurred_at", "id")
            .values_list("granted", "source")
        )


def test_every_path_that_changes_consent_appends_to_the_log(tenant_a, api_a):
    # created opted in over the API
    api_a.post("/api/v1/customers/", {"external_id": "c1", "email": "c1@x.test",
                                       "email_opt_in": True}, format="json")  # fmt: skip
    # a PATCH of another field, and a bulk row repeating the same consent, log nothing
    api_a.patch("/api/v1/customers/c1/", {"attributes": {"tier": "gold"}}, format="json")
    api_a.post("/api/v1/customers/bulk/", [{"external_id": "c1", "email_opt_in": True}],
               format="json")  # fmt: skip
    # withdrawn in a bulk upsert, granted again by PATCH
    api_a.post("/api/v1/customers/bulk/", [{"external_id": "c1", "email_opt_in": False}],
               format="json")  # fmt: skip
    api_a.patch("/api/v1/customers/c1/", {"email_opt_in": True}, format="json")
    # withdrawn from an email's unsubscribe link
    with tenant_scope(tenant_a):
        pk = Customer.objects.get(external_id="c1").pk
    customer_unsubscribe(token=unsubscribe_token(tenant_a.pk, pk))

    assert _log(tenant_a, "c1") == [
        (True, "api"), (False, "bulk"), (True, "api"), (False, "unsubscribe link"),
    ]  # fmt: skip
    with tenant_scope(tenant_a):
        assert Customer.objects.get(pk=pk).email_opt_in is False  # the flag is the last event
    exported = api_a.get("/api/v1/customers/c1/export/").json()["consent_log"]
    assert [(e["granted"], e["source"]) for e in exported] == _log(tenant_a, "c1")


def test_erasure_removes_the_customers_consent_log(tenant_a, api_a):
    api_a.post("/api/v1/customers/", {"external_id": "c2", "email_opt_in": True}, format="json")
    assert api_a.delete("/api/v1/customers/c2/?erase=true").status_code == 204
    with tenant_scope(tenant_a):
        assert not ConsentEvent.objects.exists()
