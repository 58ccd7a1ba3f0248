"""The committed OpenAPI schema (openapi.yaml) is the one the code generates."""

from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_schema_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(generated))
    committed = (ROOT / "openapi.yaml").read_text()
    assert generated.read_text() == committed, "openapi.yaml is stale: run `make schema`"


def test_the_schema_is_served_and_documents_the_key(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"bearer" in response.content.lower()
