"""Sending a campaign: batches personalised with recommendations, consent checked again at
send time, each outcome recorded as it happens, so a worker that dies mid-send sends
nobody twice and everybody once; pause, resume, cancel and bounded retries."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.utils import timezone

from campaigns import delivery, services
from campaigns.channels import verify_signature
from campaigns.models import Campaign, Recipient
from campaigns.selectors import campaign_report
from customers.models import Customer, Interaction, Product
from tenants.context import tenant_scope
from tests.factories import CampaignFactory, SegmentFactory, TenantFactory
from training import services as training
from training.selectors import model_cache

pytestmark = pytest.mark.django_db
EVERYONE = {"field": "external_id", "op": "startswith", "value": "c"}
BODY = (
    "Hi {{ customer.external_id }} from {{ customer.country }},\n"
    "{% for p in recommendations %}* {{ p.title }} [{{ p.external_id }}]\n{% endfor %}"
    "Bye: {{ unsubscribe_url }}"
)
PICKED = re.compile(r"\[([^\]]+)\]")


@pytest.fixture
def shop(artifact_root, settings):
    """A small demo shop with a trained popularity model, sent through the in-memory
    email backend in batches of 25."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_BATCH_SIZE = 25
    settings.CAMPAIGN_RETRY_SECONDS = 0
    tenant = TenantFactory(slug="mailshop")
    call_command("load_demo_data", "mailshop", customers=200, products=40, days=60, seed=4,
                 verbosity=0)  # fmt: skip
    model_cache.clear()
    training.training_run_train_now(tenant=tenant, kind="popularity")
    return tenant


def _campaign(tenant, **fields) -> Campaign:
    defaults = {
        "segment": SegmentFactory(tenant=tenant, filter=EVERYONE),
        "variants": [{"name": "a", "subject": "For {{ customer.external_id }}", "body": BODY}],
        "recommendations": 3, "holdout_share": 0.2,
    }  # fmt: skip
    return CampaignFactory(tenant=tenant, **(defaults | fields))


def _rows(tenant, campaign) -> dict[str, Recipient]:
    with tenant_scope(tenant):
        return {
            r.customer.external_id: r
            for r in Recipient.objects.filter(campaign=campaign).select_related("customer")
        }


def _to(message) -> str:
    return message.to[0].split("@")[0]


def test_each_consenting_treatment_customer_gets_one_personalised_email(shop):
    # given a launched campaign with three recommendations per customer
    campaign = _campaign(shop)
    services.campaign_launch(tenant=shop, campaign=campaign)

    # when a worker sends it
    report = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)

    # then every treatment recipient with consent got exactly one email, nobody else did
    rows = _rows(shop, campaign)
    expected = {c for c, r in rows.items() if r.status == "sent"}
    got = Counter(_to(m) for m in mail.outbox)
    assert set(got) == expected and set(got.values()) == {1}
    assert report.sent == len(expected) and report.stopped == "finished"
    assert not any(r.group == "control" and c in got for c, r in rows.items())
    with tenant_scope(shop):
        opted_in = dict(Customer.objects.values_list("external_id", "email_opt_in"))
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SENT
        bought = set(
            Interaction.objects.filter(kind="purchase")
            .values_list("customer__external_id", "product__external_id")
        )  # fmt: skip
        active = set(Product.objects.filter(is_active=True).values_list("external_id", flat=True))
    assert all(opted_in[c] for c in got)
    assert {r.excluded_reason for r in rows.values() if r.status == "excluded"} <= {
        "no consent", "no address",
    }  # fmt: skip
    # and each body carries that customer's own three active, not yet bought products
    for message in mail.outbox:
        customer = _to(message)
        assert message.subject == f"For {customer}"
        picks = PICKED.findall(message.body)
        assert len(picks) == 3 and set(picks) <= active
        assert not {(customer, p) for p in picks} & bought
        assert "/u/" in message.body and message.extra_headers["Message-ID"]
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == len(mail.outbox)


def test_a_customer_who_unsubscribes_after_launch_is_not_sent(shop):
    # given a launched campaign and a treatment recipient who then withdraws consent
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    pending = next(c for c, r in _rows(shop, campaign).items() if r.status == "pending")
    with tenant_scope(shop):
        Customer.objects.filter(external_id=pending).update(email_opt_in=False)

    # when the campaign is sent
    delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)

    # then they got nothing, and the report says why
    assert pending not in {_to(m) for m in mail.outbox}
    row = _rows(shop, campaign)[pending]
    assert (row.status, row.excluded_reason) == ("excluded", delivery.NO_CONSENT_NOW)


def test_the_unsubscribe_link_in_an_email_works(shop, client):
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)
    message = mail.outbox[0]
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert link in message.body
    path = link.removeprefix("http://127.0.0.1:8000")

    # a GET (a mail scanner following links) only asks
    asked = client.get(path)
    assert asked.status_code == 200 and b"<form" in asked.content
    with tenant_scope(shop):
        assert Customer.objects.get(external_id=_to(message)).email_opt_in is True

    # the RFC 8058 one-click POST unsubscribes, and again is harmless
    for _ in range(2):
        done = client.post(path, {"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and b"unsubscribed" in done.content
    with tenant_scope(shop):
        assert Customer.objects.get(external_id=_to(message)).email_opt_in is False

    # a tampered link is a clear 400
    bad = client.post(path[:-3] + "xx/")
    assert bad.status_code == 400 and b"invalid unsubscribe link" in bad.content


class WorkerDied(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no except clause catches it."""


class DyingBackend(LocmemBackend):
    """Delivers normally until the 30th message, then dies before or after delivering it."""

    after_delivery = False
    count = 0

    def send_messages(self, messages):
        for message in messages:
            DyingBackend.count += 1
            if DyingBackend.count == 30 and not DyingBackend.after_delivery:
                raise WorkerDied
            super().send_messages([message])
            if DyingBackend.count == 30:
                raise WorkerDied
        return len(messages)


@pytest.mark.parametrize("after_delivery", [False, True], ids=["before", "after-delivery"])
def test_a_worker_dying_mid_send_then_retried_sends_everybody_once(shop, settings, after_delivery):
    # given a campaign whose worker dies at the 30th message, in its second batch
    settings.EMAIL_BACKEND = f"{__name__}.DyingBackend"
    DyingBackend.count, DyingBackend.after_delivery = 0, after_delivery
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    with pytest.raises(WorkerDied):
        delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)
    assert len(mail.outbox) == 29 + after_delivery

    # when the task is retried
    report = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)

    # then every treatment recipient has been sent, and only the message in doubt (delivered
    # but not recorded when the worker died) went out twice, with one Message-ID for both
    rows = _rows(shop, campaign)
    sent = {c for c, r in rows.items() if r.status == "sent"}
    assert report.stopped == "finished" and sent
    assert not [r for r in rows.values() if r.status in ("pending", "sending")]
    got = Counter(_to(m) for m in mail.outbox)
    assert set(got) == sent
    twice = [c for c, n in got.items() if n > 1]
    if after_delivery:
        assert len(twice) == 1
        copies = {m.extra_headers["Message-ID"] for m in mail.outbox if _to(m) == twice[0]}
        assert len(copies) == 1
    else:
        assert twice == []


def test_pause_stops_after_the_batch_and_resume_carries_on(shop):
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    first = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk, max_batches=1)
    assert first.sent == 25 and first.stopped == "limit"

    services.campaign_pause(tenant=shop, campaign=campaign)
    paused = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)
    assert paused.sent == 0 and paused.stopped == "paused" and len(mail.outbox) == 25

    services.campaign_resume(tenant=shop, campaign=campaign)
    rest = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)
    assert rest.stopped == "finished"
    assert len(mail.outbox) == len({_to(m) for m in mail.outbox}) == 25 + rest.sent


def test_cancel_sends_nobody_else_and_keeps_who_was_sent(shop):
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk, max_batches=1)

    services.campaign_cancel(tenant=shop, campaign=campaign)
    after = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)

    assert after.stopped == "cancelled" and len(mail.outbox) == 25
    statuses = Counter(r.status for r in _rows(shop, campaign).values())
    assert statuses["sent"] == 25 and statuses["pending"] == 0
    reasons = Counter(r.excluded_reason for r in _rows(shop, campaign).values())
    assert reasons[services.CANCELLED] > 0


class RefusingBackend(LocmemBackend):
    """Refuses one address every time."""

    refused = ""

    def send_messages(self, messages):
        for message in messages:
            if message.to[0].startswith(RefusingBackend.refused + "@"):
                raise ConnectionError("mailbox unavailable")
        return super().send_messages(messages)


def test_a_failing_send_is_retried_a_bounded_number_of_times_then_recorded(shop, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    campaign = _campaign(shop, recommendations=0)
    services.campaign_launch(tenant=shop, campaign=campaign)
    RefusingBackend.refused = next(
        c for c, r in _rows(shop, campaign).items() if r.status == "pending"
    )

    settings.CAMPAIGN_RETRY_SECONDS = 60
    reports = []
    for _ in range(3):
        reports.append(delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk))
        with tenant_scope(shop):  # the retry's time comes
            Recipient.objects.filter(campaign=campaign, retry_at__isnull=False).update(
                retry_at=timezone.now()
            )

    # then the first two sends waited for a retry, and the third recorded the failure
    assert [(r.stopped, r.retrying, r.failed) for r in reports] == [
        ("waiting", 1, 0), ("waiting", 1, 0), ("finished", 0, 1),
    ]  # fmt: skip
    row = _rows(shop, campaign)[RefusingBackend.refused]
    assert (row.status, row.attempts) == ("failed", 3)
    assert "mailbox unavailable" in row.error
    with tenant_scope(shop):
        campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_webhook_campaign_posts_signed_batches_and_records_a_failing_endpoint(
    shop, settings, receiver
):
    settings.CAMPAIGN_WEBHOOK_ALLOW_PRIVATE = True
    settings.CAMPAIGN_MAX_ATTEMPTS = 2
    settings.CAMPAIGN_RETRY_SECONDS = 60
    settings.CAMPAIGN_WEBHOOK_ATTEMPTS = 2
    settings.CAMPAIGN_WEBHOOK_BACKOFF_MS = 1
    server = receiver(200)
    shop.settings = {"campaigns": {"webhook_url": server.url, "webhook_secret": "k3y"}}
    shop.save()
    campaign = _campaign(shop, channel="webhook", recommendations=2)
    launched = services.campaign_launch(tenant=shop, campaign=campaign)

    report = delivery.campaign_send(tenant_id=shop.pk, campaign_id=campaign.pk)

    # every treatment recipient (consent is not needed for the tenant's own system) went
    # out in signed batches of at most 25
    assert report.sent == launched["pending"] and report.stopped == "finished"
    assert all(verify_signature("k3y", r["body"], r["headers"]["X-Signature"])
               for r in server.requests)  # fmt: skip
    assert len(server.requests) == -(-report.sent // 25)

    # and an endpoint that keeps failing leaves every recipient failed with the reason
    failing = receiver(503)
    shop.settings["campaigns"]["webhook_url"] = failing.url
    shop.save()
    second = _campaign(shop, channel="webhook", recommendations=0)
    pending = services.campaign_launch(tenant=shop, campaign=second)["pending"]
    first = delivery.campaign_send(tenant_id=shop.pk, campaign_id=second.pk)
    with tenant_scope(shop):  # the retry's time comes
        Recipient.objects.filter(campaign=second).update(retry_at=timezone.now())
    again = delivery.campaign_send(tenant_id=shop.pk, campaign_id=second.pk)
    assert first.stopped == "waiting" and again.stopped == "finished"
    assert first.retrying == again.failed == pending
    assert len(failing.requests) == 2 * 2 * -(-again.failed // 25)  # 2 sends x 2 POSTs
    rows = [r for r in _rows(shop, second).values() if r.group == "treatment"]
    assert {(r.status, r.attempts) for r in rows} == {("failed", 2)}
    assert all("HTTP 503" in r.error for r in rows)


def test_a_webhook_to_a_private_address_is_refused_at_launch(shop):
    shop.settings = {"campaigns": {"webhook_url": "http://127.0.0.1:9/x", "webhook_secret": "k"}}
    shop.save()
    campaign = _campaign(shop, channel="webhook")
    from tenants.errors import Conflict

    with pytest.raises(Conflict, match="non-public address"):
        services.campaign_launch(tenant=shop, campaign=campaign)


def test_end_to_end_the_report_recovers_an_effect_planted_after_real_sends(tenant_a, settings):
    # given 1,500 opted-in customers and a campaign with a 30% holdout
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with tenant_scope(tenant_a):
        Customer.objects.bulk_create(
            Customer(tenant=tenant_a, external_id=f"c{i:04d}", email=f"c{i}@x.test",
                     email_opt_in=True)
            for i in range(1500)
        )  # fmt: skip
    campaign = _campaign(tenant_a, recommendations=0, holdout_share=0.3)

    # when it is launched and sent, and customers buy: 25% of those emailed within a day of
    # their email, 10% of the holdout within a day of the launch, everyone again a week on
    services.campaign_launch(tenant=tenant_a, campaign=campaign)
    delivery.campaign_send(tenant_id=tenant_a.pk, campaign_id=campaign.pk)
    rng = np.random.default_rng(11)
    with tenant_scope(tenant_a):
        campaign.refresh_from_db()
        rows = Recipient.objects.filter(campaign=campaign, status__in=["sent", "held_out"])
        events = []
        for i, (customer, group, sent_at) in enumerate(
            rows.order_by("customer_id").values_list("customer_id", "group", "sent_at")
        ):
            start = sent_at or campaign.launched_at
            if rng.random() < (0.25 if group == "treatment" else 0.10):
                events.append((customer, start + timedelta(hours=20), f"in-{i}"))
            events.append((customer, start + timedelta(days=7), f"late-{i}"))
        Interaction.objects.bulk_create(
            Interaction(tenant=tenant_a, customer_id=c, kind="purchase", value=20.0,
                        occurred_at=t, event_id=e)
            for c, t, e in events
        )  # fmt: skip
        report = campaign_report(tenant=tenant_a, campaign=campaign)

    # then the report finds the planted +15 points (0.06 is about 3 standard errors)
    assert len(mail.outbox) == report["groups"]["treatment"]["recipients"]
    assert report["uplift"]["absolute"] == pytest.approx(0.15, abs=0.06)
    assert report["uplift"]["verdict"] == "significant uplift"
    assert report["uplift"]["p_value"] < 0.001
    assert report["daily"][-1]["treatment"] == report["groups"]["treatment"]["conversions"]
