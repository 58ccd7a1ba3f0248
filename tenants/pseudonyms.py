"""Pseudonymised identifiers: a tenant that opts in stores customer ids and emails as keyed
hashes (HMAC-SHA256), and every lookup hashes the client's value the same way.

The key is per tenant and never in the database: it is derived from PSEUDONYM_SECRET (the
environment) and the tenant's id. A dump of the database alone cannot link a pseudonym back
to a person, not even by hashing guessed ids or addresses; whoever holds the secret (the
operator, or the brand the operator hands `manage.py pseudonym_key` to) can.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

# A pseudonym is recognisable, so a client's own id can never collide with one.
PREFIX = "p1:"


def tenant_key(tenant_id: int) -> bytes:
    secret = settings.PSEUDONYM_SECRET.encode()
    return hmac.new(secret, f"mip-tenant-key:{tenant_id}".encode(), hashlib.sha256).digest()


def pseudonym(tenant_id: int, value: str, *, kind: str = "id") -> str:
    """The stored form of a customer id (`kind="id"`) or an email (`kind="email"`, compared
    case-insensitively): PREFIX and 64 hex digits."""
    if not value:
        return value
    if kind == "email":
        value = value.strip().lower()
    digest = hmac.new(tenant_key(tenant_id), f"{kind}:{value}".encode(), hashlib.sha256)
    return PREFIX + digest.hexdigest()


def looks_pseudonymised(value: str) -> bool:
    return len(value) == len(PREFIX) + 64 and value.startswith(PREFIX)


def is_pseudonymised(tenant: object) -> bool:
    return bool(getattr(tenant, "pseudonymise_customers", False))


def _tenant_id(tenant: object) -> int:
    return tenant if isinstance(tenant, int) else tenant.pk


def customer_ref(tenant: object, external_id: str) -> str:
    """What a client's customer id is stored as in this tenant."""
    if not is_pseudonymised(tenant):
        return external_id
    return pseudonym(_tenant_id(tenant), external_id)


def email_ref(tenant: object, email: str) -> str:
    """What an email address is stored as in this tenant (a stored pseudonym stays as is)."""
    if not is_pseudonymised(tenant) or looks_pseudonymised(email):
        return email
    return pseudonym(_tenant_id(tenant), email, kind="email")


def customer_fields(tenant: object, data: dict) -> dict:
    """A customer row (or update) as stored: its id and email replaced by pseudonyms."""
    if not is_pseudonymised(tenant):
        return data
    stored = dict(data)
    if stored.get("external_id"):
        stored["external_id"] = customer_ref(tenant, stored["external_id"])
    if stored.get("email"):
        stored["email"] = email_ref(tenant, stored["email"])
    return stored
