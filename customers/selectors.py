"""Reads of customers, products and interactions for the API, admin and other apps."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Collate
from django.utils import timezone

from customers.ml.features import FEATURE_NAMES, CustomerFeatures
from customers.models import Customer, CustomerPrediction, Interaction, Product
from customers.pg_arrays import from_array_send
from tenants.context import tenant_reads
from tenants.models import Tenant
from training.models import ActiveModel
from training.selectors import loaded_model


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


FEATURE_WINDOW_DAYS = 30  # the engagement counts' window


def _by_code_point(field: str) -> Collate | str:
    # SQLite compares text by code point already; PostgreSQL's default follows the locale.
    return Collate(field, "C") if connection.vendor == "postgresql" else field


def customer_feature_matrix(
    *, tenant: Tenant, as_of: datetime | None = None, max_categories: int = 10
) -> CustomerFeatures:
    """Every customer's features as of `as_of` (default now), aggregated in the database:
    one query for the tenant's top categories, one GROUP BY customer for the rest. The
    definitions are those of customers.ml.features (the numpy reference it is tested
    against); customers with no interaction before `as_of` are left out."""
    as_of = as_of or timezone.now()
    window = as_of - timedelta(days=FEATURE_WINDOW_DAYS)
    events = Interaction.objects.filter(tenant=tenant, occurred_at__lt=as_of)
    with tenant_reads(tenant):
        return _feature_matrix(events, window, as_of, max_categories)


def _feature_matrix(events: QuerySet, window: datetime, as_of: datetime, max_categories: int):
    categories = list(
        events.filter(product__isnull=False)
        .exclude(product__category="")  # uncategorised: in the shares' denominator only
        .values("product__category")
        .annotate(n=Count("id"))
        .order_by("-n", _by_code_point("product__category"))  # ties: as numpy orders them
        .values_list("product__category", flat=True)[:max_categories]
    )
    purchase = Q(kind=Interaction.Kind.PURCHASE)
    recent = Q(occurred_at__gte=window)
    shares = {f"c{i}": Count("id", filter=Q(product__category=c)) for i, c in enumerate(categories)}
    rows = (
        events.values("customer_id")
        .annotate(
            first_seen=Min("occurred_at"),
            first_purchase=Min("occurred_at", filter=purchase),
            last_purchase=Max("occurred_at", filter=purchase),
            frequency=Count("id", filter=purchase),
            monetary=Sum("value", filter=purchase),
            views=Count("id", filter=Q(kind=Interaction.Kind.VIEW) & recent),
            clicks=Count("id", filter=Q(kind=Interaction.Kind.CLICK) & recent),
            carts=Count("id", filter=Q(kind=Interaction.Kind.ADD_TO_CART) & recent),
            with_product=Count("product_id"),
            **shares,
        )
        .order_by("customer_id")
        .values_list(*AGGREGATES, *shares)
    )
    names = [*AGGREGATES, *shares]
    if connection.vendor == "postgresql":
        columns = _columns_postgresql(rows, names)
    else:
        columns = _columns(list(rows), names)
    return _features_from_columns(columns, as_of=as_of.timestamp(), categories=categories)


AGGREGATES = ("customer_id", "first_seen", "first_purchase", "last_purchase", "frequency",
              "monetary", "views", "clicks", "carts", "with_product")  # fmt: skip
TIMES = frozenset({"first_seen", "first_purchase", "last_purchase"})


def _columns(rows: list[tuple], names: list[str]) -> list[np.ndarray]:
    """Each aggregate as a float array (epoch seconds for times, NaN where none)."""
    table = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    out = []
    for name, values in zip(names, table, strict=True):
        if name in TIMES:
            values = [None if v is None else v.timestamp() for v in values]
        out.append(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
    return out


def _columns_postgresql(rows: QuerySet, names: list[str]) -> list[np.ndarray]:
    """The same GROUP BY, each column brought back as one binary array: a million customers
    arrive as a few arrays numpy reads in place, not a million Python tuples."""
    sql, params = rows.query.sql_with_params()

    def column(name: str) -> str:
        if name in TIMES:
            return f"COALESCE(EXTRACT(EPOCH FROM {name})::float8, 'NaN')"
        return f"COALESCE({name}::float8, 'NaN')"

    arrays = ", ".join(f"array_send(array_agg({column(n)} ORDER BY customer_id))" for n in names)
    with connection.cursor() as cursor:
        raw = psycopg.Cursor(cursor.cursor.connection)  # binary results need a plain cursor
        raw.execute(f"SELECT {arrays} FROM ({sql}) AS per_customer", params, binary=True)
        return [from_array_send(data, ">f8") for data in raw.fetchone()]


def _features_from_columns(
    columns: list[np.ndarray], *, as_of: float, categories: list[str]
) -> CustomerFeatures:
    names = [*FEATURE_NAMES, *(f"share:{c}" for c in categories)]
    if not len(columns[0]):
        return CustomerFeatures(np.empty(0, np.int64), np.empty((0, len(names))), names)
    ids, first_seen, first_p, last_p, frequency, monetary, views, clicks, carts, with_product = (
        columns[:10]
    )
    day = 86_400.0
    monetary = np.nan_to_num(monetary)
    tenure = (as_of - first_seen) / day
    bought = frequency > 0
    recency = np.where(bought, (as_of - np.where(bought, last_p, as_of)) / day, tenure)
    average = np.divide(monetary, frequency, out=np.zeros_like(monetary), where=bought)
    gaps = np.where(frequency >= 2, np.nan_to_num(last_p - first_p) / day, 0.0)
    interpurchase = np.divide(gaps, frequency - 1, out=np.zeros_like(gaps), where=frequency >= 2)
    shares = [
        np.divide(c, with_product, out=np.zeros(len(ids)), where=with_product > 0)
        for c in columns[10:]
    ]
    matrix = np.column_stack(
        [recency, frequency, monetary, tenure, average, interpurchase, views, clicks, carts,
         *shares]
    )  # fmt: skip
    return CustomerFeatures(ids.astype(np.int64), matrix, names)


def purchasers_between(*, tenant: Tenant, start: datetime, end: datetime) -> np.ndarray:
    """Ids of the customers who purchased in [start, end): a propensity label window."""
    buyers = (
        Interaction.objects.filter(
            tenant=tenant,
            kind=Interaction.Kind.PURCHASE,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )  # fmt: skip
        .values_list("customer_id", flat=True)
        .distinct()
    )
    with tenant_reads(tenant):
        return np.fromiter(buyers, dtype=np.int64)


SEGMENTATION, PROPENSITY = "segmentation", "propensity"


def customer_intelligence(*, tenant: Tenant, customer: Customer, frequency: int) -> dict:
    """The customer's segment (active segmentation version), purchase propensity (active
    propensity version) and churn risk: 1 - propensity for a customer who has bought
    before, none for one who never has (they cannot lapse)."""
    with tenant_reads(tenant):
        return _intelligence(tenant, customer, frequency)


def _intelligence(tenant: Tenant, customer: Customer, frequency: int) -> dict:
    pointers = dict(
        ActiveModel.objects.filter(tenant=tenant, kind__in=[SEGMENTATION, PROPENSITY])
        .values_list("kind", "version_id")
    )  # fmt: skip
    found = {
        version: (segment, score)
        for version, segment, score in CustomerPrediction.objects.filter(
            tenant=tenant, customer=customer, version_id__in=list(pointers.values())
        ).values_list("version_id", "segment", "score")
    }
    segment = found.get(pointers.get(SEGMENTATION), (None, None))[0]
    propensity = found.get(pointers.get(PROPENSITY), (None, None))[1]
    named = None
    if segment is not None:
        names = loaded_model(tenant=tenant, version_id=pointers[SEGMENTATION]).names_
        named = {"id": segment, "name": names.get(segment) or f"segment {segment}"}
    return {
        "segment": named,
        "propensity": propensity,
        "churn_risk": None if propensity is None or not frequency else 1.0 - propensity,
    }
