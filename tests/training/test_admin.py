"""Training in the admin: live runs, version history, activate and retrain actions."""

from __future__ import annotations

import pytest

from tenants.context import tenant_scope
from tests.factories import member_of
from tests.training.helpers import active_version, add_interactions, versions_of
from tests.training.scripted_trainer import KIND as SCRIPTED
from training import services
from training.models import RetrainPolicy, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(tenant_a, artifact_root):
    add_interactions(tenant_a)
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.4})
    services.training_run_train_now(tenant=tenant_a, kind=SCRIPTED, parameters={"score": 0.7})
    return versions_of(tenant_a, SCRIPTED)


def test_runs_show_progress_and_the_page_refreshes_while_one_runs(client, tenant_a):
    with tenant_scope(tenant_a):
        TrainingRun.objects.create(tenant=tenant_a, kind=SCRIPTED, status="running", progress=40)
    client.force_login(member_of(tenant_a, "viewer"))
    page = client.get("/admin/training/trainingrun/")
    assert page.status_code == 200
    assert b'<progress max="100" value="40"' in page.content
    assert page["Refresh"] == "5"


def test_a_version_page_plots_the_primary_metric_over_versions(client, tenant_a, two_versions):
    client.force_login(member_of(tenant_a, "viewer"))
    page = client.get(f"/admin/training/modelversion/{two_versions[1].pk}/change/")
    assert page.status_code == 200
    assert page.content.count(b"<circle") == 2 and b"v2: 0.7000 (active)" in page.content


def test_an_analyst_rolls_back_from_the_admin(client, tenant_a, two_versions):
    client.force_login(member_of(tenant_a, "analyst"))
    client.post(
        "/admin/training/modelversion/",
        {"action": "activate", "_selected_action": [two_versions[0].pk]},
    )
    assert active_version(tenant_a, SCRIPTED) == two_versions[0]


def test_a_viewer_cannot_activate_or_retrain(client, tenant_a, two_versions):
    client.force_login(member_of(tenant_a, "viewer"))
    page = client.get("/admin/training/modelversion/")
    assert b'value="activate"' not in page.content
    client.post(
        "/admin/training/modelversion/",
        {"action": "activate", "_selected_action": [two_versions[0].pk]},
    )
    assert active_version(tenant_a, SCRIPTED) == two_versions[1]


def test_retrain_now_queues_a_run(client, tenant_a, django_capture_on_commit_callbacks):
    services.retrain_policy_update(tenant=tenant_a, kind="popularity", data={"cadence_hours": 6})
    client.force_login(member_of(tenant_a, "owner"))
    with tenant_scope(tenant_a):
        policy_id = RetrainPolicy.objects.get().pk
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(
            "/admin/training/retrainpolicy/",
            {"action": "retrain_now", "_selected_action": [policy_id]},
        )
    with tenant_scope(tenant_a):
        assert TrainingRun.objects.filter(kind="popularity", trigger="admin").count() == 1
    assert len(callbacks) == 1
