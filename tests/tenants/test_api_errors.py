"""Every error answer has the same {detail, code} body, whatever raised it."""

from __future__ import annotations

import pytest

from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_a_missing_key_is_a_401_with_the_common_body(client):
    response = client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["detail"]


@pytest.mark.django_db
def test_a_read_only_key_writing_is_a_403_with_the_common_body(client_for, tenant_a):
    reader = client_for(tenant_a, scopes=("read",))
    response = reader.post("/api/v1/customers/", {"external_id": "c1"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "scope" in response.json()["detail"]


@pytest.mark.django_db
def test_an_unknown_row_is_a_404_with_the_common_body(api_a):
    response = api_a.get("/api/v1/customers/nobody/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_a_mangled_cursor_is_a_400_and_a_real_one_pages_on(api_a, tenant_a):
    for number in range(3):
        CustomerFactory(tenant=tenant_a, external_id=f"c{number}")
    first = api_a.get("/api/v1/customers/?page_size=2").json()
    assert [row["external_id"] for row in first["results"]] == ["c0", "c1"]
    second = api_a.get(first["next"]).json()
    assert [row["external_id"] for row in second["results"]] == ["c2"]

    response = api_a.get("/api/v1/customers/?cursor=not-a-cursor")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "cursor" in response.json()["detail"]
