"""Segments in the admin: sizes in the list, members on the page, filters validated."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from campaigns.models import Segment
from tenants.context import tenant_scope
from tests.campaigns.helpers import cond
from tests.factories import CustomerFactory, SegmentFactory, member_of

pytestmark = pytest.mark.django_db

OPTED_IN = cond("email_opt_in", "eq", True)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def opted_in(tenant_a):
    """Three opted-in customers of A, one opted out, and A's segment of the opted-in."""
    for i, opt_in in enumerate([True, True, True, False]):
        CustomerFactory(tenant=tenant_a, external_id=f"c{i}", email_opt_in=opt_in)
    return SegmentFactory(tenant=tenant_a, name="newsletter", filter=OPTED_IN)


def test_the_list_shows_each_segments_size(opted_in, tenant_a, tenant_b):
    SegmentFactory(tenant=tenant_a, name="nobody", filter=cond("external_id", "eq", "zz"))
    SegmentFactory(tenant=tenant_b, name="theirs")
    page = signed_in(member_of(tenant_a, "viewer")).get("/admin/campaigns/segment/")
    html = page.content.decode()
    assert page.status_code == 200
    sizes = dict(re.findall(r'<a href="[^"]+">([^<]+)</a></th><td class="field-size">(\d+)', html))
    assert sizes == {"newsletter": "3", "nobody": "0"}  # and nothing of tenant B


def test_the_change_page_shows_a_sample_of_members(opted_in, tenant_a):
    page = signed_in(member_of(tenant_a, "viewer")).get(
        f"/admin/campaigns/segment/{opted_in.pk}/change/"
    )
    html = page.content.decode()
    assert "3 customer(s) now; the first 3 by external id:" in html
    assert (
        "<th>Members</th><td>3</td>" in html and "<th>Opted in to email</th><td>100.0%</td>" in html
    )
    assert re.findall(r'/admin/customers/customer/\d+/change/">(c\d)</a>', html) == [
        "c0", "c1", "c2",
    ]  # fmt: skip


def test_an_analyst_adds_a_segment_and_a_bad_filter_is_a_form_error(tenant_a):
    analyst = member_of(tenant_a, "analyst")
    client = signed_in(analyst)
    form = {"tenant": tenant_a.pk, "name": "vip", "description": ""}

    # when the filter is invalid, the form says where
    bad = client.post("/admin/campaigns/segment/add/", {**form, "filter": '{"and": []}'})
    assert bad.status_code == 200
    assert "filter.and: must be a non-empty list of nodes" in bad.content.decode()

    # when it is valid, the segment is saved with its author
    good = client.post("/admin/campaigns/segment/add/", {**form, "filter": json.dumps(OPTED_IN)})
    assert good.status_code == 302, good.content.decode()
    with tenant_scope(tenant_a):
        segment = Segment.objects.get(name="vip")
    assert (segment.filter, segment.created_by_id) == (OPTED_IN, analyst.pk)


def test_renaming_to_a_taken_name_is_a_form_error(opted_in, tenant_a):
    SegmentFactory(tenant=tenant_a, name="taken")
    client = signed_in(member_of(tenant_a, "analyst"))
    response = client.post(
        f"/admin/campaigns/segment/{opted_in.pk}/change/",
        {"name": "taken", "description": "", "filter": json.dumps(OPTED_IN)},
    )
    assert response.status_code == 200
    assert "already has a segment with this name" in response.content.decode()
