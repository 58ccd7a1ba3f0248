"""The campaigns API: create and edit with checked templates, the lifecycle actions with
409 for the wrong state, the report, the recipient list and a message preview."""

from __future__ import annotations

import pytest

from tests.factories import CustomerFactory, SegmentFactory

pytestmark = pytest.mark.django_db
VARIANT = {"name": "a", "subject": "Hi {{ customer.first_name }}", "body": "Picks: "
           "{% for p in recommendations %}{{ p.title }} {% endfor %}"}  # fmt: skip


@pytest.fixture
def audience(tenant_a):
    for i in range(30):
        CustomerFactory(tenant=tenant_a, external_id=f"c{i:02d}", email=f"c{i}@x.test",
                        email_opt_in=i % 5 != 0, attributes={"first_name": f"N{i}"})  # fmt: skip
    return SegmentFactory(tenant=tenant_a, filter={"field": "external_id", "op": "startswith",
                                                   "value": "c"})  # fmt: skip


def _create(api, audience, **fields):
    body = {"name": "Spring", "segment": audience.pk, "variants": [VARIANT]} | fields
    return api.post("/api/v1/campaigns/", body, format="json")


def test_a_campaign_is_created_launched_and_reported(api_a, audience):
    created = _create(api_a, audience, holdout_share=0.2)
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["holdout_share"] == 0.2

    launched = api_a.post(f"/api/v1/campaigns/{campaign['id']}/launch/")
    assert launched.status_code == 202, launched.content
    counts = launched.json()
    assert counts["status"] == "sending" and counts["recipients"] == 30
    assert counts["excluded_by_reason"] == {"no consent": 6}
    assert counts["pending"] + counts["held_out"] == 24

    report = api_a.get(f"/api/v1/campaigns/{campaign['id']}/report/").json()
    assert report["by_status"]["excluded"] == 6
    assert report["uplift"]["verdict"] == "not enough recipients yet"
    assert report["daily"][0]["treatment"] == 0

    held = api_a.get(f"/api/v1/campaigns/{campaign['id']}/recipients/?status=held_out").json()
    assert len(held["results"]) == counts["held_out"]
    assert {r["group"] for r in held["results"]} == {"control"}
    assert (
        api_a.get(f"/api/v1/campaigns/{campaign['id']}/recipients/?status=nope").status_code == 400
    )


def test_launching_twice_and_editing_a_launched_campaign_are_409(api_a, audience):
    campaign = _create(api_a, audience).json()
    url = f"/api/v1/campaigns/{campaign['id']}/"
    assert api_a.post(url + "launch/").status_code == 202
    again = api_a.post(url + "launch/")
    assert again.status_code == 409 and "sending" in again.json()["detail"]
    assert api_a.patch(url, {"name": "Other"}, format="json").status_code == 409
    assert api_a.delete(url).status_code == 409
    assert api_a.post(url + "resume/").status_code == 409
    assert api_a.post(url + "pause/").json()["status"] == "paused"
    assert api_a.post(url + "resume/").json()["status"] == "sending"
    assert api_a.post(url + "cancel/").json()["status"] == "cancelled"
    assert api_a.post(url + "pause/").status_code == 409
    assert api_a.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"variants": [{"subject": "x", "body": "{% for %}"}]}, "variants[0].body: template"),
        ({"variants": [{"subject": "x", "body": "{% include 'a' %}"}]}, "not allowed"),
        ({"variants": [VARIANT, VARIANT]}, "variants[1].name"),
        ({"variants": []}, "variants"),
        ({"model_segment": 2}, "exactly one audience"),
        ({"segment": None}, "exactly one audience"),
        ({"holdout_share": 1.0}, "holdout_share"),
        ({"conversion_kind": "hug"}, "conversion_kind"),
        ({"recommendations": 500}, "recommendations"),
    ],
)
def test_invalid_campaigns_are_a_400_naming_the_field(api_a, audience, fields, message):
    body = {"name": "Spring", "segment": audience.pk, "variants": [VARIANT]} | fields
    response = api_a.post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in response.content.decode()


def test_a_taken_name_is_409_and_another_tenants_segment_is_400(api_a, audience, tenant_b):
    assert _create(api_a, audience).status_code == 201
    assert _create(api_a, audience).status_code == 409
    foreign = SegmentFactory(tenant=tenant_b)
    assert _create(api_a, foreign, name="Other").status_code == 400


def test_preview_renders_for_a_customer_and_refuses_unknown_ones(api_a, audience):
    campaign = _create(api_a, audience).json()
    url = f"/api/v1/campaigns/{campaign['id']}/preview/"
    first = api_a.get(url).json()
    assert (first["customer"], first["subject"]) == ("c00", "Hi N0")
    assert api_a.get(url + "?customer=c07").json()["subject"] == "Hi N7"
    assert api_a.get(url + "?customer=nobody").status_code == 404
    assert api_a.get(url + "?variant=zzz").status_code == 400


def test_a_webhook_campaign_without_a_configured_webhook_cannot_launch(api_a, audience):
    campaign = _create(api_a, audience, channel="webhook").json()
    response = api_a.post(f"/api/v1/campaigns/{campaign['id']}/launch/")
    assert response.status_code == 409 and "webhook_url" in response.json()["detail"]


def test_a_future_schedule_is_scheduled_not_sent(api_a, audience):
    campaign = _create(api_a, audience, scheduled_at="2099-01-01T09:00:00Z").json()
    response = api_a.post(f"/api/v1/campaigns/{campaign['id']}/launch/")
    assert response.status_code == 202 and response.json()["status"] == "scheduled"
    assert api_a.get(f"/api/v1/campaigns/{campaign['id']}/recipients/").json()["results"] == []
