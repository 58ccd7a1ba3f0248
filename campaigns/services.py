"""Writes of the campaigns app. A segment's filter is validated here (campaigns.filters), so
every path that saves a segment (API, admin) refuses the same filters with the same
messages; a campaign's launch freezes its recipients here."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import Count, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.filters import parse_filter
from campaigns.ml.assignment import assign
from campaigns.models import Campaign, Recipient, Segment
from campaigns.selectors import segment_customers
from customers.models import Customer
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.models import Tenant
from training.models import ActiveModel

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

LAUNCHABLE = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
NO_CONSENT, NO_ADDRESS, FREQUENCY_CAP = "no consent", "no address", "frequency cap"


def _audience(tenant: Tenant, campaign: Campaign, now: datetime) -> QuerySet:
    if campaign.segment_id is not None:
        return segment_customers(tenant=tenant, filter=campaign.segment.filter, now=now)
    active = ActiveModel.objects.filter(tenant=tenant, kind="segmentation").values("version_id")
    return Customer.objects.filter(
        tenant=tenant, predictions__version_id__in=Subquery(active),
        predictions__segment=campaign.model_segment,
    )  # fmt: skip


def _exclusion(campaign: Campaign, email: str, opted_in: bool, recent: int) -> str:
    if campaign.channel == Campaign.Channel.EMAIL:
        if not opted_in:
            return NO_CONSENT
        if not email:
            return NO_ADDRESS
    if campaign.frequency_cap is not None and recent >= campaign.frequency_cap:
        return FREQUENCY_CAP
    return ""


def campaign_launch(*, tenant: Tenant, campaign: Campaign, now: datetime | None = None) -> dict:
    """Freeze the audience as the recipient list: each customer excluded (with the reason)
    or assigned to treatment or control and a variant. One transaction; launching twice is
    a 409, and the unique (campaign, customer) row keeps a customer from being listed twice."""
    now = now or timezone.now()
    with tenant_scope(tenant):
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in LAUNCHABLE:
            raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; it cannot launch.")
        since = now - timedelta(days=campaign.frequency_cap_days)
        rows = list(
            _audience(tenant, campaign, now)
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
        names = [v.get("name", chr(97 + i)) for i, v in enumerate(campaign.variants)] or ["a"]
        recipients = []
        for i, (customer, email, opted_in, recent) in enumerate(rows):
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
        campaign.save(update_fields=["status", "launched_at", "updated_at"])
        counts = Counter(r.status for r in recipients)
        excluded = Counter(r.excluded_reason for r in recipients if r.excluded_reason)
    return {"recipients": len(recipients), **counts, "excluded_by_reason": dict(excluded)}
