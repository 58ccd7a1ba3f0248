"""Reads of segments and their members, for the API, the admin and other apps."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from campaigns.compiler import SegmentCompiler
from campaigns.filters import parse_filter
from campaigns.models import Segment
from customers.models import Customer
from tenants.models import Tenant

PREVIEW_SAMPLE_MAX = 100


def segment_list(*, tenant: Tenant) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant=tenant)


def segment_customers(
    *, tenant: Tenant | int, filter: object, now: datetime | None = None
) -> QuerySet[Customer]:
    """The tenant's customers matching `filter` (grammar: campaigns.filters), as one query;
    its `.count()` is one query too. An invalid filter raises BadRequest naming its path."""
    node = parse_filter(filter)
    condition = SegmentCompiler(tenant=tenant, now=now or timezone.now()).compile(node)
    return Customer.objects.filter(tenant=tenant).filter(condition)


def segment_preview(
    *, tenant: Tenant | int, filter: object, sample: int = 20, now: datetime | None = None
) -> dict:
    """{"count": members, "sample": up to `sample` member external ids}: two queries. The
    sample is the first members by external id (cheap and stable, not random)."""
    members = segment_customers(tenant=tenant, filter=filter, now=now)
    sample_ids = list(
        members.order_by("external_id").values_list("external_id", flat=True)[:sample]
    )
    # A short sample is the whole segment: no need to count.
    count = len(sample_ids) if len(sample_ids) < sample else members.count()
    return {"count": count, "sample": sample_ids}
