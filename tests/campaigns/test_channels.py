"""Delivery channels: email through Django's backend, signed webhooks with retries, and
unsubscribe tokens. No database is needed: channels work on plain messages."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from smtplib import SMTPRecipientsRefused
from typing import Any

import pytest
from django.core import mail, signing
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from campaigns.channels import (
    CHANNELS,
    Channel,
    EmailChannel,
    Message,
    UnsubscribeTokenError,
    WebhookChannel,
    read_unsubscribe_token,
    unsubscribe_token,
    verify_signature,
)
from customers.models import Customer
from tests.campaigns.receiver import Receiver

SECRET = "s3cret"


def make_message(recipient_id: int, address: str = "") -> Message:
    return Message(
        recipient_id=recipient_id,
        customer_external_id=f"c{recipient_id}",
        address=address or f"c{recipient_id}@example.com",
        subject=f"Hello {recipient_id}",
        body=f"Picks for you, {recipient_id}",
        unsubscribe_url=f"https://app.example.com/u/token-{recipient_id}/",
        variant="A",
        message_id=f"<m{recipient_id}@example.com>",
    )


class BouncingBackend(LocmemBackend):
    """The locmem backend, except that it refuses one address like an SMTP server would."""

    def send_messages(self, messages):
        for message in messages:
            if "bounce@example.com" in message.to:
                raise SMTPRecipientsRefused({"bounce@example.com": (550, b"no such user")})
        return super().send_messages(messages)


# --- email -----------------------------------------------------------------------------


def test_email_batch_carries_content_and_one_click_unsubscribe_headers(settings):
    # given the in-memory email backend and two messages
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_FROM_EMAIL = "news@shop.example"
    messages = [make_message(1), make_message(2)]

    # when the batch is sent
    results = EmailChannel().send_batch(messages)

    # then both succeed and each email has its content and the RFC 8058 headers
    assert [(r.recipient_id, r.ok) for r in results] == [(1, True), (2, True)]
    assert len(mail.outbox) == 2
    first = mail.outbox[0]
    assert first.to == ["c1@example.com"]
    assert first.from_email == "news@shop.example"
    assert first.subject == "Hello 1"
    assert "Picks for you, 1" in first.body
    assert "https://app.example.com/u/token-1/" in first.body  # visible link too
    assert first.extra_headers["List-Unsubscribe"] == "<https://app.example.com/u/token-1/>"
    assert first.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = first.message().as_string()
    assert "List-Unsubscribe: <https://app.example.com/u/token-1/>" in raw
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    # and the idempotency key is the Message-ID, so a resend can be dropped as a duplicate
    assert "Message-ID: <m1@example.com>" in raw


def test_email_failure_is_a_failed_result_and_the_others_still_go(settings):
    # given a backend that refuses one of three addresses
    settings.EMAIL_BACKEND = f"{__name__}.BouncingBackend"
    messages = [make_message(1), make_message(2, "bounce@example.com"), make_message(3)]

    # when the batch is sent
    results = EmailChannel().send_batch(messages)

    # then the refused one is a failed result with the reason, and the others were sent
    assert [r.ok for r in results] == [True, False, True]
    assert "SMTPRecipientsRefused" in results[1].error
    assert [m.to for m in mail.outbox] == [["c1@example.com"], ["c3@example.com"]]


def test_email_header_injection_in_unsubscribe_url_fails_only_that_message(settings):
    # given a message whose unsubscribe url would inject a header
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    bad = make_message(2)
    bad.unsubscribe_url = "https://x.example/u\nBcc: victim@example.com"

    # when sent alongside a good one
    results = EmailChannel().send_batch([make_message(1), bad])

    # then only the good one leaves
    assert [r.ok for r in results] == [True, False]
    assert len(mail.outbox) == 1


def test_email_can_reach_needs_address_and_consent():
    # given customers with and without an email and consent (unsaved: no database needed)
    channel = EmailChannel()
    consenting = Customer(external_id="a", email="a@example.com", email_opt_in=True)
    no_consent = Customer(external_id="b", email="b@example.com", email_opt_in=False)
    no_address = Customer(external_id="c", email="", email_opt_in=True)

    # when / then only the one with both is reachable
    assert channel.can_reach(consenting) is True
    assert channel.can_reach(no_consent) is False
    assert channel.can_reach(no_address) is False


def test_webhook_consent_is_configurable():
    # given a webhook without and with a consent requirement
    customer = Customer(external_id="a", email="", email_opt_in=False)

    # when / then the default needs only an external id; a configured field must be True
    assert WebhookChannel("http://127.0.0.1:1/", SECRET).can_reach(customer) is True
    strict = WebhookChannel("http://127.0.0.1:1/", SECRET, consent_field="email_opt_in")
    assert strict.can_reach(customer) is False
    assert strict.can_reach(Customer(external_id="", email_opt_in=True)) is False


def test_registry_names_each_channel_class():
    # given / when / then a new channel is one class and one entry
    assert set(CHANNELS) == {"email", "webhook"}
    assert CHANNELS["email"] is EmailChannel and CHANNELS["webhook"] is WebhookChannel
    assert all(issubclass(cls, Channel) for cls in CHANNELS.values())


# --- webhook ---------------------------------------------------------------------------


def channel_for(server: Receiver, **kwargs: Any) -> tuple[WebhookChannel, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("timeout", 2.0)
    return WebhookChannel(server.url, SECRET, sleep=sleeps.append, **kwargs), sleeps


def test_webhook_posts_one_signed_json_body_per_batch(receiver):
    # given a receiver that accepts
    server = receiver(200)
    channel, sleeps = channel_for(server)

    # when a batch of two is sent
    results = channel.send_batch([make_message(1), make_message(2)], campaign=7)

    # then one POST carried both messages, and its signature verifies over the exact bytes
    assert [(r.ok, r.attempts) for r in results] == [(True, 1), (True, 1)]
    assert len(server.requests) == 1 and sleeps == []
    request = server.requests[0]
    payload = json.loads(request["body"])
    assert payload["campaign"] == 7
    assert payload["messages"][1] == {
        "recipient_id": 2,
        "customer_external_id": "c2",
        "address": "c2@example.com",
        "subject": "Hello 2",
        "body": "Picks for you, 2",
        "unsubscribe_url": "https://app.example.com/u/token-2/",
        "variant": "A",
        "message_id": "<m2@example.com>",
    }
    assert request["headers"]["X-Timestamp"] == str(payload["sent_at"])
    signature = request["headers"]["X-Signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, request["body"], signature)
    # and a tampered body, a wrong secret or a malformed header do not verify
    assert not verify_signature(SECRET, request["body"].replace(b"Hello", b"Hellp"), signature)
    assert not verify_signature("other", request["body"], signature)
    assert not verify_signature(SECRET, request["body"], signature.removeprefix("sha256="))
    assert not verify_signature(SECRET, request["body"], "")


def test_webhook_delivery_id_is_the_same_when_the_same_messages_are_sent_again(receiver):
    # given a receiver, and a batch sent twice (a worker died before recording the first)
    server = receiver(200)
    channel, _ = channel_for(server)
    channel.send_batch([make_message(1), make_message(2)])
    channel.send_batch([make_message(1), make_message(2)])
    # then both POSTs carry one delivery id, which the receiver uses to drop the copy,
    # and another batch gets another id
    channel.send_batch([make_message(3)])
    ids = [r["headers"]["X-Delivery-Id"] for r in server.requests]
    assert ids[0] == ids[1] != ids[2]


def test_on_delivered_hears_each_email_as_it_leaves(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    heard: list[list[int]] = []
    EmailChannel().send_batch(
        [make_message(1), make_message(2)],
        on_delivered=lambda results: heard.append([r.recipient_id for r in results]),
    )
    assert heard == [[1], [2]]


def test_webhook_retries_5xx_then_succeeds(receiver):
    # given a receiver failing twice with 500, then accepting
    server = receiver(500, 500, 200)
    channel, sleeps = channel_for(server, retries=3, backoff=0.5)

    # when a batch is sent
    results = channel.send_batch([make_message(1), make_message(2)])

    # then it succeeded on the third attempt, after exponential backoff, same delivery id
    assert [(r.ok, r.attempts) for r in results] == [(True, 3), (True, 3)]
    assert sleeps == [0.5, 1.0]
    assert len({r["headers"]["X-Delivery-Id"] for r in server.requests}) == 1
    assert len(server.requests) == 3


def test_webhook_always_failing_records_every_message_as_failed(receiver):
    # given a receiver that always answers 500
    server = receiver(500)
    channel, sleeps = channel_for(server, retries=3)

    # when a batch of three is sent
    results = channel.send_batch([make_message(1), make_message(2), make_message(3)])

    # then every message has a failed result with the reason and the attempt count
    assert [r.recipient_id for r in results] == [1, 2, 3]
    assert all(not r.ok and r.attempts == 3 for r in results)
    assert all("HTTP 500" in r.error and "3 attempt" in r.error for r in results)
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_webhook_4xx_is_not_retried(receiver):
    # given a receiver rejecting the request with 400
    server = receiver(400)
    channel, sleeps = channel_for(server, retries=3)

    # when a batch is sent
    results = channel.send_batch([make_message(1)])

    # then it failed once, without retry
    assert (results[0].ok, results[0].attempts) == (False, 1)
    assert "HTTP 400" in results[0].error
    assert len(server.requests) == 1 and sleeps == []


def test_webhook_timeout_is_a_failure_and_is_retried(receiver):
    # given a receiver too slow the first time, then prompt
    server = receiver((200, 1.0), 200)
    channel, sleeps = channel_for(server, timeout=0.2, retries=3)

    # when a batch is sent
    results = channel.send_batch([make_message(1)])

    # then the timeout counted as a failed attempt and the retry succeeded
    assert (results[0].ok, results[0].attempts) == (True, 2)
    assert len(sleeps) == 1


def test_webhook_unreachable_host_fails_every_message_after_retries():
    # given a port with nobody listening
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{probe.server_address[1]}/"
    probe.server_close()
    sleeps: list[float] = []
    channel = WebhookChannel(url, SECRET, timeout=1.0, retries=2, sleep=sleeps.append)

    # when a batch is sent
    results = channel.send_batch([make_message(1), make_message(2)])

    # then both are failed with a connection error after two attempts
    assert all(not r.ok and r.attempts == 2 for r in results)
    assert all("connection error" in r.error for r in results)
    assert sleeps == [0.5]


def test_empty_batches_send_nothing():
    # given / when / then
    assert EmailChannel().send_batch([]) == []
    assert WebhookChannel("http://127.0.0.1:1/", SECRET).send_batch([]) == []


# --- unsubscribe tokens ----------------------------------------------------------------


def test_unsubscribe_token_round_trip():
    # given a token for tenant 3, customer 42
    token = unsubscribe_token(3, 42)

    # when it is read back / then the ids come out
    assert read_unsubscribe_token(token) == (3, 42)


def test_tampered_or_foreign_unsubscribe_token_is_rejected():
    # given a valid token
    token = unsubscribe_token(3, 42)
    value, rest = token.split(":", 1)
    changed = ("B" if value[0] == "A" else "A") + value[1:]
    forged = signing.TimestampSigner(salt="something.else").sign_object([3, 43])

    # when / then a changed payload, garbage, or a token signed for another purpose fail
    for bad in (f"{changed}:{rest}", "garbage", "", forged):
        with pytest.raises(UnsubscribeTokenError):
            read_unsubscribe_token(bad)


def test_expired_unsubscribe_token_is_rejected():
    # given a token and a max age it is already older than
    token = unsubscribe_token(3, 42)

    # when / then reading it fails with an expiry message
    with pytest.raises(UnsubscribeTokenError, match="expired"):
        read_unsubscribe_token(token, max_age=-1)
