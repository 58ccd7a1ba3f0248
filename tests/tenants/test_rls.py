"""The database refuses cross-tenant access on its own, and the ORM fails closed.

On PostgreSQL the tests connect as the application role (see tests/conftest.py), so raw
SQL is subject to row-level security exactly as the running application is. pytest-django
wraps each test in a transaction, and `app.tenant_id` is set transaction-locally, so each
test sets and resets it inside that one transaction (tenant_scope does both).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.apps import apps
from django.conf import settings
from django.db import ProgrammingError, connection, transaction

from tenants.context import TenantScopeError, tenant_scope
from tenants.models import ApiKey, Membership, TenantOwnedModel
from tenants.rls import POLICY_NAME, tenant_owned_models
from tests.factories import FACTORIES, api_key_for

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
TENANT_OWNED = tenant_owned_models()
by_table = pytest.mark.parametrize("model", TENANT_OWNED, ids=lambda m: m._meta.db_table)


# --- helpers -------------------------------------------------------------------------------


def sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall() if cursor.description else []


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def raw_count(model) -> int:
    return sql(f"SELECT count(*) FROM {table(model)}")[0][0]


def orm_count(model, tenant) -> int:
    with tenant_scope(tenant):
        return model.objects.count()


@contextmanager
def database_tenant(tenant_id: int | str):
    """app.tenant_id set by hand, as tenant_scope does, and reset when the block ends."""
    sql("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
    try:
        yield
    finally:
        sql("SELECT set_config('app.tenant_id', '', true)")


def make_row(model, tenant) -> None:
    if model is ApiKey:
        api_key_for(tenant)
        return
    factory = FACTORIES.get(model)
    if factory is None:
        pytest.fail(
            f"{model.__name__} is tenant-owned but has no factory in tests/factories.py "
            "FACTORIES; add one so the row-level security tests can give it rows.",
            pytrace=False,
        )
    factory(tenant=tenant)


def given_rows_for_both(model, tenant_a, tenant_b) -> None:
    """Rows in model's table for tenants A and B, and no tenant left set in the database."""
    make_row(model, tenant_a)
    make_row(model, tenant_b)
    sql("SELECT set_config('app.key_prefix', '', true)")  # the key lookup's own exception


# --- on every database: the ORM fails closed -----------------------------------------------


@by_table
def test_orm_query_with_no_tenant_in_scope_raises(db, model):
    with pytest.raises(TenantScopeError):
        list(model.objects.all())
    with pytest.raises(TenantScopeError):
        model.objects.count()


@by_table
def test_orm_write_with_no_tenant_in_scope_raises(tenant_a, model):
    with pytest.raises(TenantScopeError):
        model(tenant=tenant_a).save()


def test_orm_write_for_another_tenant_than_the_one_in_scope_raises(tenant_a, tenant_b):
    from customers.models import Customer

    with tenant_scope(tenant_a), pytest.raises(TenantScopeError):
        Customer(tenant=tenant_b, external_id="c1").save()


def test_every_model_with_a_tenant_column_is_tenant_owned():
    # Row-level security and the isolation suite find tables through TenantOwnedModel; a
    # model that carries a tenant key without it would escape both. Memberships link users
    # to tenants and are read before any tenant is known, so they are the one exception.
    for model in apps.get_models():
        has_tenant = any(f.name == "tenant" for f in model._meta.concrete_fields)
        if has_tenant and model is not Membership:
            assert issubclass(model, TenantOwnedModel), f"{model.__name__} is not tenant-owned"


# --- on PostgreSQL: row-level security, as the application role ----------------------------


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="row-level security is PostgreSQL's")
class TestRowLevelSecurity:
    def test_the_application_role_is_not_privileged(self, db):
        # given the role the tests (and the application) connect as
        ((user, superuser, bypass),) = sql(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )

        # then it can neither skip row-level security nor own (or act as owner of) a table
        assert not superuser and not bypass, user
        tables = [m._meta.db_table for m in TENANT_OWNED]
        owners = sql(
            "SELECT relname, pg_get_userbyid(relowner), pg_has_role(current_user, relowner, "
            "'MEMBER') FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [tables],
        )
        assert {name for name, _, _ in owners} == set(tables)
        assert [(name, owner) for name, owner, member in owners if member] == []

    @by_table
    def test_row_level_security_is_enabled_forced_and_has_the_policy(self, db, model):
        ((enabled, forced),) = sql(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
            [table(model)],
        )
        policies = sql(
            "SELECT policyname FROM pg_policies WHERE tablename = %s", [model._meta.db_table]
        )
        assert (enabled, forced, policies) == (True, True, [(POLICY_NAME,)])

    @by_table
    def test_with_no_tenant_set_raw_sql_sees_no_rows(self, tenant_a, tenant_b, model):
        # given rows for both tenants
        given_rows_for_both(model, tenant_a, tenant_b)
        assert orm_count(model, tenant_a) > 0 and orm_count(model, tenant_b) > 0

        # when they are counted with raw SQL and no tenant set, then none is visible
        assert raw_count(model) == 0

    @by_table
    def test_with_tenant_a_set_raw_sql_sees_only_a_rows(self, tenant_a, tenant_b, model):
        given_rows_for_both(model, tenant_a, tenant_b)
        expected = orm_count(model, tenant_a)

        # when tenant A is set for the transaction, then only A's rows are visible
        with database_tenant(tenant_a.pk):
            assert raw_count(model) == expected
            tenants = sql(f"SELECT DISTINCT tenant_id FROM {table(model)}")
            assert tenants == [(tenant_a.pk,)]

        # and once it is reset, none is
        assert raw_count(model) == 0

    @by_table
    def test_scoped_to_a_b_rows_cannot_be_changed_or_deleted(self, tenant_a, tenant_b, model):
        given_rows_for_both(model, tenant_a, tenant_b)
        with tenant_scope(tenant_a), connection.cursor() as cursor:
            # when A's transaction updates or deletes B's rows, then nothing is touched
            cursor.execute(
                f"UPDATE {table(model)} SET tenant_id = tenant_id WHERE tenant_id = %s",
                [tenant_b.pk],
            )
            assert cursor.rowcount == 0
            cursor.execute(f"DELETE FROM {table(model)} WHERE tenant_id = %s", [tenant_b.pk])
            assert cursor.rowcount == 0
        assert orm_count(model, tenant_b) > 0

    @by_table
    def test_scoped_to_a_a_row_cannot_be_handed_to_b(self, tenant_a, tenant_b, model):
        given_rows_for_both(model, tenant_a, tenant_b)
        # when A's transaction moves A's rows to tenant B, then the policy refuses
        with (
            pytest.raises(ProgrammingError, match="row-level security"),
            tenant_scope(tenant_a),
        ):
            sql(f"UPDATE {table(model)} SET tenant_id = %s", [tenant_b.pk])

    def test_scoped_to_a_an_insert_for_b_is_refused(self, tenant_a, tenant_b):
        from customers.models import Customer

        # when A's transaction inserts a customer row for tenant B, then the policy refuses
        insert = (
            f"INSERT INTO {table(Customer)} (tenant_id, external_id, email, attributes, "
            "email_opt_in, created_at, updated_at) VALUES (%s, 'c1', '', '{}', false, now(), now())"
        )
        with pytest.raises(ProgrammingError, match="row-level security"), tenant_scope(tenant_a):
            sql(insert, [tenant_b.pk])

        # while the same insert for A itself goes through
        with tenant_scope(tenant_a):
            sql(insert, [tenant_a.pk])
        assert orm_count(Customer, tenant_a) == 1

    def test_the_tenant_setting_is_transaction_local(self, tenant_a):
        # given a tenant set in a nested transaction (a savepoint) that is rolled back
        with transaction.atomic():
            sql("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_a.pk)])
            transaction.set_rollback(True)

        # then the setting goes with it, and tenant_scope leaves none behind either
        assert sql("SELECT current_setting('app.tenant_id', true)")[0][0] in (None, "")
        with tenant_scope(tenant_a):
            pass
        assert sql("SELECT current_setting('app.tenant_id', true)")[0][0] in (None, "")


# --- nested scopes and the read path ---------------------------------------------------------


def _database_tenant() -> str | None:
    if not ON_POSTGRES:
        return None
    return sql("SELECT current_setting('app.tenant_id', true)")[0][0]


def test_a_nested_scope_of_the_same_tenant_keeps_its_savepoint(tenant_a):
    from customers.models import Customer

    # given A's scope, and a nested scope of A whose work fails
    with tenant_scope(tenant_a):
        Customer.objects.create(tenant=tenant_a, external_id="kept")
        with pytest.raises(RuntimeError), tenant_scope(tenant_a):
            Customer.objects.create(tenant=tenant_a, external_id="rolled-back")
            raise RuntimeError("fails")
        # then only the nested work is undone, and the database still has A in scope
        assert set(Customer.objects.values_list("external_id", flat=True)) == {"kept"}
        assert _database_tenant() in (None, str(tenant_a.pk))


def test_reads_join_the_same_tenants_scope_and_open_their_own_otherwise(tenant_a, tenant_b):
    from customers.models import Customer
    from tenants.context import tenant_reads

    with tenant_scope(tenant_b):
        Customer.objects.create(tenant=tenant_b, external_id="b-only")
    # inside A's scope, reads for A add no transaction level (no savepoint)
    with tenant_scope(tenant_a):
        depth = len(connection.atomic_blocks)
        with tenant_reads(tenant_a):
            assert len(connection.atomic_blocks) == depth
            assert not Customer.objects.exists()
        # reads for B inside A's scope get B's scope, and A's comes back after
        with tenant_reads(tenant_b):
            assert list(Customer.objects.values_list("external_id", flat=True)) == ["b-only"]
        assert _database_tenant() in (None, str(tenant_a.pk))
        assert not Customer.objects.exists()
    # outside any scope, reads open one of their own
    with tenant_reads(tenant_b):
        assert Customer.objects.count() == 1


def test_the_key_lookup_finds_only_live_keys_of_active_tenants_and_leaves_no_prefix(
    tenant_a, tenant_b
):
    from tenants.services import api_key_authenticate, api_key_create, api_key_revoke

    # given a key of A, a revoked key of A, and a key of B whose tenant is then deactivated
    live = api_key_create(tenant=tenant_a, name="live", scopes=["read"]).raw_key
    revoked = api_key_create(tenant=tenant_a, name="revoked", scopes=["read"])
    api_key_revoke(api_key=revoked.api_key)
    of_b = api_key_create(tenant=tenant_b, name="b", scopes=["read"]).raw_key
    tenant_b.is_active = False
    tenant_b.save()

    # then only the live key of the active tenant authenticates, and with its tenant
    found = api_key_authenticate(raw_key=live)
    assert found is not None and found.tenant == tenant_a and found.name == "live"
    assert api_key_authenticate(raw_key=revoked.raw_key) is None
    assert api_key_authenticate(raw_key=of_b) is None
    assert api_key_authenticate(raw_key=live[:-1] + ("x" if live[-1] != "x" else "y")) is None
    # and no lookup leaves the key table's prefix view open behind it
    if ON_POSTGRES:
        assert sql("SELECT current_setting('app.key_prefix', true)")[0][0] in (None, "")
        assert sql("SELECT count(*) FROM tenants_apikey")[0][0] == 0
