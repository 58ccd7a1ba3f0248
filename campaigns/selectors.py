"""Reads of segments and their members, for the API, the admin and other apps."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from campaigns.compiler import SegmentCompiler
from campaigns.filters import parse_filter
from campaigns.models import Segment
from customers.models import Customer, Interaction
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


def segment_profile(*, tenant: Tenant | int, filter: object, now: datetime | None = None) -> dict:
    """Who is in a segment, in the marketer's terms: members, consent share, orders and
    revenue per member, and the categories they interact with most. Three queries."""
    members = segment_customers(tenant=tenant, filter=filter, now=now)
    people = members.aggregate(count=Count("pk"), opted_in=Count("pk", filter=Q(email_opt_in=True)))
    events = Interaction.objects.filter(tenant=tenant, customer__in=members)
    purchase = Q(kind=Interaction.Kind.PURCHASE)
    totals = events.aggregate(
        orders=Count("pk", filter=purchase), revenue=Sum("value", filter=purchase)
    )
    categories = list(
        events.exclude(product__category="")
        .filter(product__isnull=False)
        .values("product__category")
        .annotate(n=Count("pk"))
        .order_by("-n", "product__category")
        .values_list("product__category", flat=True)[:3]
    )
    count = people["count"] or 0
    return {
        "members": count,
        "opted_in_share": people["opted_in"] / count if count else None,
        "orders_per_member": totals["orders"] / count if count else None,
        "revenue_per_member": (totals["revenue"] or 0.0) / count if count else None,
        "top_categories": categories,
    }
