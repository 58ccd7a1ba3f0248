"""Writes to the tenancy directory: tenants, memberships and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from tenants.audit import audit
from tenants.context import tenant_scope
from tenants.models import ApiKey, Membership, Tenant
from tenants.rls import KEY_LOOKUP_FUNCTION

KEY_PREFIX = "mip"
VALID_SCOPES = frozenset(ApiKey.Scope.values)


class InvalidScopes(ValueError):
    pass


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (as for GitHub tokens).
    return hashlib.sha256(secret.encode()).hexdigest()


def split_raw_key(raw_key: str) -> tuple[str, str] | None:
    parts = raw_key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def tenant_create(*, slug: str, name: str, settings: dict | None = None) -> Tenant:
    return Tenant.objects.create(slug=slug, name=name, settings=settings or {})


def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


def normalise_scopes(scopes: list[str] | str) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = sorted(set(scopes) - VALID_SCOPES)
    if unknown or not scopes:
        raise InvalidScopes(
            f"Unknown or missing scopes {unknown}; choose from {sorted(VALID_SCOPES)}."
        )
    return sorted(set(scopes))


def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str] | str,
    created_by: AbstractBaseUser | None = None,
) -> CreatedApiKey:
    scopes = normalise_scopes(scopes)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    with tenant_scope(tenant):
        api_key = ApiKey.objects.create(
            tenant=tenant,
            name=name,
            prefix=prefix,
            hashed_secret=hash_secret(secret),
            scopes=scopes,
            created_by=created_by,
        )
        audit(tenant=tenant, action="api key created", object_type="ApiKey",
              object_ref=f"{name} ({prefix})", details={"scopes": scopes})  # fmt: skip
    return CreatedApiKey(api_key=api_key, raw_key=f"{KEY_PREFIX}_{prefix}_{secret}")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    with tenant_scope(api_key.tenant_id):
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        api_key.refresh_from_db()
        if revoked:
            audit(tenant=api_key.tenant_id, action="api key revoked", object_type="ApiKey",
                  object_ref=f"{api_key.name} ({api_key.prefix})")  # fmt: skip
    return api_key


LAST_USED_RESOLUTION_SECONDS = 60


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching raw_key, or None. Marks it used (at most once a minute)."""
    parts = split_raw_key(raw_key)
    if parts is None:
        return None
    prefix, secret = parts
    if connection.vendor == "postgresql":
        # Row-level security shows this one key row, found by prefix, before the tenant is
        # known; the function sets and clears the prefix around the read (tenants/rls.py).
        found = ApiKey.unscoped_objects.raw(f"SELECT * FROM {KEY_LOOKUP_FUNCTION}(%s)", [prefix])
        api_key = next(iter(found), None)
    else:
        api_key = (
            ApiKey.unscoped_objects.select_related("tenant")
            .filter(prefix=prefix, revoked_at__isnull=True, tenant__is_active=True)
            .first()
        )
    if api_key is None or not hmac.compare_digest(api_key.hashed_secret, hash_secret(secret)):
        return None
    now = timezone.now()
    stale = api_key.last_used_at is None or (
        (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    )
    if stale:
        with tenant_scope(api_key.tenant_id):
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
