"""Reads of customers, products and interactions for the API, admin and other apps."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from customers.models import Customer, Interaction, Product
from tenants.models import Tenant


def customer_list(*, tenant: Tenant) -> QuerySet[Customer]:
    return Customer.objects.filter(tenant=tenant)


def product_list(*, tenant: Tenant) -> QuerySet[Product]:
    return Product.objects.filter(tenant=tenant)


def interaction_list(*, tenant: Tenant) -> QuerySet[Interaction]:
    return Interaction.objects.filter(tenant=tenant).select_related("customer", "product")


def customer_summary(*, tenant: Tenant, customer: Customer, now: datetime | None = None) -> dict:
    """Recency, frequency and monetary value, first and last seen: one aggregate query."""
    now = now or timezone.now()
    purchase = Q(kind=Interaction.Kind.PURCHASE)
    row = Interaction.objects.filter(tenant=tenant, customer=customer).aggregate(
        first_seen=Min("occurred_at"),
        last_seen=Max("occurred_at"),
        interactions=Count("id"),
        frequency=Count("id", filter=purchase),
        monetary=Sum("value", filter=purchase),
        last_purchase=Max("occurred_at", filter=purchase),
    )
    last_purchase = row.pop("last_purchase")
    row["monetary"] = round(row["monetary"] or 0.0, 2)
    # A purchase stamped slightly ahead of this clock (ingest allows it) was bought today.
    row["recency_days"] = max(0, (now - last_purchase).days) if last_purchase else None
    row["last_purchase_at"] = last_purchase
    return row
