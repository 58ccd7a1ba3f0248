"""Reads of the tenancy directory (tenants, memberships, keys)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tenants.models import ApiKey, Membership, Tenant


def tenant_get(*, slug: str) -> Tenant:
    return Tenant.objects.get(slug=slug)


def tenant_ids_for_user(*, user: AbstractBaseUser) -> list[int]:
    """Tenants whose rows a signed-in user may see in the admin; superusers see all."""
    if not user.is_active:
        return []
    if user.is_superuser:
        return list(Tenant.objects.values_list("id", flat=True))
    return list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))


def membership_role(*, user: AbstractBaseUser, tenant_id: int) -> str | None:
    return (
        Membership.objects.filter(user=user, tenant_id=tenant_id)
        .values_list("role", flat=True)
        .first()
    )


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at")
