import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str


def _rate(name: str, default: str) -> str | None:
    """A DRF rate ("<requests>/<s|min|hour|day>") from the environment; "off" disables it."""
    value = env_str(name, default).strip()
    if value.lower() == "off":
        return None
    if not re.fullmatch(r"\d+/(s|sec|m|min|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r}: expected e.g. 100/s, 6000/min or 'off'")
    return value


# Request rates (tenants/api/throttles.py), counted in the shared cache. A bulk ingest client
# posting 1,000 events per request at ~10 requests a second stays well inside the bulk rates;
# a client stuck in a retry loop is stopped by the burst rate within a second; a storefront
# asking for recommendations at this machine's full capacity (~300/s) is not limited.
API_RATE_KEY_BURST = _rate("API_RATE_KEY_BURST", "500/s")
API_RATE_KEY_SUSTAINED = _rate("API_RATE_KEY_SUSTAINED", "1000000/hour")
API_RATE_TENANT = _rate("API_RATE_TENANT", "2000000/hour")
API_RATE_BULK = _rate("API_RATE_BULK", "30/s")
API_RATE_BULK_TENANT = _rate("API_RATE_BULK_TENANT", "60/s")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.permissions.HasScope"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.ExternalCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Per API key and per tenant; `bulk` actions count against the bulk rates instead.
    "DEFAULT_THROTTLE_CLASSES": [
        "tenants.api.throttles.KeyBurstThrottle",
        "tenants.api.throttles.KeySustainedThrottle",
        "tenants.api.throttles.TenantThrottle",
        "tenants.api.throttles.BulkKeyThrottle",
        "tenants.api.throttles.BulkTenantThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "key_burst": API_RATE_KEY_BURST,
        "key_sustained": API_RATE_KEY_SUSTAINED,
        "tenant": API_RATE_TENANT,
        "bulk_key": API_RATE_BULK,
        "bulk_tenant": API_RATE_BULK_TENANT,
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Marketing intelligence platform API",
    "DESCRIPTION": (
        "Per-tenant customers, products and interactions, with models trained per tenant. "
        "Authenticate with `Authorization: Bearer <api key>`; the tenant comes from the key."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the interaction kinds, whether a field is called kind or conversion_kind.
    "ENUM_NAME_OVERRIDES": {"InteractionKindEnum": "customers.ingest.validation.INTERACTION_KINDS"},
}
