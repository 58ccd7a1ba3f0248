"""Delivery channels: how a campaign's messages leave the platform.

A channel is a small class behind one interface (`Channel`); adding SMS or push later is a
new subclass plus one entry in `CHANNELS`. Channels never decide *who* is sent: the campaign
layer builds messages only for customers for whom `channel.can_reach(customer)` is True, so a
customer without consent never becomes a `Message` in the first place.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection

logger = logging.getLogger(__name__)


@dataclass
class Message:
    """One rendered message for one campaign recipient."""

    recipient_id: int
    customer_external_id: str
    address: str
    subject: str
    body: str
    unsubscribe_url: str
    variant: str = ""
    # The idempotency key: the same on every attempt for this recipient, so a message
    # resent after a worker died between sending and recording it can be dropped by the
    # receiver as a duplicate (email Message-ID; webhook `message_id`).
    message_id: str = ""


OnDelivered = Callable[[list["DeliveryResult"]], None]


@dataclass
class DeliveryResult:
    """The outcome of one message; `attempts` counts transport attempts (webhook retries)."""

    recipient_id: int
    ok: bool
    error: str = ""
    attempts: int = 1


class Channel(ABC):
    """A way to deliver messages. Subclasses set `name` and `consent_field`."""

    name: str = ""
    # The Customer boolean field that must be True before anything is sent (None: no
    # channel-specific consent is needed, e.g. a webhook into the tenant's own system).
    consent_field: str | None = None

    def address_for(self, customer: Any) -> str:
        """Where this channel delivers to for `customer` ("" when it has nowhere to go)."""
        return str(getattr(customer, "external_id", "") or "")

    def can_reach(self, customer: Any) -> bool:
        """True only when the customer has an address on this channel and has consented."""
        if not self.address_for(customer).strip():
            return False
        if self.consent_field is None:
            return True
        # `is True`: a missing attribute or a truthy non-boolean never counts as consent.
        return getattr(customer, self.consent_field, False) is True

    @abstractmethod
    def send_batch(
        self, messages: list[Message], *, campaign: str | int | None = None,
        on_delivered: OnDelivered | None = None,
    ) -> list[DeliveryResult]:  # fmt: skip
        """Deliver `messages`; return exactly one result per message, in order.

        `on_delivered`, when given, is called with results as soon as they are known (per
        message for email, per POST for a webhook), so the caller can record each outcome
        before the next message leaves. Must not raise for a per-message or transport
        failure: failures are results, so nothing is lost silently.
        """


# --- email -----------------------------------------------------------------------------


class EmailChannel(Channel):
    """Email through Django's configured backend (console, file, SMTP ... by settings)."""

    name = "email"
    consent_field = "email_opt_in"

    def __init__(self, from_email: str | None = None) -> None:
        self.from_email = from_email or getattr(
            settings, "CAMPAIGN_FROM_EMAIL", settings.DEFAULT_FROM_EMAIL
        )

    def address_for(self, customer: Any) -> str:
        return str(getattr(customer, "email", "") or "")

    def send_batch(
        self, messages: list[Message], *, campaign: str | int | None = None,
        on_delivered: OnDelivered | None = None,
    ) -> list[DeliveryResult]:  # fmt: skip
        if not messages:
            return []
        # One connection per batch: an SMTP backend then reuses one session for all messages.
        try:
            connection = get_connection(fail_silently=False)
            connection.open()
        except Exception as exc:  # noqa: BLE001 (a dead backend fails the batch, as results)
            reason = f"email backend unavailable: {_describe(exc)}"
            logger.warning("campaign %s: %s", campaign, reason)
            failed = [DeliveryResult(m.recipient_id, ok=False, error=reason) for m in messages]
            if on_delivered:
                on_delivered(failed)
            return failed
        results: list[DeliveryResult] = []
        try:
            for message in messages:
                result = self._send_one(connection, message)
                results.append(result)
                if on_delivered:
                    on_delivered([result])
        finally:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 (closing must not undo results already sent)
                logger.warning("campaign %s: closing the email connection failed", campaign)
        return results

    def _send_one(self, connection: Any, message: Message) -> DeliveryResult:
        headers = {
            # RFC 2369 + RFC 8058: mail clients show a one-click unsubscribe that POSTs here.
            "List-Unsubscribe": f"<{message.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if message.message_id:
            headers["Message-ID"] = message.message_id
        body = message.body
        if message.unsubscribe_url and message.unsubscribe_url not in body:
            # The header is not shown by every client; the link must also be visible.
            body = f"{body}\n\n--\nUnsubscribe: {message.unsubscribe_url}\n"
        try:
            email = EmailMultiAlternatives(
                subject=message.subject,
                body=body,
                from_email=self.from_email,
                to=[message.address],
                headers=headers,
                connection=connection,
            )
            sent = email.send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 (one bad message must not stop the batch)
            return DeliveryResult(message.recipient_id, ok=False, error=_describe(exc))
        if not sent:
            return DeliveryResult(message.recipient_id, ok=False, error="not accepted by backend")
        return DeliveryResult(message.recipient_id, ok=True)


# --- webhook ---------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
DELIVERY_HEADER = "X-Delivery-Id"
# 408 and 429 are the 4xx answers that mean "try again later"; other 4xx will not improve.
_RETRYABLE_4XX = frozenset({408, 429})


def sign_body(secret: str | bytes, body: bytes) -> str:
    """The `X-Signature` header value: `sha256=<hex HMAC-SHA256 of the exact body bytes>`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """What a receiver runs: True only if `header` signs exactly `body` with `secret`."""
    if not header or not header.startswith("sha256="):
        return False
    # Constant-time compare, so the signature cannot be guessed byte by byte from timings.
    return hmac.compare_digest(sign_body(secret, body).encode(), header.strip().encode())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body: treat 3xx as an answer.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookChannel(Channel):
    """One signed JSON POST per batch to a tenant-configured URL, retried with backoff.

    `retries` is the total number of attempts (3 means: first try and two retries).
    `session` is anything with urllib's `open(request, timeout=...)` (an OpenerDirector).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        session: Any = None,
        *,
        consent_field: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("webhook url must be http(s)")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.session = session or urllib.request.build_opener(_NoRedirect)
        self.consent_field = consent_field
        self.sleep = sleep  # injectable so tests do not wait for the backoff

    def payload(
        self, messages: list[Message], *, campaign: str | int | None, delivery_id: str, ts: int
    ) -> dict[str, Any]:
        return {
            "campaign": campaign,
            # Repeated inside the signed body, so a replayed old batch is detectable even
            # though the signature covers the body only.
            "delivery_id": delivery_id,
            "sent_at": ts,
            "messages": [asdict(m) for m in messages],
        }

    def send_batch(
        self, messages: list[Message], *, campaign: str | int | None = None,
        on_delivered: OnDelivered | None = None,
    ) -> list[DeliveryResult]:  # fmt: skip
        results = self._deliver(messages, campaign)
        if on_delivered and results:
            on_delivered(results)
        return results

    def _deliver(self, messages: list[Message], campaign: str | int | None) -> list[DeliveryResult]:
        if not messages:
            return []
        # Same id on every retry, and for the same messages sent again after a worker died:
        # a receiver that got a batch whose answer was lost dedupes it.
        delivery_id = _delivery_id(messages)
        ts = int(time.time())
        body = json.dumps(
            self.payload(messages, campaign=campaign, delivery_id=delivery_id, ts=ts),
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "mip-campaigns-webhook/1",
            SIGNATURE_HEADER: sign_body(self.secret, body),
            TIMESTAMP_HEADER: str(ts),
            DELIVERY_HEADER: delivery_id,
        }
        error = ""
        attempt = 0
        for attempt in range(1, self.retries + 1):
            ok, retryable, error = self._post(body, headers)
            if ok:
                return [DeliveryResult(m.recipient_id, ok=True, attempts=attempt) for m in messages]
            if not retryable or attempt == self.retries:
                break
            self.sleep(self.backoff * 2 ** (attempt - 1))
        reason = f"webhook failed after {attempt} attempt(s): {error}"
        logger.warning("campaign %s delivery %s: %s", campaign, delivery_id, reason)
        # Every message of the batch gets its failure: the batch is never dropped silently.
        return [
            DeliveryResult(m.recipient_id, ok=False, error=reason, attempts=attempt)
            for m in messages
        ]

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[bool, bool, str]:
        """One attempt. Returns (ok, retryable, error)."""
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self.session.open(request, timeout=self.timeout) as response:
                response.read(64 * 1024)  # drain a little so the connection closes cleanly
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except TimeoutError:
            return False, True, f"timeout after {self.timeout}s"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return False, True, f"timeout after {self.timeout}s"
            return False, True, f"connection error: {exc.reason}"
        except (OSError, http.client.HTTPException) as exc:
            return False, True, f"connection error: {_describe(exc)}"
        if 200 <= status < 300:
            return True, False, ""
        retryable = status >= 500 or status in _RETRYABLE_4XX
        return False, retryable, f"HTTP {status}"


# --- unsubscribe tokens ----------------------------------------------------------------

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
UNSUBSCRIBE_MAX_AGE = timedelta(days=180)


class UnsubscribeTokenError(ValueError):
    """The unsubscribe token is malformed, tampered with or expired."""


def unsubscribe_token(tenant_id: int, customer_id: int) -> str:
    """A URL-safe signed token naming (tenant, customer); no database row is needed."""
    return signing.TimestampSigner(salt=UNSUBSCRIBE_SALT).sign_object(
        [int(tenant_id), int(customer_id)], compress=False
    )


def read_unsubscribe_token(token: str, max_age: timedelta | float | None = None) -> tuple[int, int]:
    """(tenant_id, customer_id) from a token, or UnsubscribeTokenError."""
    if max_age is None:
        max_age = getattr(settings, "CAMPAIGN_UNSUBSCRIBE_MAX_AGE", UNSUBSCRIBE_MAX_AGE)
    signer = signing.TimestampSigner(salt=UNSUBSCRIBE_SALT)
    try:
        value = signer.unsign_object(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise UnsubscribeTokenError("unsubscribe link has expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise UnsubscribeTokenError("invalid unsubscribe link") from exc
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        raise UnsubscribeTokenError("invalid unsubscribe link")
    return value[0], value[1]


def _delivery_id(messages: list[Message]) -> str:
    keys = [m.message_id for m in messages]
    if not all(keys):
        return uuid.uuid4().hex
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# New channel = new Channel subclass + one entry here.
CHANNELS: dict[str, type[Channel]] = {
    EmailChannel.name: EmailChannel,
    WebhookChannel.name: WebhookChannel,
}
