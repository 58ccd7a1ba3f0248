"""Row-level security on PostgreSQL, applied after every migrate to every tenant-owned table.

Applying it from the model registry (rather than one migration per table) means a
new tenant-owned model is protected without anyone remembering to add a policy;
tests assert that every such table has RLS enabled and forced.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

POLICY_NAME = "tenant_isolation"
TENANT_CONDITION = (
    "tenant_id = ANY (string_to_array(NULLIF(current_setting('app.tenant_id', true), ''), ',')"
    "::bigint[])"
)


def tenant_owned_models() -> list[type]:
    from tenants.models import TenantOwnedModel

    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and not model._meta.proxy
    ]


def rls_statements(model: type, app_role: str) -> list[str]:
    table = model._meta.db_table
    using = TENANT_CONDITION
    if model.rls_extra_condition:
        using = f"({TENANT_CONDITION}) OR ({model.rls_extra_condition})"
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"',
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({using}) WITH CHECK ({TENANT_CONDITION})',
    ]


KEY_LOOKUP_FUNCTION = "tenants_api_key_by_prefix"


def key_lookup_statement() -> str:
    """The API key lookup in one round trip: the prefix is set (transaction-locally) for
    the key table's policy, the key row of an active tenant read, and the prefix cleared,
    all inside one statement. It runs as the caller (SECURITY INVOKER), so row-level
    security applies exactly as to a plain query."""
    return f"""
        CREATE OR REPLACE FUNCTION {KEY_LOOKUP_FUNCTION}(key_prefix text)
        RETURNS SETOF tenants_apikey LANGUAGE plpgsql SECURITY INVOKER AS $$
        BEGIN
            PERFORM set_config('app.key_prefix', key_prefix, true);
            RETURN QUERY
                SELECT k.* FROM tenants_apikey AS k
                JOIN tenants_tenant AS t ON t.id = k.tenant_id
                WHERE k.prefix = key_prefix AND k.revoked_at IS NULL AND t.is_active;
            PERFORM set_config('app.key_prefix', '', true);
        END $$
    """


def grant_statements(app_role: str) -> list[str]:
    # The application role reads and writes rows; it owns nothing and cannot change schema.
    return [
        f'GRANT USAGE ON SCHEMA public TO "{app_role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app_role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{app_role}"',
    ]


def _role_exists(cursor, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def apply_row_level_security(using: str = "default", **kwargs) -> None:
    """post_migrate handler; idempotent."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    app_role = settings.DATABASE_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (current_user,) = cursor.fetchone()
        cursor.execute("SELECT tablename FROM pg_tables WHERE tableowner = current_user")
        owned = {row[0] for row in cursor.fetchall()}
        # Only the owner can change a table; the app role (e.g. flushing tests) skips.
        for model in tenant_owned_models():
            if model._meta.db_table in owned:
                for statement in rls_statements(model, app_role):
                    cursor.execute(statement)
        if "tenants_apikey" in owned:
            cursor.execute(key_lookup_statement())
        if app_role != current_user and _role_exists(cursor, app_role):
            for statement in grant_statements(app_role):
                cursor.execute(statement)
        elif app_role != current_user:
            logger.warning("Application role %s does not exist; no grants made.", app_role)
