"""Deleting the artifacts of replaced model versions after the tenant's retention period.

A version stops serving when another takes its place (retired) or never serves (rejected).
Its artifact is kept for the retention period so a rollback stays possible, then deleted:
the files go, the row stays (metrics, history) with `artifact_deleted_at` set, and it can
no longer be activated. This is also how an erased customer's influence leaves the models
trained before the erasure: those versions are replaced at the next retrain, and their files
are gone a retention period later.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from tenants.context import tenant_scope
from tenants.models import Tenant
from training import conf
from training.models import ModelVersion

logger = logging.getLogger(__name__)


def retention_days(tenant: Tenant) -> float:
    """Tenant setting `training.artifact_retention_days`, else ARTIFACT_RETENTION_DAYS."""
    configured = ((tenant.settings or {}).get("training") or {}).get("artifact_retention_days")
    if isinstance(configured, int | float) and not isinstance(configured, bool) and configured >= 0:
        return float(configured)
    return float(settings.ARTIFACT_RETENTION_DAYS)


@dataclass
class RetentionReport:
    deleted: list[str] = field(default_factory=list)  # "tenant/kind vN"
    bytes_freed: int = 0


def expired_versions(tenant: Tenant, now: datetime) -> list[ModelVersion]:
    cutoff = now - timedelta(days=retention_days(tenant))
    with tenant_scope(tenant):
        return list(
            ModelVersion.objects.filter(tenant=tenant, artifact_deleted_at__isnull=True).filter(
                Q(status=ModelVersion.Status.RETIRED, replaced_at__lt=cutoff)
                | Q(status=ModelVersion.Status.REJECTED, created_at__lt=cutoff)
            )
        )


def artifacts_delete_expired(*, now: datetime | None = None) -> RetentionReport:
    """Delete every expired artifact of every tenant; safe to run at any time, and again."""
    now = now or timezone.now()
    report = RetentionReport()
    root = Path(conf.artifact_root()).resolve()
    for tenant in Tenant.objects.all():
        for version in expired_versions(tenant, now):
            with tenant_scope(tenant):
                # Marked first, and only while still replaced: a rollback that got there first
                # keeps its files, and one that comes later is refused (training.services).
                marked = ModelVersion.objects.filter(
                    pk=version.pk, status=version.status, artifact_deleted_at__isnull=True
                ).update(artifact_deleted_at=now)
            if marked:
                report.bytes_freed += _remove(Path(version.artifact_path), root)
                report.deleted.append(f"{tenant.slug}/{version.kind} v{version.version}")
    if report.deleted:
        logger.info("deleted %d expired artifacts (%d bytes)",
                    len(report.deleted), report.bytes_freed)  # fmt: skip
    return report


def _remove(directory: Path, root: Path) -> int:
    """Delete one artifact directory; never anything outside the artifact root."""
    resolved = directory.resolve()
    if root not in resolved.parents:
        logger.warning("artifact %s is outside %s; not deleted", directory, root)
        return 0
    if not resolved.exists():
        return 0
    size = sum(path.stat().st_size for path in resolved.rglob("*") if path.is_file())
    shutil.rmtree(resolved)
    return size
