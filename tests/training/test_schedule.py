"""The beat fan-out queues runs only where the policy says so and new data arrived."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.context import tenant_scope
from tests.factories import TenantFactory
from tests.training.helpers import add_interactions
from training import services
from training.models import RetrainPolicy, TrainingRun
from training.scheduling import retraining_fan_out

pytestmark = pytest.mark.django_db


def _queued(tenant) -> list[str]:
    with tenant_scope(tenant):
        return sorted(TrainingRun.objects.filter(status="queued").values_list("kind", flat=True))


def _policy(tenant, kind: str, **fields) -> None:
    services.retrain_policy_update(tenant=tenant, kind=kind, data=fields)


def test_a_tenant_with_new_data_gets_a_run_and_one_without_gets_none(
    artifact_root, django_capture_on_commit_callbacks
):
    # Given two tenants trained on their data, of which only one received new interactions
    fresh, idle = TenantFactory(slug="fresh"), TenantFactory(slug="idle")
    for tenant in (fresh, idle):
        add_interactions(tenant, 20)
        _policy(tenant, "popularity", min_new_interactions=5, cadence_hours=1)
        _policy(tenant, "scripted", enabled=False)
        services.training_run_train_now(tenant=tenant, kind="popularity")
    add_interactions(fresh, 6)
    # When the fan-out runs after the cadence has passed
    later = timezone.now() + timedelta(hours=2)
    with django_capture_on_commit_callbacks() as callbacks:
        report = retraining_fan_out(now=later)
    # Then only the tenant with new data gets a run, enqueued on commit
    assert report.queued == [(fresh.pk, "popularity")]
    assert _queued(fresh) == ["popularity"] and _queued(idle) == []
    assert len(callbacks) == 1


def test_too_little_new_data_or_a_recent_model_or_a_disabled_policy_queue_nothing(artifact_root):
    tenant = TenantFactory()
    add_interactions(tenant, 20)
    _policy(tenant, "popularity", min_new_interactions=10, cadence_hours=24)
    _policy(tenant, "scripted", enabled=False)
    services.training_run_train_now(tenant=tenant, kind="popularity")
    add_interactions(tenant, 5)
    # Too little new data, even once the cadence has passed
    assert retraining_fan_out(now=timezone.now() + timedelta(days=2)).queued == []
    # Enough new data but the active model is younger than the cadence
    add_interactions(tenant, 10)
    assert retraining_fan_out().queued == []
    # Due, but disabled
    _policy(tenant, "popularity", enabled=False)
    assert retraining_fan_out(now=timezone.now() + timedelta(days=2)).queued == []


def test_a_never_trained_kind_with_data_is_due_and_not_queued_twice(artifact_root):
    tenant = TenantFactory()
    add_interactions(tenant, 3)
    with tenant_scope(tenant):
        RetrainPolicy.objects.create(tenant=tenant, kind="popularity", min_new_interactions=1)
    _policy(tenant, "scripted", enabled=False)
    assert retraining_fan_out().queued == [(tenant.pk, "popularity")]
    assert retraining_fan_out().queued == []  # a queued run already covers it


def test_policies_are_editable_over_the_api(api_a):
    listed = api_a.get("/api/v1/retrain-policies/").json()
    assert {p["kind"] for p in listed} >= {"popularity"}
    response = api_a.patch(
        "/api/v1/retrain-policies/popularity/", {"cadence_hours": 6}, format="json"
    )
    assert response.status_code == 200, response.content
    assert api_a.get("/api/v1/retrain-policies/popularity/").json()["cadence_hours"] == 6
    bad = api_a.patch("/api/v1/retrain-policies/popularity/", {"cadence_hours": 0}, format="json")
    assert bad.status_code == 400
    assert api_a.get("/api/v1/retrain-policies/nope/").status_code == 404
