"""Admin of the tenancy directory, and the mixin every tenant-owned admin is built on.

Three layers keep a staff user inside their tenants: AdminTenantScopeMiddleware puts
their tenants in scope (row-level security enforces it on PostgreSQL); the mixin below
filters querysets, choices and permissions by their memberships; and forms refuse to
save a row in a tenant the user may not write to. Permissions come from the membership
role, not from Django's model permissions.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import reverse

from tenants.audit import audit
from tenants.models import ApiKey, AuditEvent, Membership, Tenant, TenantOwnedModel
from tenants.services import api_key_create, api_key_revoke, membership_set

Role = Membership.Role
WRITE_ROLES = frozenset({Role.OWNER, Role.ANALYST})
OWNER_ONLY = frozenset({Role.OWNER})


# --- who may do what, read once per request -------------------------------------------


def visible_tenant_ids(request: HttpRequest) -> list[int]:
    # Set by AdminTenantScopeMiddleware; without it, fail closed and show nothing.
    return list(getattr(request, "tenant_ids", ()))


def tenant_roles(request: HttpRequest) -> dict[int, str]:
    """{tenant id: role} for the signed-in user, limited to the tenants in scope."""
    roles = getattr(request, "_tenant_roles", None)
    if roles is None:
        roles = {}
        # The login page asks every admin for its module permission, before anyone signs in.
        if request.user.is_authenticated:
            visible = set(visible_tenant_ids(request))
            memberships = Membership.objects.filter(user=request.user).values_list(
                "tenant_id", "role"
            )
            roles = {tenant_id: role for tenant_id, role in memberships if tenant_id in visible}
        request._tenant_roles = roles
    return roles


def has_role(request: HttpRequest, roles: frozenset[str], tenant_id: int | None = None) -> bool:
    """Superusers always; others need one of `roles` in that tenant (or in any, if None)."""
    if request.user.is_superuser:
        return True
    held = tenant_roles(request)
    if tenant_id is None:
        return any(role in roles for role in held.values())
    return held.get(tenant_id) in roles


def tenant_ids_with_role(request: HttpRequest, roles: frozenset[str]) -> list[int]:
    if request.user.is_superuser:
        return visible_tenant_ids(request)
    return sorted(t for t, role in tenant_roles(request).items() if role in roles)


def adopt_saved(instance: models.Model, saved: models.Model) -> None:
    """Copy a row saved by a service onto the admin's unsaved instance (for logs, redirects)."""
    for field in saved._meta.concrete_fields:
        setattr(instance, field.attname, getattr(saved, field.attname))
    instance._state.adding = False


# --- the mixin ---------------------------------------------------------------------------


class TenantListFilter(admin.SimpleListFilter):
    """Lists only the user's tenants (the stock related filter would list every tenant)."""

    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        tenants = Tenant.objects.filter(pk__in=visible_tenant_ids(request)).only("pk", "slug")
        return [(str(tenant.pk), tenant.slug) for tenant in tenants]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in {str(i) for i in visible_tenant_ids(request)}:
            return queryset.filter(tenant_id=int(self.value()))
        return queryset


class TenantScopedForm(forms.ModelForm):
    """Refuses a tenant the user may not write to, and relations to another tenant's rows."""

    # Set per request by TenantScopedAdminMixin.get_form.
    writable_tenant_ids: frozenset[int] = frozenset()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "tenant" in self.fields:
            tenant_id = cleaned["tenant"].pk if cleaned.get("tenant") else None
        else:
            tenant_id = self.instance.tenant_id
        if tenant_id is None or tenant_id not in self.writable_tenant_ids:
            # A non-field error, so it shows even when the tenant field is hidden.
            raise ValidationError(
                "Choose one of your own tenants: your role does not allow saving here.",
                code="tenant_not_allowed",
            )
        for field in self.instance._meta.get_fields():
            if field.name not in cleaned or field.name == "tenant":
                continue
            if not isinstance(field, models.ForeignKey | models.ManyToManyField):
                continue
            if not issubclass(field.related_model, TenantOwnedModel):
                continue
            value = cleaned[field.name]
            related = value if field.many_to_many else [value]
            if any(obj is not None and obj.tenant_id != tenant_id for obj in related):
                self.add_error(field.name, "This belongs to another tenant.")
        return cleaned


class TenantScopedAdminMixin:
    """For a ModelAdmin of any model with a `tenant` foreign key.

    viewer => view only; `write_roles` (analyst, owner by default) => add/change/delete;
    superuser => everything. Rows never move between tenants: `tenant` is read-only once saved.
    """

    form = TenantScopedForm
    write_roles: frozenset[str] = WRITE_ROLES

    def several_tenants(self, request: HttpRequest) -> bool:
        return len(visible_tenant_ids(request)) > 1

    def writable_tenant_ids(self, request: HttpRequest) -> list[int]:
        return tenant_ids_with_role(request, self.write_roles)

    def can_write(self, request: HttpRequest, tenant_id: int | None = None) -> bool:
        return has_role(request, self.write_roles, tenant_id)

    # Scoping: the manager scopes already; filtering again keeps this safe on any manager.
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id__in=visible_tenant_ids(request))

    # The audit log: the admin's own history (LogEntry) is global; this one is per tenant.
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(obj, "admin add")
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(obj, "admin change")
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(obj, "admin delete")
        return super().log_deletions(request, queryset)

    def _audit(self, obj: Any, action: str) -> None:
        tenant_id = getattr(obj, "tenant_id", None)
        if tenant_id is not None:
            audit(tenant=tenant_id, action=action, object_type=type(obj).__name__,
                  object_ref=getattr(obj, "external_id", None) or obj.pk)  # fmt: skip

    # Permissions from the membership role.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(tenant_roles(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        roles = tenant_roles(request)
        return obj.tenant_id in roles if obj is not None else bool(roles)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_write(request, obj.tenant_id if obj is not None else None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_write(request, obj.tenant_id if obj is not None else None)

    # Forms.
    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.writable_tenant_ids = frozenset(self.writable_tenant_ids(request))
        return form

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is None:  # read-only fields say nothing about a row not yet saved
            fields = [f for f in fields if f not in self.readonly_fields]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "tenant" not in fields:
            fields.insert(0, "tenant")
        return fields

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "tenant" and db_field.related_model is Tenant:
            return self.tenant_formfield(db_field, request)  # no add/change-tenant links
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def tenant_formfield(self, db_field, request: HttpRequest) -> forms.Field:
        ids = self.writable_tenant_ids(request)
        options: dict[str, Any] = {
            "queryset": Tenant.objects.filter(pk__in=ids),
            "error_messages": {"invalid_choice": "Choose one of your own tenants."},
        }
        if len(ids) == 1:
            options.update(initial=ids[0], widget=forms.HiddenInput)
        return db_field.formfield(**options)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        related = db_field.related_model
        if issubclass(related, TenantOwnedModel) and "queryset" not in kwargs:
            ids = self.writable_tenant_ids(request)
            kwargs["queryset"] = related.objects.filter(tenant_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        related = db_field.related_model
        if issubclass(related, TenantOwnedModel) and "queryset" not in kwargs:
            ids = self.writable_tenant_ids(request)
            kwargs["queryset"] = related.objects.filter(tenant_id__in=ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # Changelist: a tenant column and filter only when there is a choice of tenants.
    def get_list_display(self, request: HttpRequest) -> list:
        columns = list(super().get_list_display(request))
        several = self.several_tenants(request)
        if several and "tenant" not in columns:
            columns.append("tenant")
        elif not several and "tenant" in columns:
            columns.remove("tenant")
        return columns

    def get_list_filter(self, request: HttpRequest) -> list:
        filters = [f for f in super().get_list_filter(request) if f != "tenant"]
        return [TenantListFilter, *filters] if self.several_tenants(request) else filters

    def get_list_select_related(self, request: HttpRequest):
        related = super().get_list_select_related(request)
        if self.several_tenants(request) and isinstance(related, list | tuple):
            return (*related, "tenant") if "tenant" not in related else related
        return related  # False: Django joins the FKs shown, tenant included


# --- the directory: tenants, memberships, API keys ------------------------------------------


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Superusers manage all tenants; staff see theirs, and owners may edit name and settings."""

    list_display = ("slug", "name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")
    fields = ("slug", "name", "settings", "is_active", "pseudonymise_customers", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=visible_tenant_ids(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if request.user.is_superuser:
            return ("pseudonymise_customers", "created_at")
        # Renaming the slug or (de)activating a tenant is the operator's call.
        return ("slug", "is_active", "pseudonymise_customers", "created_at")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(tenant_roles(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        roles = tenant_roles(request)
        return obj.pk in roles if obj is not None else bool(roles)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request, OWNER_ONLY, obj.pk if obj is not None else None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting cascades to every row the tenant owns (millions); deactivate instead.
        return False


def is_last_owner(membership: Membership) -> bool:
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(tenant_id=membership.tenant_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


class MembershipForm(TenantScopedForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        demoted = cleaned.get("role") not in (None, Role.OWNER)
        if self.instance.pk and demoted and is_last_owner(self.instance):
            raise ValidationError("A tenant needs an owner: make someone else owner first.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Members of a tenant see its team; its owners manage it."""

    form = MembershipForm
    write_roles = OWNER_ONLY
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    fields = ("tenant", "user", "role", "created_at")
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "user"] if obj is not None else fields

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user":
            # A username box, not a dropdown: owners must not browse every account.
            return forms.ModelChoiceField(
                queryset=get_user_model().objects.filter(is_active=True),
                to_field_name=get_user_model().USERNAME_FIELD,
                widget=forms.TextInput,
                label="Username",
                error_messages={"invalid_choice": "No active account has this username."},
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        if allowed and obj is not None and not request.user.is_superuser:
            return not is_last_owner(obj)  # owners must not lock their tenant out
        return allowed

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        adopt_saved(obj, membership_set(tenant=obj.tenant, user=obj.user, role=obj.role))


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


class ApiKeyCreateForm(TenantScopedForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ],
        help_text="read: list and fetch; write: create, change and import; admin: manage.",
    )

    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "scopes")


# Rendered from a string so the raw key never passes through message storage (a cookie or
# the session table): it exists only in this one response.
_KEY_CREATED_TEMPLATE = """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{{ changelist_url }}">API keys</a> &rsaquo; {{ api_key.name }}</div>{% endblock %}
{% block content %}
<p>The API key <strong>{{ api_key.name }}</strong> was created for tenant
<strong>{{ api_key.tenant }}</strong> with scopes <strong>{{ scopes }}</strong>.</p>
<p class="errornote">Copy it now. It is shown only this once and cannot be recovered;
if it is lost, revoke it and create another.</p>
<p><code id="raw-api-key" style="font-size: 1.2em; user-select: all">{{ raw_key }}</code></p>
<p>Send it as <code>Authorization: Bearer &lt;key&gt;</code>.</p>
<p><a class="button" href="{{ changelist_url }}">Back to API keys</a></p>
{% endblock %}
"""


@cache
def key_created_template():
    return engines["django"].from_string(_KEY_CREATED_TEMPLATE)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Owners create keys (the raw key is shown once) and revoke them; keys never change."""

    write_roles = OWNER_ONLY
    list_display = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = (ApiKeyStatusFilter,)
    search_fields = ("name", "=prefix")
    ordering = ("-created_at",)
    actions = ("revoke_keys",)
    detail_fields = (
        *("tenant", "name", "prefix", "scope_list", "created_by"),
        *("created_at", "last_used_at", "revoked_at"),
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["tenant", "name", "scopes"] if obj is None else list(self.detail_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.detail_fields)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        # Saving always leads to the page that shows the new key; offer no other buttons.
        extra_context = {
            **(extra_context or {}),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
        }
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is immutable: revoke it and create another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, so their use can be traced

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self.can_write(request)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        created = api_key_create(
            tenant=obj.tenant, name=obj.name, scopes=obj.scopes, created_by=request.user
        )
        adopt_saved(obj, created.api_key)
        obj._raw_key_once = created.raw_key  # lives only until response_add renders it

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        changelist_url = reverse(
            "admin:tenants_apikey_changelist", current_app=self.admin_site.name
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.opts,
            "api_key": obj,
            "scopes": ", ".join(obj.scopes),
            "raw_key": obj._raw_key_once,
            "changelist_url": changelist_url,
        }
        return TemplateResponse(request, key_created_template(), context)

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        revoked = refused = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            if not self.can_write(request, api_key.tenant_id):
                refused += 1
                continue
            api_key_revoke(api_key=api_key)
            revoked += 1
        if revoked:
            self.message_user(
                request, f"Revoked {revoked} API key(s); requests with them now get 401."
            )
        if refused:
            self.message_user(
                request,
                f"{refused} key(s) left active: only an owner of their tenant may revoke them.",
                messages.WARNING,
            )
        if not (revoked or refused):
            self.message_user(request, "The selected keys were already revoked.", messages.INFO)
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Who did what to which object, per tenant: read-only."""

    list_display = ("occurred_at", "actor", "action", "object_type", "object_ref")
    list_filter = ("action", "object_type", "occurred_at")
    search_fields = ("actor", "=object_ref")
    readonly_fields = ("tenant", "occurred_at", "actor", "action", "object_type", "object_ref",
                       "details")  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
