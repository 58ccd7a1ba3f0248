"""Tenancy: who the tenants are, who may act for them, and the base of every tenant-owned table."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Expression, F

from tenants.context import TenantScopeError, current_tenant_ids


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    # Customer ids and emails stored as keyed hashes (tenants.pseudonyms). One way: set by
    # `manage.py pseudonymise_tenant`, which converts the rows already stored.
    pseudonymise_customers = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ANALYST = "analyst", "Analyst"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class TenantInScope(Expression):
    """`tenant_id IN (<tenants in scope>)`, resolved when the SQL is compiled.

    Building a queryset (as libraries do to introspect models) needs no tenant;
    running one without a tenant in scope raises TenantScopeError.
    """

    output_field = models.BooleanField()
    conditional = True

    def __init__(self) -> None:
        super().__init__()
        self.column = F("tenant_id")

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, expressions: list) -> None:
        (self.column,) = expressions

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        ids = current_tenant_ids()
        column_sql, column_params = compiler.compile(self.column)
        placeholders = ", ".join(["%s"] * len(ids)) or "NULL"
        return f"{column_sql} IN ({placeholders})", [*column_params, *ids]


class TenantScopedManager(models.Manager):
    """Fails closed: a query run with no tenant in scope raises TenantScopeError."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(TenantInScope())


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned table; row-level security is applied to each subclass."""

    # No index of its own: every tenant-owned table's unique constraints and indexes lead
    # with tenant, and a single-column copy would only cost a write on every insert.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    # Extra SQL OR-ed into the row-level security policy (see ApiKey).
    rls_extra_condition: str | None = None

    objects = TenantScopedManager()
    # The one explicit way around tenant scoping; grep for `unscoped_objects` to audit it.
    unscoped_objects = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        ids = current_tenant_ids()  # fail closed: no writes outside a tenant scope
        if self.tenant_id is None and len(ids) == 1:
            self.tenant_id = ids[0]
        if self.tenant_id not in ids:
            raise TenantScopeError(f"Tenant {self.tenant_id} is not in scope for this write.")
        super().save(*args, **kwargs)


class ApiKey(TenantOwnedModel):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Authentication looks a key up by its prefix before any tenant is known.
    rls_extra_condition = "prefix = current_setting('app.key_prefix', true)"

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="apikey_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(TenantOwnedModel):
    """Who (a user or an API key) did what to which object: writes over the API and in the
    admin, erasures, exports, API key creation and revocation, model activations and
    campaign launches. Append-only; read-only in the admin."""

    actor = models.CharField(max_length=200)  # "user:<name>", "api key:<prefix>", "system"
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_ref = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-occurred_at"], name="audit_tenant_time")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_ref}".strip()
