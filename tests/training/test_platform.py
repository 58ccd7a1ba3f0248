"""The training platform in-process: versions, champion/challenger, rollback, artifacts."""

from __future__ import annotations

import pytest

from tests.training.helpers import active_version, add_interactions, versions_of
from tests.training.scripted_trainer import KIND as SCRIPTED
from training import services
from training.ml.artifacts import ArtifactError
from training.models import ModelVersion, TrainingRun
from training.selectors import model_cache, model_version_load


@pytest.fixture(autouse=True)
def _artifacts(artifact_root):
    model_cache.clear()


def test_the_first_version_is_activated_with_metrics_and_a_verified_artifact(tenant_a):
    add_interactions(tenant_a)
    run = services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.4})
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = active_version(tenant_a, SCRIPTED)
    assert version.version == 1 and version.metrics == {"score": 0.4}
    assert len(version.artifact_sha256) == 64 and version.library_versions["numpy"]
    assert version.watermark["interactions"] == 30
    assert model_version_load(version=version).sum() > 0


def test_a_worse_challenger_is_kept_but_not_activated(tenant_a):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.8})
    run = services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.5})
    champion, challenger = versions_of(tenant_a, SCRIPTED)
    assert active_version(tenant_a, SCRIPTED) == champion
    assert challenger.status == ModelVersion.Status.REJECTED
    assert "worse than the active v1" in challenger.rejection_reason
    assert run.metrics["activated"] is False


def test_a_challenger_within_the_tolerance_is_activated(tenant_a):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.8})
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.795})
    assert active_version(tenant_a, SCRIPTED).version == 2


def test_rollback_is_one_call_and_serving_follows_it(tenant_a):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.5})
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.9})
    first, second = versions_of(tenant_a, SCRIPTED)
    assert active_version(tenant_a, SCRIPTED) == second
    services.model_version_activate(tenant=tenant_a, version=first)
    assert active_version(tenant_a, SCRIPTED) == first
    statuses = {v.version: v.status for v in versions_of(tenant_a, SCRIPTED)}
    assert statuses == {1: ModelVersion.Status.ACTIVE, 2: ModelVersion.Status.RETIRED}


def test_a_corrupted_artifact_is_refused_at_load(tenant_a):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED)
    version = active_version(tenant_a, SCRIPTED)
    artifact = next(p for p in __import__("pathlib").Path(version.artifact_path).iterdir())
    artifact.chmod(0o644)
    data = bytearray(artifact.read_bytes())
    data[-10] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupted"):
        model_version_load(version=version)


def test_artifacts_are_read_only_once_written(tenant_a):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED)
    version = active_version(tenant_a, SCRIPTED)
    for path in __import__("pathlib").Path(version.artifact_path).iterdir():
        assert not path.stat().st_mode & 0o222


def test_a_tenant_with_no_interactions_gets_a_skipped_run(tenant_a):
    run = services.training_run_train_now(tenant=tenant_a, kind="popularity")
    assert run.status == TrainingRun.Status.SKIPPED
    assert versions_of(tenant_a, "popularity") == []


def test_a_run_is_executed_once_even_if_executed_again(tenant_a):
    add_interactions(tenant_a)
    run = services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED)
    again = services.training_run_execute(tenant_id=tenant_a.pk, run_id=run.pk)
    assert again.attempts == 1 and len(versions_of(tenant_a, SCRIPTED)) == 1


def test_unknown_kind_is_a_400_over_the_api(api_a):
    response = api_a.post("/api/v1/training-runs/", {"kind": "astrology"}, format="json")
    assert response.status_code == 400
    assert "Unknown model kind 'astrology'" in response.json()["detail"]
