"""Sending a launched campaign (the writes of delivery; `campaigns.tasks` calls them).

A sender works through the treatment recipients in batches:

1. it holds the campaign's sender lock (a PostgreSQL session advisory lock: released by
   the server when the worker's connection dies, so a killed worker never blocks a retry);
2. it claims a batch of pending recipients (`pending` -> `sending`, attempts + 1) and
   commits, so the claim survives the worker;
3. it computes the batch's recommendations in one go, renders each message, and
   re-checks consent: a customer who unsubscribed since the launch is excluded, not sent;
4. the channel delivers, and each outcome is recorded as soon as it is known (per email,
   per webhook POST): `sent`, or `pending` again with a later `retry_at`, or `failed` after
   the last attempt, each with its reason.

Nobody gets a campaign twice: the unique (campaign, customer) recipient row is the only
place a send is tracked, and only `pending` rows are claimed. A sender that finds rows
still `sending` while holding the lock knows their worker died between delivering and
recording; those few (at most one email, or one webhook batch) are sent again with the
same idempotency key (Message-ID, webhook `message_id` / `X-Delivery-Id`), so a receiver
drops the copy. The holdout (`held_out`) and excluded rows are never claimed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import F, Min, Q
from django.urls import reverse
from django.utils import timezone

from campaigns.channels import (
    CHANNELS,
    Channel,
    DeliveryResult,
    EmailChannel,
    Message,
    WebhookChannel,
    unsubscribe_token,
)
from campaigns.models import Campaign, Recipient
from campaigns.rendering import CompiledVariant, compile_variants, customer_context, render
from recommender.serving import recommendations_for_customers
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.models import Tenant

logger = logging.getLogger(__name__)
_LOCK_NAMESPACE = 0x43 << 56  # high byte "C": keeps campaign locks apart from other locks
NO_CONSENT_NOW = "no consent at send time"
TEMPLATE_ERROR = "template error"  # not retried: the same data renders the same way


# --- where messages go -----------------------------------------------------------------------


def webhook_settings(tenant: Tenant) -> tuple[str, str]:
    """The tenant's webhook URL and signing secret (tenant settings `campaigns.webhook_url`
    and `campaigns.webhook_secret`), checked; a Conflict says what is missing or refused."""
    config = (tenant.settings or {}).get("campaigns", {})
    url, secret = str(config.get("webhook_url") or ""), str(config.get("webhook_secret") or "")
    if not url or not secret:
        raise Conflict(
            "The webhook channel needs the tenant settings campaigns.webhook_url and "
            "campaigns.webhook_secret."
        )
    check_webhook_url(url)
    return url, secret


def check_webhook_url(url: str) -> None:
    """Refuse URLs that are not http(s) or that resolve to private, loopback, link-local or
    reserved addresses (the platform must not be a way into its own network), unless
    CAMPAIGN_WEBHOOK_ALLOW_PRIVATE is set."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Conflict(f"Webhook URL {url!r} is not an http(s) URL.")
    if settings.CAMPAIGN_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise Conflict(f"Webhook host {parts.hostname!r} does not resolve: {error}.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Conflict(f"Webhook host {parts.hostname!r} resolves to a non-public address.")


def channel_for(tenant: Tenant, campaign: Campaign) -> Channel:
    if campaign.channel == Campaign.Channel.WEBHOOK:
        url, secret = webhook_settings(tenant)
        return WebhookChannel(
            url, secret, timeout=settings.CAMPAIGN_WEBHOOK_TIMEOUT,
            retries=settings.CAMPAIGN_WEBHOOK_ATTEMPTS,
            backoff=settings.CAMPAIGN_WEBHOOK_BACKOFF_MS / 1000,
        )  # fmt: skip
    if campaign.channel == Campaign.Channel.EMAIL:
        sender = (tenant.settings or {}).get("campaigns", {}).get("from_email")
        return EmailChannel(from_email=sender or None)
    raise Conflict(f"Unknown channel {campaign.channel!r}; known: {sorted(CHANNELS)}.")


def unsubscribe_url(tenant_id: int, customer_id: int) -> str:
    token = unsubscribe_token(tenant_id, customer_id)
    # One reverse() per process, not per message: the token is the only part that varies.
    before, after = _unsubscribe_pattern()
    return f"{settings.PUBLIC_BASE_URL}{before}{token}{after}"


@lru_cache(maxsize=1)
def _unsubscribe_pattern() -> tuple[str, str]:
    path = reverse("unsubscribe", args=["TOKEN"])
    before, _, after = path.partition("TOKEN")
    return before, after


def message_id(tenant_id: int, campaign_id: int, recipient_id: int) -> str:
    host = urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"
    return f"<mip.{tenant_id}.{campaign_id}.{recipient_id}@{host}>"


def campaign_picks(tenant: Tenant, campaign: Campaign, customer_ids: list[int]) -> dict[int, list]:
    """The campaign's personalised products for these customers, scored as one batch."""
    if not campaign.recommendations or not customer_ids:
        return {}
    with tenant_scope(tenant):
        return recommendations_for_customers(
            tenant=tenant, customer_ids=customer_ids, limit=campaign.recommendations,
            category=campaign.recommendations_category or None,
        )  # fmt: skip


def message_context(
    campaign: Campaign, external_id: str, email: str, attributes: dict | None, picks: list,
    url: str,
) -> dict:  # fmt: skip
    """The variables one recipient's templates see (campaigns.rendering lists them)."""
    return {
        "customer": customer_context(external_id, email, attributes),
        "recommendations": picks,
        "campaign": {"name": campaign.name},
        "unsubscribe_url": url,
    }


# --- the sender lock -------------------------------------------------------------------------


@contextmanager
def sender_lock(campaign_id: int) -> Iterator[bool]:
    """True when this process may send the campaign. On PostgreSQL a session advisory lock;
    on the embedded default (one process, eager tasks) always True."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = _LOCK_NAMESPACE | int(campaign_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- one batch -------------------------------------------------------------------------------


@dataclass
class _Claimed:
    recipient_id: int
    customer_id: int
    external_id: str
    email: str
    opted_in: bool
    attributes: dict
    variant: str
    attempts: int


@dataclass
class SendReport:
    """What a call to `campaign_send` did, and why it stopped."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    excluded: int = 0
    batches: int = 0
    stopped: str = ""  # finished, paused, cancelled, busy, waiting, limit
    retry_at: datetime | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "retry_at"}
        out["retry_at"] = self.retry_at.isoformat() if self.retry_at else None
        return out


class _Sender:
    def __init__(self, tenant: Tenant, campaign: Campaign, batch_size: int) -> None:
        self.tenant = tenant
        self.campaign = campaign
        self.batch_size = batch_size
        self.variants: dict[str, CompiledVariant] = compile_variants(campaign.variants)
        self.first_variant = next(iter(self.variants.values()))
        self.channel = channel_for(tenant, campaign)
        self.report = SendReport()

    def claim(self, now: datetime) -> list[_Claimed]:
        with tenant_scope(self.tenant):
            due = Q(retry_at__isnull=True) | Q(retry_at__lte=now)
            ids = list(
                Recipient.objects.select_for_update(skip_locked=True)
                .filter(campaign=self.campaign, status=Recipient.Status.PENDING)
                .filter(due)
                .order_by("id")
                .values_list("id", flat=True)[: self.batch_size]
            )
            if not ids:
                return []
            Recipient.objects.filter(pk__in=ids).update(
                status=Recipient.Status.SENDING, attempts=F("attempts") + 1
            )
            rows = Recipient.objects.filter(pk__in=ids).order_by("id").values_list(
                "id", "customer_id", "customer__external_id", "customer__email",
                "customer__email_opt_in", "customer__attributes", "variant", "attempts",
            )  # fmt: skip
            return [_Claimed(*row) for row in rows]

    def messages(self, claimed: list[_Claimed]) -> tuple[list[Message], list[DeliveryResult]]:
        """The batch's messages, and failures known before sending (template errors)."""
        campaign, tenant_id = self.campaign, self.tenant.pk
        reachable, unreachable = [], []
        for c in claimed:
            customer = SimpleNamespace(external_id=c.external_id, email=c.email,
                                       email_opt_in=c.opted_in)  # fmt: skip
            (reachable if self.channel.can_reach(customer) else unreachable).append(c.recipient_id)
        if unreachable:
            self._exclude(unreachable)
        reachable_ids = set(reachable)
        reachable = [c for c in claimed if c.recipient_id in reachable_ids]
        picks = campaign_picks(self.tenant, campaign, [c.customer_id for c in reachable])
        messages, failures = [], []
        for c in reachable:
            url = unsubscribe_url(tenant_id, c.customer_id)
            context = message_context(campaign, c.external_id, c.email, c.attributes,
                                      picks.get(c.customer_id, []), url)  # fmt: skip
            variant = self.variants.get(c.variant, self.first_variant)
            try:
                subject, body = render(variant, context)
            except Exception as error:  # noqa: BLE001 (bad data for one recipient fails it only)
                reason = f"{TEMPLATE_ERROR}: {type(error).__name__}: {error}"
                failures.append(DeliveryResult(c.recipient_id, ok=False, error=reason))
                continue
            messages.append(Message(
                recipient_id=c.recipient_id, customer_external_id=c.external_id,
                address=self.channel.address_for(SimpleNamespace(
                    external_id=c.external_id, email=c.email)),
                subject=subject, body=body, unsubscribe_url=url, variant=variant.name,
                message_id=message_id(tenant_id, campaign.pk, c.recipient_id),
            ))  # fmt: skip
        return messages, failures

    def _exclude(self, recipient_ids: list[int]) -> None:
        with tenant_scope(self.tenant):
            Recipient.objects.filter(pk__in=recipient_ids).update(
                status=Recipient.Status.EXCLUDED, excluded_reason=NO_CONSENT_NOW
            )
        self.report.excluded += len(recipient_ids)

    def record(self, results: list[DeliveryResult], attempts: dict[int, int]) -> None:
        """Write outcomes at once (one transaction): sent, retry later, or failed for good."""
        now = timezone.now()
        sent = [r.recipient_id for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        if sent:
            _mark_sent(self.tenant.pk, sent, now)
            self.report.sent += len(sent)
        if not failed:
            return
        with tenant_scope(self.tenant):
            groups: dict[tuple[bool, int, str], list[int]] = {}
            for result in failed:
                tries = attempts.get(result.recipient_id, settings.CAMPAIGN_MAX_ATTEMPTS)
                final = tries >= settings.CAMPAIGN_MAX_ATTEMPTS or result.error.startswith(
                    TEMPLATE_ERROR
                )
                groups.setdefault((final, tries, result.error[:2000]), []).append(
                    result.recipient_id
                )
            for (final, tries, error), ids in groups.items():
                delay = timedelta(seconds=settings.CAMPAIGN_RETRY_SECONDS * 2 ** (tries - 1))
                Recipient.objects.filter(pk__in=ids).update(
                    status=Recipient.Status.FAILED if final else Recipient.Status.PENDING,
                    retry_at=None if final else now + delay,
                    error=error,
                )
                key = error[:200]
                self.report.errors[key] = self.report.errors.get(key, 0) + len(ids)
                if final:
                    self.report.failed += len(ids)
                else:
                    self.report.retrying += len(ids)

    def send_batch(self, claimed: list[_Claimed]) -> None:
        attempts = {c.recipient_id: c.attempts for c in claimed}
        messages, failures = self.messages(claimed)
        if failures:
            self.record(failures, attempts)
        self.channel.send_batch(
            messages, campaign=self.campaign.pk,
            on_delivered=lambda results: self.record(results, attempts),
        )  # fmt: skip
        self.report.batches += 1


def _mark_sent(tenant_id: int, recipient_ids: list[int], now: datetime) -> None:
    """Record sends, committed at once (see migration 0005 for the PostgreSQL function: one
    round trip, and a commit that does not wait for the WAL flush)."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT campaigns_mark_sent(%s, %s, %s)", [tenant_id, recipient_ids, now]
            )
        return
    with tenant_scope(tenant_id):
        Recipient.objects.filter(pk__in=recipient_ids, status=Recipient.Status.SENDING).update(
            status=Recipient.Status.SENT, sent_at=now, error="", retry_at=None
        )


# --- the loop --------------------------------------------------------------------------------


def _heartbeat(tenant: Tenant, campaign_id: int) -> str:
    """Refresh the heartbeat and read the status, in one short transaction."""
    with tenant_scope(tenant):
        Campaign.objects.filter(pk=campaign_id).update(heartbeat_at=timezone.now())
        return Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)


def _finish(tenant: Tenant, campaign: Campaign, report: SendReport) -> None:
    """No claimable recipient is left: the campaign is sent, or waits for retries."""
    with tenant_scope(tenant):
        left = Recipient.objects.filter(
            campaign=campaign, status__in=[Recipient.Status.PENDING, Recipient.Status.SENDING]
        )
        next_retry = left.aggregate(at=Min("retry_at"))["at"]
        if left.exists():
            report.stopped, report.retry_at = "waiting", next_retry
            return
        now = timezone.now()
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.SENT, finished_at=now, heartbeat_at=now
        )
        report.stopped = "finished"


def recover_in_doubt(*, tenant: Tenant, campaign: Campaign) -> int:
    """Rows left `sending` by a dead worker go back to `pending` (called under the lock)."""
    with tenant_scope(tenant):
        return Recipient.objects.filter(campaign=campaign, status=Recipient.Status.SENDING).update(
            status=Recipient.Status.PENDING, retry_at=None
        )


def campaign_send(
    *, tenant_id: int, campaign_id: int, batch_size: int | None = None,
    max_batches: int | None = None,
) -> SendReport:  # fmt: skip
    """Send the campaign's pending treatment recipients, batch after batch, until none is
    due, the campaign is paused or cancelled, or `max_batches` were sent. Safe to call
    twice at once (the second gets `busy`) and after a worker died (see the module doc)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with sender_lock(campaign_id) as held:
        if not held:
            return SendReport(stopped="busy")
        with tenant_scope(tenant):
            campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.status != Campaign.Status.SENDING:
            return SendReport(stopped=campaign.status)
        in_doubt = recover_in_doubt(tenant=tenant, campaign=campaign)
        if in_doubt:
            logger.warning(
                "campaign %s: %s recipient(s) in doubt sent again", campaign_id, in_doubt
            )
        sender = _Sender(tenant, campaign, batch_size or settings.CAMPAIGN_BATCH_SIZE)
        while True:
            status = _heartbeat(tenant, campaign_id)
            if status != Campaign.Status.SENDING:
                sender.report.stopped = status
                return sender.report
            if max_batches is not None and sender.report.batches >= max_batches:
                sender.report.stopped = "limit"
                return sender.report
            claimed = sender.claim(timezone.now())
            if not claimed:
                _finish(tenant, campaign, sender.report)
                return sender.report
            sender.send_batch(claimed)
