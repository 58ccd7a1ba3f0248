"""Test set-up. On PostgreSQL the test database is created and migrated by the owner role,
then every test connects as the application role, so row-level security is enforced."""

from __future__ import annotations

import os

import dj_database_url
import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient

from tests.factories import TenantFactory, api_key_for
from tests.worker import start_worker  # noqa: F401  (the real-worker fixture, for any test)

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _use_role(url: str) -> None:
    parsed = dj_database_url.parse(url)
    connection = connections["default"]
    connection.close()
    for key in ("USER", "PASSWORD"):
        connection.settings_dict[key] = parsed[key]
        settings.DATABASES["default"][key] = parsed[key]


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    owner_url = os.environ.get("DATABASE_OWNER_URL")
    if ON_POSTGRES and owner_url:
        _use_role(owner_url)  # migrations run as the table owner


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    owner_url = os.environ.get("DATABASE_OWNER_URL")
    if not (ON_POSTGRES and owner_url):
        yield
        return
    app_role = settings.DATABASE_APP_ROLE
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        # Test teardown only: transactional tests empty tables with TRUNCATE.
        cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{app_role}"')
    _use_role(os.environ["DATABASE_URL"])
    yield
    _use_role(owner_url)


@pytest.fixture(autouse=True)
def _rate_limits_off(settings):
    """Tests call the API far faster than any client may (hypothesis posts dozens of bulk
    batches a second with one key): rate limits are off unless a test turns them on
    (tests/tenants/test_throttle.py)."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates),
    }


@pytest.fixture
def artifact_root(tmp_path, settings):
    """Model artifacts of the test go to its own folder."""
    root = tmp_path / "artifacts"
    settings.ARTIFACT_ROOT = root
    return root


@pytest.fixture
def tenant_a(db):
    return TenantFactory(slug="tenant-a")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(slug="tenant-b")


def _client_for(tenant, scopes=("read", "write", "admin")) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant, scopes=list(scopes))}")
    return client


@pytest.fixture
def client_for():
    return _client_for


@pytest.fixture
def api_a(tenant_a) -> APIClient:
    return _client_for(tenant_a)


@pytest.fixture
def api_b(tenant_b) -> APIClient:
    return _client_for(tenant_b)
