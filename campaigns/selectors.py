"""Reads of segments and their members, for the API, the admin and other apps."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.compiler import SegmentCompiler
from campaigns.delivery import campaign_picks, message_context, unsubscribe_url
from campaigns.filters import parse_filter
from campaigns.ml.uplift import compare_variants, uplift
from campaigns.models import Campaign, Recipient, Segment
from campaigns.rendering import SAMPLE_CONTEXT, compile_variants, render
from customers.models import Customer, Interaction
from tenants.errors import BadRequest, NotFound
from tenants.models import Tenant
from tenants.pseudonyms import customer_ref
from training.models import ActiveModel

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


def campaign_audience(*, tenant: Tenant, campaign: Campaign, now: datetime) -> QuerySet[Customer]:
    """The customers the campaign targets now: its rule segment's members, or the
    customers the active segmentation model puts in its model segment."""
    if campaign.segment_id is not None:
        return segment_customers(tenant=tenant, filter=campaign.segment.filter, now=now)
    active = ActiveModel.objects.filter(tenant=tenant, kind="segmentation").values("version_id")
    return Customer.objects.filter(
        tenant=tenant, predictions__version_id__in=Subquery(active),
        predictions__segment=campaign.model_segment,
    )  # fmt: skip


def campaign_preview(
    *, tenant: Tenant, campaign: Campaign, customer: str | None = None,
    variant: str | None = None,
) -> dict:  # fmt: skip
    """The message one customer would get (default: the first audience member by external
    id; a sample customer when the audience is empty), with their real recommendations."""
    variants = compile_variants(campaign.variants)
    if variant is not None and variant not in variants:
        raise BadRequest(f"variant: no variant {variant!r}; known: {sorted(variants)}.")
    chosen = variants[variant] if variant is not None else next(iter(variants.values()))
    if customer is not None:
        found = Customer.objects.filter(
            tenant=tenant, external_id=customer_ref(tenant, customer)
        ).first()
        if found is None:
            raise NotFound(f"No customer with external id {customer!r}.")
    else:
        audience = campaign_audience(tenant=tenant, campaign=campaign, now=timezone.now())
        found = audience.order_by("external_id").first()
    if found is None:
        context = dict(SAMPLE_CONTEXT)
    else:
        picks = campaign_picks(tenant, campaign, [found.pk]).get(found.pk, [])
        context = message_context(campaign, found.external_id, found.email, found.attributes,
                                  picks, unsubscribe_url(tenant.pk, found.pk))  # fmt: skip
    subject, body = render(chosen, context)
    return {
        "customer": found.external_id if found else None, "variant": chosen.name,
        "subject": subject, "body": body, "recommendations": context["recommendations"],
    }  # fmt: skip


def campaign_report(*, tenant: Tenant | int, campaign: Campaign) -> dict:
    """What the campaign caused, as conversions arrive. A conversion is an interaction of
    the campaign's conversion kind by a recipient within the attribution window after their
    send (for the control group, after the launch). Two queries: recipients by status and
    exclusion reason, and conversions and revenue per group and variant."""
    by_status: Counter[str] = Counter()
    excluded: dict[str, int] = {}
    for status, reason, n in (
        Recipient.objects.filter(tenant=tenant, campaign=campaign)
        .values("status", "excluded_reason").annotate(n=Count("pk"))
        .values_list("status", "excluded_reason", "n")
    ):  # fmt: skip
        by_status[status] += n
        if status == Recipient.Status.EXCLUDED:
            excluded[reason] = n
    window = timedelta(days=campaign.attribution_days)
    start = Case(
        When(group=Recipient.Group.CONTROL, then=Value(campaign.launched_at)),
        default=F("sent_at"),
        output_field=DateTimeField(),
    )
    conversions = Interaction.objects.filter(
        tenant=tenant, customer=OuterRef("customer"), kind=campaign.conversion_kind,
        occurred_at__gte=OuterRef("start"), occurred_at__lt=OuterRef("start") + window,
    )  # fmt: skip
    revenue = conversions.values("customer").annotate(total=Sum("value")).values("total")
    measured_rows = Recipient.objects.filter(
        tenant=tenant,
        campaign=campaign,
        status__in=[Recipient.Status.SENT, Recipient.Status.HELD_OUT],
    ).annotate(start=start)
    measured = (
        measured_rows.annotate(converted=Exists(conversions), revenue=Subquery(revenue))
        .values("group", "variant")
        .annotate(
            recipients=Count("pk"),
            conversions=Count("pk", filter=Q(converted=True)),
            revenue=Sum("revenue"),
        )
    )
    groups: dict[str, dict] = {}
    variants: dict[str, tuple[int, int]] = {}
    for row in measured:
        group = groups.setdefault(row["group"], {"recipients": 0, "conversions": 0, "revenue": 0.0})
        group["recipients"] += row["recipients"]
        group["conversions"] += row["conversions"]
        group["revenue"] += row["revenue"] or 0.0
        if row["group"] == Recipient.Group.TREATMENT:
            variants[row["variant"]] = (row["recipients"], row["conversions"])
    for group in groups.values():
        n = group["recipients"]
        group["conversion_rate"] = group["conversions"] / n if n else None
        group["revenue_per_recipient"] = group["revenue"] / n if n else None
    treated = groups.get(Recipient.Group.TREATMENT, {"recipients": 0, "conversions": 0})
    control = groups.get(Recipient.Group.CONTROL, {"recipients": 0, "conversions": 0})
    result = uplift(
        treated["recipients"], treated["conversions"], control["recipients"],
        control["conversions"],
    )  # fmt: skip
    return {
        "status": campaign.status,
        "recipients": sum(by_status.values()),
        "by_status": dict(by_status),
        "excluded_by_reason": excluded,
        "groups": groups,
        "uplift": result.as_dict(),
        "variants": compare_variants(dict(sorted(variants.items()))).as_dict()
        if len(variants) >= 2 else None,
        "daily": _daily(campaign, measured_rows, conversions, groups),
    }  # fmt: skip


def _daily(campaign: Campaign, measured: QuerySet, conversions: QuerySet, groups: dict) -> list:
    """Cumulative conversions per day since the launch, per group (one query): the chart of
    treatment against control. Each recipient counts once, on the day of their first
    conversion in the window."""
    if campaign.launched_at is None:
        return []
    first = Subquery(conversions.order_by("occurred_at").values("occurred_at")[:1])
    per_day = Counter()
    for group, day, n in (
        measured.annotate(first=first).filter(first__isnull=False)
        .annotate(day=TruncDate("first")).values("group", "day").annotate(n=Count("pk"))
        .values_list("group", "day", "n")
    ):  # fmt: skip
        per_day[(group, day)] += n
    start = campaign.launched_at.date()
    end = max([start, *(day for _, day in per_day)])
    totals = {g: 0 for g in (Recipient.Group.TREATMENT, Recipient.Group.CONTROL)}
    series = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        point: dict = {"day": day.isoformat()}
        for group in totals:
            totals[group] += per_day.get((group, day), 0)
            n = groups.get(group, {}).get("recipients", 0)
            point[str(group)] = totals[group]
            point[f"{group}_rate"] = totals[group] / n if n else None
        series.append(point)
    return series
