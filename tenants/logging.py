import logging

from tenants.context import _tenant_ids


class TenantContextFilter(logging.Filter):
    """Adds the tenant in scope (if any) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "tenant_id", None) is None:
            ids = _tenant_ids.get()
            record.tenant_id = ",".join(map(str, ids)) if ids else None
        return True
