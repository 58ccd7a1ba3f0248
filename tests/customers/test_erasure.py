"""GDPR erasure and export: after an erasure no route, segment, export or recommendation
list returns the customer or their interactions, campaign counts stay, the models trained
on their data are retrained at the next scheduled run, and the next training data does not
hold them; the record says what and when and by whom, never who."""

from __future__ import annotations

import pytest

from campaigns import services as campaign_services
from campaigns.selectors import campaign_report, segment_customers
from customers.models import Customer, ErasureRecord
from recommender.selectors import interaction_arrays
from tenants.context import tenant_scope
from tests.factories import CampaignFactory, SegmentFactory
from tests.recommender.conftest import trained_shop  # noqa: F401  (a fixture)
from training import services as training
from training.models import ActiveModel, ModelVersion
from training.scheduling import retraining_fan_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_api(trained_shop, client_for):  # noqa: F811
    return trained_shop, client_for(trained_shop)


def _someone(tenant) -> Customer:
    """A customer with purchases and an email, in the demo shop."""
    with tenant_scope(tenant):
        return (
            Customer.objects.filter(interactions__kind="purchase", email_opt_in=True)
            .exclude(email="").order_by("external_id").first()
        )  # fmt: skip


def test_export_returns_everything_held_about_the_customer(shop_api):
    tenant, api = shop_api
    customer = _someone(tenant)
    response = api.get(f"/api/v1/customers/{customer.external_id}/export/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["customer"]["email"] == customer.email
    with tenant_scope(tenant):
        held = customer.interactions.count()
    assert len(body["interactions"]) == held > 0
    assert {"event_id", "product", "kind", "occurred_at"} <= set(body["interactions"][0])
    assert api.get("/api/v1/customers/nobody/export/").status_code == 404


def test_after_erasure_nothing_returns_the_customer(shop_api):
    tenant, api = shop_api
    customer = _someone(tenant)
    external_id, customer_pk = customer.external_id, customer.pk
    segment = SegmentFactory(tenant=tenant, filter={"field": "email_opt_in", "op": "eq",
                                                    "value": True})  # fmt: skip
    campaign = CampaignFactory(tenant=tenant, segment=segment, holdout_share=0.2)
    launched = campaign_services.campaign_launch(tenant=tenant, campaign=campaign)
    with tenant_scope(tenant):
        versions_before = set(ModelVersion.objects.values_list("pk", flat=True))

    response = api.delete(f"/api/v1/customers/{external_id}/?erase=true")
    assert response.status_code == 204, response.content

    # the customer and their events are gone from every route and from segments
    assert api.get(f"/api/v1/customers/{external_id}/").status_code == 404
    assert api.get(f"/api/v1/customers/{external_id}/export/").status_code == 404
    assert api.get(f"/api/v1/interactions/?customer={external_id}").json()["results"] == []
    listed = api.get("/api/v1/customers/?page_size=1000").json()["results"]
    assert external_id not in {c["external_id"] for c in listed}
    with tenant_scope(tenant):
        members = segment_customers(tenant=tenant, filter=segment.filter)
        assert not members.filter(external_id=external_id).exists()
        # the campaign keeps its counts
        campaign.refresh_from_db()
        report = campaign_report(tenant=tenant, campaign=campaign)
        assert report["recipients"] == launched["recipients"]
    # their id now gets what an unknown id gets: the popular list
    theirs = api.get(f"/api/v1/customers/{external_id}/recommendations/").json()
    unknown = api.get("/api/v1/customers/never-seen/recommendations/").json()
    assert theirs == unknown
    # the next training data does not hold them
    arrays, _ = interaction_arrays(tenant=tenant)
    assert customer_pk not in set(arrays.customer.tolist())
    # the record says what and when and by whom, not who
    with tenant_scope(tenant):
        record = ErasureRecord.objects.get()
        marked = set(record.versions_marked)
    assert record.removed["interactions"] > 0
    assert record.erased_by.startswith("api key:")
    assert external_id not in str(record.__dict__) and customer.email not in str(record.__dict__)
    # every version trained on their data is marked, and the next fan-out retrains the
    # active kinds at once (their cadence has not come round), replacing the versions
    assert marked and marked <= versions_before
    queued = retraining_fan_out().queued
    with tenant_scope(tenant):
        active_kinds = set(ActiveModel.objects.values_list("kind", flat=True))
    assert active_kinds <= {kind for t, kind in queued if t == tenant.pk}


def test_a_retrain_replaces_a_marked_version_even_if_it_scores_lower(shop_api):
    tenant, api = shop_api
    api.delete(f"/api/v1/customers/{_someone(tenant).external_id}/?erase=true")
    with tenant_scope(tenant):
        old = ActiveModel.objects.get(kind="popularity").version
        # the champion scores impossibly well: a normal challenger would be rejected
        ModelVersion.objects.filter(pk=old.pk).update(metrics={**old.metrics, "ndcg@10": 9.0})
    run = training.training_run_train_now(tenant=tenant, kind="popularity")
    with tenant_scope(tenant):
        now_active = ActiveModel.objects.get(kind="popularity").version_id
    assert now_active == run.model_version_id != old.pk


def test_a_plain_delete_is_not_an_erasure(shop_api):
    tenant, api = shop_api
    customer = _someone(tenant)
    assert api.delete(f"/api/v1/customers/{customer.external_id}/").status_code == 204
    with tenant_scope(tenant):
        assert not ErasureRecord.objects.exists()
