"""Campaigns in the admin, as a marketer uses them: drafts written through the services,
lifecycle actions with a message per campaign, and each campaign's preview, report and
chart; every page scoped to the signed-in member's tenants."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import services
from campaigns.admin_charts import cumulative_conversions_svg
from campaigns.models import Campaign, Recipient
from tenants.context import tenant_scope
from tests.factories import CampaignFactory, CustomerFactory, InteractionFactory, member_of

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/campaigns/campaign/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(campaign: Campaign) -> str:
    return f"{CHANGELIST}{campaign.pk}/change/"


def status_of(tenant, campaign: Campaign) -> str:
    with tenant_scope(tenant):
        campaign.refresh_from_db()
        return campaign.status


def act(client: Client, action: str, *campaigns: Campaign) -> tuple[int, list[tuple[str, str]]]:
    """Run a changelist action and follow to the list; (status, [(level tag, message), ...])."""
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [c.pk for c in campaigns]}, follow=True
    )
    said = [(m.level_tag, m.message) for m in response.context["messages"]]
    return response.status_code, said


def launch(tenant, campaign: Campaign, days_ago: float = 0) -> Campaign:
    now = timezone.now() - timedelta(days=days_ago)
    services.campaign_launch(tenant=tenant, campaign=campaign, now=now)
    with tenant_scope(tenant):
        campaign.refresh_from_db()
    return campaign


@pytest.fixture
def shop(tenant_a):
    """Twenty opted-in customers c00..c19 of tenant A and a draft campaign to all of them."""
    for i in range(20):
        CustomerFactory(tenant=tenant_a, external_id=f"c{i:02d}")
    return CampaignFactory(tenant=tenant_a, name="spring", holdout_share=0.5)


@pytest.fixture
def converted(tenant_a, shop):
    """`spring` launched two days ago and sent; three treated and one control customer
    bought a day after the launch."""
    campaign = launch(tenant_a, shop, days_ago=2)
    with tenant_scope(tenant_a):
        Recipient.objects.filter(campaign=campaign, status="pending").update(
            status="sent", sent_at=campaign.launched_at
        )
        rows = Recipient.objects.filter(campaign=campaign).select_related("customer")
        buyers = [r.customer for r in rows.filter(group="treatment").order_by("pk")[:3]]
        buyers += [r.customer for r in rows.filter(group="control").order_by("pk")[:1]]
    for customer in buyers:
        InteractionFactory(
            tenant=tenant_a, customer=customer, kind="purchase",
            occurred_at=campaign.launched_at + timedelta(days=1),
        )  # fmt: skip
    return campaign


# --- pages -------------------------------------------------------------------------------------


def test_the_list_shows_audience_counts_and_the_verdict_of_launched_campaigns(
    tenant_a, shop, converted
):
    draft = CampaignFactory(tenant=tenant_a, name="summer draft")
    page = signed_in(member_of(tenant_a, "viewer")).get(CHANGELIST)
    html = page.content.decode()
    assert page.status_code == 200
    assert "summer draft" in html and "spring" in html
    rows = {
        name: row
        for row in re.findall(r"<tr>.*?</tr>", html, re.S)
        for name in ("spring", "summer draft")
        if f">{name}</a>" in row
    }
    assert (
        'class="field-recipients_count"><a href="/admin/campaigns/recipient/?campaign__id__exact='
        in rows["spring"]
    )
    assert 'class="field-sent_count">' in rows["spring"]
    assert "not enough recipients yet" in rows["spring"]
    assert draft.segment.name in rows["summer draft"]  # the audience column
    assert 'class="field-recipients_count">0<' in rows["summer draft"]


def test_a_draft_page_previews_the_first_member_and_honours_preview_customer(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))

    page = client.get(change_url(shop))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<strong class="preview-subject">Hello c00</strong>' in html
    assert '<pre class="preview-body"' in html
    assert "Not launched yet" in html and 'name="_save"' in html  # still editable

    other = client.get(change_url(shop), {"preview_customer": "c07"}).content.decode()
    assert '<strong class="preview-subject">Hello c07</strong>' in other

    unknown = client.get(change_url(shop), {"preview_customer": "<nobody>"})
    assert unknown.status_code == 200
    assert "Cannot preview: No customer with external id" in unknown.content.decode()
    assert "&lt;nobody&gt;" in unknown.content.decode()  # shown as text, never as markup


def test_a_launched_page_is_read_only_with_report_and_chart(tenant_a, converted):
    client = signed_in(member_of(tenant_a, "analyst"))
    page = client.get(change_url(converted))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html  # frozen once launched
    assert '<strong class="preview-subject">Hello c00</strong>' in html
    assert "Too early to tell" in html  # the verdict, in plain words
    assert "<th>measured recipients</th>" in html and "95% interval" in html
    chart = re.search(r"<svg[^>]*role=\"img\".*?</svg>", html, re.S).group(0)
    assert chart.count("<polyline") == 2 and "treatment" in chart and "control" in chart
    assert "see the list" in html

    # and a change posted anyway is refused
    response = client.post(change_url(converted), {"name": "renamed"})
    assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert Campaign.objects.get(pk=converted.pk).name == "spring"


def test_the_recipients_list_filters_by_campaign_and_finds_a_customer(tenant_a, converted):
    client = signed_in(member_of(tenant_a, "viewer"))
    listing = client.get("/admin/campaigns/recipient/", {"campaign__id__exact": converted.pk})
    assert listing.status_code == 200
    assert listing.content.decode().count('class="field-customer_external_id"') == 20
    found = client.get("/admin/campaigns/recipient/", {"q": "c03"}).content.decode()
    assert found.count('class="field-customer_external_id"') == 1 and "c03" in found


# --- actions -----------------------------------------------------------------------------------


def test_launching_freezes_the_recipients_and_launching_again_is_an_error(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))

    code, said = act(client, "launch", shop)
    assert code == 200
    assert said[0][0] == "success" and "spring: launched to 20 customer(s)" in said[0][1]
    assert status_of(tenant_a, shop) == "sending"
    with tenant_scope(tenant_a):
        assert Recipient.objects.filter(campaign=shop).count() == 20

    code, said = act(client, "launch", shop)
    assert code == 200
    assert said == [("error", "Campaign 'spring' is sending; it cannot launch.")]
    with tenant_scope(tenant_a):
        assert Recipient.objects.filter(campaign=shop).count() == 20


def test_pause_resume_and_cancel_each_report_per_campaign(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))
    draft = CampaignFactory(tenant=tenant_a, name="autumn")
    launch(tenant_a, shop)

    code, said = act(client, "pause", shop, draft)
    assert code == 200 and status_of(tenant_a, shop) == "paused"
    assert said == [
        ("error", "Campaign 'autumn' is draft; it cannot pause."),
        ("success", "spring: paused after the batch in flight."),
    ]
    act(client, "resume", shop)
    assert status_of(tenant_a, shop) == "sending"
    code, said = act(client, "cancel", shop)
    assert status_of(tenant_a, shop) == "cancelled" and said[0][0] == "success"
    with tenant_scope(tenant_a):
        assert not Recipient.objects.filter(campaign=shop, status="pending").exists()


def test_a_viewer_is_offered_no_lifecycle_action(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "viewer"))
    assert 'value="launch"' not in client.get(CHANGELIST).content.decode()
    act(client, "launch", shop)
    assert status_of(tenant_a, shop) == "draft"


# --- the form ----------------------------------------------------------------------------------


def form_data(tenant, audience, **changes) -> dict:
    data = {
        "tenant": tenant.pk, "name": "winter", "segment": audience.pk, "model_segment": "",
        "channel": "email", "recommendations": 0, "recommendations_category": "",
        "scheduled_at_0": "", "scheduled_at_1": "", "holdout_share": 0.1,
        "attribution_days": 3, "conversion_kind": "purchase", "frequency_cap": "",
        "frequency_cap_days": 7,
        "variants": json.dumps([{"name": "a", "subject": "Hi {{ customer.external_id }}",
                                 "body": "Hello"}]),
    }  # fmt: skip
    return {**data, **changes}


def test_a_broken_template_is_a_form_error_naming_the_variant(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))
    broken = json.dumps([
        {"name": "a", "subject": "Hi", "body": "Hello"},
        {"name": "b", "subject": "Hi", "body": "{% for p in recommendations %}"},
    ])  # fmt: skip
    response = client.post(f"{CHANGELIST}add/", form_data(tenant_a, shop.segment, variants=broken))
    assert response.status_code == 200
    assert "variants[1].body: template error" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not Campaign.objects.filter(name="winter").exists()


def test_an_analyst_creates_and_edits_a_draft_through_the_form(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))
    no_audience = client.post(f"{CHANGELIST}add/", form_data(tenant_a, shop.segment, segment=""))
    assert "Choose exactly one audience" in no_audience.content.decode()

    created = client.post(f"{CHANGELIST}add/", form_data(tenant_a, shop.segment))
    assert created.status_code == 302, created.content.decode()
    with tenant_scope(tenant_a):
        winter = Campaign.objects.get(name="winter")
    assert (winter.status, winter.segment_id) == ("draft", shop.segment_id)

    taken = client.post(change_url(winter), form_data(tenant_a, shop.segment, name="spring"))
    assert "This tenant already has a campaign with this name." in taken.content.decode()
    renamed = client.post(change_url(winter), form_data(tenant_a, shop.segment, name="frost"))
    assert renamed.status_code == 302
    with tenant_scope(tenant_a):
        assert Campaign.objects.get(pk=winter.pk).name == "frost"


def test_a_sending_campaign_cannot_be_deleted_but_a_draft_can(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "analyst"))
    draft = CampaignFactory(tenant=tenant_a, name="autumn")
    launch(tenant_a, shop)
    assert client.post(f"{CHANGELIST}{shop.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{CHANGELIST}{draft.pk}/delete/", {"post": "yes"}).status_code == 302
    with tenant_scope(tenant_a):
        assert list(Campaign.objects.values_list("name", flat=True)) == ["spring"]


# --- tenancy -----------------------------------------------------------------------------------


def test_a_member_of_another_tenant_sees_none_of_it(tenant_a, tenant_b, converted):
    CampaignFactory(tenant=tenant_b, name="theirs")
    client = signed_in(member_of(tenant_b, "owner"))

    listing = client.get(CHANGELIST).content.decode()
    assert "theirs" in listing and "spring" not in listing
    page = client.get(change_url(converted), follow=True)
    # the admin answers "doesn't exist" (a redirect home, as for every tenant-owned admin)
    assert page.redirect_chain == [("/admin/", 302)]
    assert "doesn’t exist" in page.content.decode() and "Hello c00" not in page.content.decode()
    recipients = client.get("/admin/campaigns/recipient/").content.decode()
    assert "c00" not in recipients
    act(client, "cancel", converted)
    assert status_of(tenant_a, converted) == "sending"


# --- the chart ---------------------------------------------------------------------------------


def day(day: str, treated: int, control: int, n: int = 10) -> dict:
    return {"day": day, "treatment": treated, "control": control,
            "treatment_rate": treated / n, "control_rate": control / n}  # fmt: skip


def test_the_chart_draws_one_line_per_group_with_a_legend_and_scale():
    svg = cumulative_conversions_svg([day("2026-03-01", 1, 0), day("2026-03-02", 3, 1)])
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert ">treatment</text>" in svg and ">control</text>" in svg
    assert "2 day(s) from 2026-03-01" in svg and "(0-37.5%)" in svg  # 30% plus headroom


def test_the_chart_handles_empty_one_day_and_missing_groups_and_escapes_text():
    assert "<svg" not in cumulative_conversions_svg([])
    one = {**day("<b>", 0, 0), "control_rate": None}
    svg = cumulative_conversions_svg([one])
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert "control (no recipients)" in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_the_list_costs_a_report_per_launched_campaign_and_no_more(tenant_a, shop):
    client = signed_in(member_of(tenant_a, "viewer"))
    counts = []
    for name in ("one", "two"):
        launch(tenant_a, CampaignFactory(tenant=tenant_a, name=name))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(CHANGELIST).status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[1] - counts[0] == 3  # campaign_report's three queries; counts are subqueries
