"""Artifacts of replaced versions are deleted after the tenant's retention period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tenants.context import tenant_scope
from tests.factories import member_of
from tests.training.helpers import active_version, add_interactions, versions_of
from tests.training.scripted_trainer import KIND as SCRIPTED
from training import services
from training.models import ModelVersion
from training.retention import artifacts_delete_expired
from training.selectors import model_cache

DAY = timedelta(days=1)


@pytest.fixture
def two_versions(tenant_a, artifact_root, client_for):
    """v1 served and was replaced by v2; v3 was rejected."""
    model_cache.clear()
    add_interactions(tenant_a)
    for score in (0.5, 0.6, 0.1):
        services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": score})
    return versions_of(tenant_a, SCRIPTED)


def _age(version: ModelVersion, days: float) -> None:
    with tenant_scope(version.tenant_id):
        ModelVersion.objects.filter(pk=version.pk).update(
            replaced_at=timezone.now() - days * DAY, created_at=timezone.now() - days * DAY
        )


def _reloaded(version: ModelVersion) -> ModelVersion:
    with tenant_scope(version.tenant_id):
        return ModelVersion.objects.get(pk=version.pk)


def test_replaced_and_rejected_artifacts_go_after_the_retention_period(two_versions, client_for):
    v1, v2, v3 = two_versions
    assert (v1.status, v2.status, v3.status) == ("retired", "active", "rejected")
    assert _reloaded(v1).replaced_at is not None
    _age(v1, 31)
    _age(v3, 31)

    report = artifacts_delete_expired()

    assert sorted(report.deleted) == [
        f"{v1.tenant.slug}/{SCRIPTED} v1",
        f"{v1.tenant.slug}/{SCRIPTED} v3",
    ]
    assert report.bytes_freed > 0
    assert not Path(v1.artifact_path).exists() and not Path(v3.artifact_path).exists()
    assert Path(v2.artifact_path).exists(), "the serving version keeps its files"
    assert _reloaded(v1).artifact_deleted_at is not None
    # the row stays for the history, but the version cannot serve again
    api = client_for(v1.tenant)
    response = api.post(f"/api/v1/models/{v1.pk}/activate/")
    assert response.status_code == 409
    assert "retention" in response.json()["detail"]
    assert active_version(v1.tenant, SCRIPTED) == v2
    assert artifacts_delete_expired().deleted == []  # nothing twice


def test_within_the_period_the_files_stay_and_a_rollback_works(two_versions, client_for):
    v1, v2, _ = two_versions
    _age(v1, 29)
    assert artifacts_delete_expired().deleted == []
    api = client_for(v1.tenant)
    assert api.post(f"/api/v1/models/{v1.pk}/activate/").status_code == 200
    # v1 serves again: no longer replaced, so never expired; v2 is now the replaced one
    assert _reloaded(v1).replaced_at is None
    _age(v2, 365)
    assert [name.split(" ")[-1] for name in artifacts_delete_expired().deleted] == ["v2"]
    assert Path(v1.artifact_path).exists()


def test_the_period_is_a_tenant_setting(two_versions):
    v1, _, _ = two_versions
    tenant = v1.tenant
    tenant.settings = {"training": {"artifact_retention_days": 90}}
    tenant.save()
    _age(v1, 60)
    assert artifacts_delete_expired().deleted == []
    tenant.settings = {"training": {"artifact_retention_days": 0}}
    tenant.save()
    _age(v1, 0.01)
    # no retention: every replaced or rejected version goes at the next sweep
    deleted = artifacts_delete_expired().deleted
    assert sorted(deleted) == [f"{tenant.slug}/{SCRIPTED} v1", f"{tenant.slug}/{SCRIPTED} v3"]


def test_it_never_deletes_outside_the_artifact_root(two_versions, tmp_path):
    v1, _, _ = two_versions
    outside = tmp_path / "not-an-artifact"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    with tenant_scope(v1.tenant_id):
        ModelVersion.objects.filter(pk=v1.pk).update(artifact_path=str(outside))
    _age(v1, 31)
    artifacts_delete_expired()
    assert (outside / "keep.txt").exists()


def test_the_admin_says_why_a_deleted_version_cannot_be_activated(client, two_versions):
    v1, v2, _ = two_versions
    _age(v1, 31)
    artifacts_delete_expired()
    client.force_login(member_of(v1.tenant, "analyst"))
    page = client.post(
        "/admin/training/modelversion/",
        {"action": "activate", "_selected_action": [v1.pk]},
        follow=True,
    )
    assert b"retention period" in page.content
    assert active_version(v1.tenant, SCRIPTED) == v2
