"""Writes of the campaigns app. A segment's filter is validated here (campaigns.filters), so
every path that saves a segment (API, admin) refuses the same filters with the same
messages; a campaign's launch freezes its recipients here."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from campaigns.channels import read_unsubscribe_token
from campaigns.filters import parse_filter
from campaigns.ml.assignment import assign, send_order
from campaigns.models import Campaign, Recipient, Segment
from campaigns.rendering import compile_variants, variant_names
from campaigns.selectors import campaign_audience
from customers.models import Customer
from customers.services import consent_record
from tenants.audit import audit
from tenants.context import tenant_scope
from tenants.errors import BadRequest, Conflict, NotFound
from tenants.models import Tenant
from tenants.pseudonyms import is_pseudonymised
from tenants.queue import enqueue_on_commit

WRITABLE = ("name", "description", "filter")


def _check_name(tenant: Tenant | int, name: str, exclude: int | None = None) -> None:
    taken = Segment.objects.filter(tenant=tenant, name=name).exclude(pk=exclude).exists()
    if taken:
        raise Conflict(f"A segment named {name!r} exists.")


def segment_create(*, tenant: Tenant, data: dict, created_by: Any = None) -> Segment:
    parse_filter(data.get("filter"))
    _check_name(tenant, data["name"])
    fields = {key: data[key] for key in WRITABLE if key in data}
    return Segment.objects.create(tenant=tenant, created_by=created_by, **fields)


def segment_update(*, segment: Segment, data: dict) -> Segment:
    if "filter" in data:
        parse_filter(data["filter"])
    if "name" in data and data["name"] != segment.name:
        _check_name(segment.tenant_id, data["name"], exclude=segment.pk)
    for key in WRITABLE:
        if key in data:
            setattr(segment, key, data[key])
    segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    segment.delete()


# --- campaigns ------------------------------------------------------------------------------

CAMPAIGN_WRITABLE = (
    "name", "segment", "model_segment", "channel", "variants", "recommendations",
    "recommendations_category", "scheduled_at", "holdout_share", "attribution_days",
    "conversion_kind", "frequency_cap", "frequency_cap_days",
)  # fmt: skip
EDITABLE = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
LAUNCHABLE = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
NO_CONSENT, NO_ADDRESS, FREQUENCY_CAP = "no consent", "no address", "frequency cap"
CANCELLED = "campaign cancelled"


def _check_campaign(tenant: Tenant, fields: dict, exclude: int | None = None) -> None:
    if "variants" in fields:
        compile_variants(fields["variants"])
    has_segment = fields.get("segment") is not None
    if has_segment == (fields.get("model_segment") is not None):
        raise BadRequest("Give exactly one audience: segment (a rule segment's id) or "
                         "model_segment (a segment id of the active segmentation model).")  # fmt: skip
    if has_segment and fields["segment"].tenant_id != tenant.pk:
        raise BadRequest("segment: no such segment.")
    name = fields.get("name")
    if Campaign.objects.filter(tenant=tenant, name=name).exclude(pk=exclude).exists():
        raise Conflict(f"A campaign named {name!r} exists.")


def campaign_create(*, tenant: Tenant, data: dict) -> Campaign:
    fields = {key: data[key] for key in CAMPAIGN_WRITABLE if key in data}
    _check_campaign(tenant, {"variants": [], **fields})
    return Campaign.objects.create(tenant=tenant, **fields)


def campaign_update(*, campaign: Campaign, data: dict) -> Campaign:
    if campaign.status not in EDITABLE:
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; it can no longer change.")
    fields = {key: data[key] for key in CAMPAIGN_WRITABLE if key in data}
    merged = {key: getattr(campaign, key) for key in CAMPAIGN_WRITABLE} | fields
    if "segment" in fields and fields["segment"] is not None and "model_segment" not in fields:
        merged["model_segment"] = None  # choosing a rule segment replaces a model segment
    if (
        "model_segment" in fields
        and fields["model_segment"] is not None
        and "segment" not in fields
    ):
        merged["segment"] = None
    _check_campaign(campaign.tenant, merged, exclude=campaign.pk)
    for key, value in merged.items():
        setattr(campaign, key, value)
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    if campaign.status in (Campaign.Status.SENDING, Campaign.Status.PAUSED):
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; cancel it first.")
    campaign.delete()


def _exclusion(campaign: Campaign, email: str, opted_in: bool, recent: int) -> str:
    if campaign.channel == Campaign.Channel.EMAIL:
        if not opted_in:
            return NO_CONSENT
        if not email:
            return NO_ADDRESS
    if campaign.frequency_cap is not None and recent >= campaign.frequency_cap:
        return FREQUENCY_CAP
    return ""


def _enqueue_send(tenant: Tenant, campaign: Campaign) -> None:
    from campaigns.tasks import send_campaign  # tasks import services

    # With the broker down the launch still stands: the tick sends once Redis is back.
    enqueue_on_commit(send_campaign, tenant.pk, campaign.pk)


def campaign_launch(*, tenant: Tenant, campaign: Campaign, now: datetime | None = None) -> dict:
    """Launch now, or schedule when `scheduled_at` is still ahead (the tick launches it).

    Launching freezes the audience as the recipient list: each customer excluded (with the
    reason) or assigned to treatment or control and a variant, in a random send order, in
    one transaction; then a worker sends. Launching twice is a 409, and the unique
    (campaign, customer) row keeps a customer from being listed twice."""
    now = now or timezone.now()
    with tenant_scope(tenant):
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in LAUNCHABLE:
            raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; it cannot launch.")
        if campaign.channel == Campaign.Channel.WEBHOOK:
            from campaigns.delivery import webhook_settings

            webhook_settings(tenant)  # refuse now rather than fail every batch later
        elif is_pseudonymised(tenant):
            raise Conflict(
                "This tenant stores emails only as pseudonyms, so an email campaign has no "
                "address to send to; use the webhook channel (it carries the customer's id)."
            )
        if campaign.scheduled_at and campaign.scheduled_at > now:
            campaign.status = Campaign.Status.SCHEDULED
            campaign.save(update_fields=["status", "updated_at"])
            return {"status": campaign.status, "scheduled_at": campaign.scheduled_at.isoformat()}
        since = now - timedelta(days=campaign.frequency_cap_days)
        rows = list(
            campaign_audience(tenant=tenant, campaign=campaign, now=now)
            .annotate(recent=Count("campaign_receipts", filter=Q(
                campaign_receipts__status=Recipient.Status.SENT,
                campaign_receipts__sent_at__gte=since)))
            .values_list("pk", "email", "email_opt_in", "recent")
        )  # fmt: skip
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        control, variant = assign(
            campaign.pk, ids, holdout_share=campaign.holdout_share,
            variants=max(len(campaign.variants), 1),
        )  # fmt: skip
        names = variant_names(campaign.variants)
        recipients = []
        # Rows are created (so claimed) in a random order: a campaign paused or cancelled
        # half-way has reached a random half of its treatment group, not the oldest customers.
        for i in send_order(campaign.pk, ids).tolist():
            customer, email, opted_in, recent = rows[i]
            reason = _exclusion(campaign, email, opted_in, recent)
            group = Recipient.Group.CONTROL if control[i] else Recipient.Group.TREATMENT
            status = (
                Recipient.Status.EXCLUDED if reason
                else Recipient.Status.HELD_OUT if control[i] else Recipient.Status.PENDING
            )  # fmt: skip
            recipients.append(Recipient(
                tenant=tenant, campaign=campaign, customer_id=customer, group=group,
                variant=names[variant[i]], status=status, excluded_reason=reason,
            ))  # fmt: skip
        Recipient.objects.bulk_create(recipients, batch_size=5_000, ignore_conflicts=True)
        campaign.status = Campaign.Status.SENDING
        campaign.launched_at = now
        campaign.heartbeat_at = now
        campaign.save(update_fields=["status", "launched_at", "heartbeat_at", "updated_at"])
        counts = Counter(r.status for r in recipients)
        excluded = Counter(r.excluded_reason for r in recipients if r.excluded_reason)
        audit(tenant=tenant, action="campaign launched", object_type="Campaign",
              object_ref=campaign.pk, details={"recipients": len(recipients)})  # fmt: skip
        _enqueue_send(tenant, campaign)
    return {
        "status": campaign.status, "recipients": len(recipients), **counts,
        "excluded_by_reason": dict(excluded),
    }  # fmt: skip


def _transition(tenant: Tenant, campaign: Campaign, allowed: tuple, to: str, verb: str) -> Campaign:
    with tenant_scope(tenant):
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in allowed:
            raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; it cannot {verb}.")
        campaign.status = to
        fields = ["status", "updated_at"]
        if to == Campaign.Status.CANCELLED:
            campaign.finished_at = timezone.now()
            fields.append("finished_at")
            Recipient.objects.filter(campaign=campaign, status=Recipient.Status.PENDING).update(
                status=Recipient.Status.EXCLUDED, excluded_reason=CANCELLED
            )
        campaign.save(update_fields=fields)
        if to == Campaign.Status.SENDING:
            _enqueue_send(tenant, campaign)
    return campaign


def campaign_pause(*, tenant: Tenant, campaign: Campaign) -> Campaign:
    """Stop sending after the batch in flight; `resume` carries on where it stopped."""
    return _transition(tenant, campaign, (Campaign.Status.SENDING,), Campaign.Status.PAUSED,
                       "pause")  # fmt: skip


def campaign_resume(*, tenant: Tenant, campaign: Campaign) -> Campaign:
    return _transition(tenant, campaign, (Campaign.Status.PAUSED,), Campaign.Status.SENDING,
                       "resume")  # fmt: skip


def campaign_cancel(*, tenant: Tenant, campaign: Campaign) -> Campaign:
    """Nobody else is sent; those already sent stay in the report."""
    allowed = (*LAUNCHABLE, Campaign.Status.SENDING, Campaign.Status.PAUSED)
    return _transition(tenant, campaign, allowed, Campaign.Status.CANCELLED, "be cancelled")


def campaigns_tick(now: datetime | None = None) -> dict:
    """Launch due scheduled campaigns; requeue sending campaigns whose worker went quiet
    (heartbeat older than CAMPAIGN_STALE_AFTER_SECONDS) or whose retries are due. A requeued
    send of a campaign still being sent answers `busy` and does nothing."""
    from campaigns.tasks import send_campaign

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CAMPAIGN_STALE_AFTER_SECONDS)
    launched = 0
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("id", flat=True))
    retry_due = Recipient.objects.filter(
        campaign=OuterRef("pk"), status=Recipient.Status.PENDING, retry_at__lte=now
    )
    with tenant_scope(tenants=tenant_ids):
        due = list(
            Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now)
            .select_related("tenant")
        )  # fmt: skip
        quiet = list(
            Campaign.objects.filter(status=Campaign.Status.SENDING)
            .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale) | Exists(retry_due))
            .values_list("tenant_id", "pk")
        )  # fmt: skip
    for campaign in due:
        try:
            campaign_launch(tenant=campaign.tenant, campaign=campaign, now=now)
            launched += 1
        except Conflict:
            continue  # launched or cancelled meanwhile, or its webhook is not configured
    for tenant_id, pk in quiet:
        send_campaign.delay(tenant_id, pk)
    requeued = len(quiet)
    return {"launched": launched, "requeued": requeued}


# --- customers' own requests -----------------------------------------------------------------


def customer_unsubscribe(*, token: str) -> Customer:
    """Withdraw the email consent of the customer a signed unsubscribe link names. Pending
    sends to them are then excluded when their batch comes (consent is checked again)."""
    try:
        tenant_id, customer_id = read_unsubscribe_token(token)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    with tenant_scope(tenant_id):
        customer = Customer.objects.filter(tenant_id=tenant_id, pk=customer_id).first()
        if customer is None:
            raise NotFound("This unsubscribe link names no customer any more.")
        if customer.email_opt_in:
            customer.email_opt_in = False
            customer.save(update_fields=["email_opt_in", "updated_at"])
            consent_record(tenant=tenant_id, changes={customer.pk: False},
                           source="unsubscribe link")  # fmt: skip
    return customer
