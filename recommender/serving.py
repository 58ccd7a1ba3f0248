"""Recommendations served from the active models: reads only, no artifact read per request.

A known customer gets the active `recommender` model, refolded from their current
interactions (so events after training count); an unknown customer, or a tenant with no
trained recommender, gets the active popularity model. Inactive products, products the
customer rated 1-2 and explicitly excluded ones never appear; bought or rated ones only
when `exclude_seen` is false.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from customers.models import Customer, Interaction, Product
from recommender.ml.data import InteractionArrays
from recommender.ml.matrix import IdIndex, build_matrices
from recommender.ml.popularity import PopularityModel, PopularityRecommender
from tenants.context import tenant_scope
from tenants.models import Tenant
from training.selectors import active_model_load

LIMIT_MAX = 100


@dataclass(frozen=True)
class Recommendation:
    product: str
    title: str
    score: float
    source: str


@lru_cache(maxsize=256)
def _popularity_for_serving(
    version_id: int, recommender: PopularityRecommender
) -> tuple[PopularityModel, IdIndex]:
    """The popularity version adapted to the serving interface, once per (immutable) version."""
    products = IdIndex.from_ids(np.sort(recommender.product_ids_))
    return PopularityModel.from_recommender(recommender, products), products


def _allowed(tenant: Tenant, products: IdIndex, category: str | None) -> np.ndarray:
    queryset = Product.objects.filter(tenant=tenant, is_active=True)
    if category:
        queryset = queryset.filter(category=category)
    index = products.index_of(np.fromiter(queryset.values_list("id", flat=True), dtype=np.int64))
    mask = np.zeros(len(products), dtype=bool)
    mask[index[index >= 0]] = True
    return mask


def _customer_arrays(tenant: Tenant, customer: Customer) -> InteractionArrays:
    rows = Interaction.objects.filter(tenant=tenant, customer=customer).values_list(
        "customer_id", "product_id", "kind", "value", "occurred_at"
    )
    return InteractionArrays.from_rows([(c, p, k, v, t.timestamp()) for c, p, k, v, t in rows])


def _present(tenant: Tenant, product_ids: np.ndarray, scores: np.ndarray, source: str) -> list:
    keep = product_ids >= 0
    product_ids, scores = product_ids[keep], scores[keep]
    found = {
        pk: (external_id, title)
        for pk, external_id, title in Product.objects.filter(
            tenant=tenant, id__in=product_ids.tolist()
        ).values_list("id", "external_id", "title")
    }
    return [
        Recommendation(found[pk][0], found[pk][1], float(score), source)
        for pk, score in zip(product_ids.tolist(), scores.tolist(), strict=True)
        if pk in found
    ]


def recommendations_for_customer(
    *, tenant: Tenant, external_id: str | None, limit: int = 10, category: str | None = None,
    exclude_seen: bool = True, exclude: list[str] | None = None,
) -> list[Recommendation]:  # fmt: skip
    with tenant_scope(tenant):
        customer = (
            Customer.objects.filter(tenant=tenant, external_id=external_id).first()
            if external_id is not None
            else None
        )
        loaded = active_model_load(tenant=tenant, kind="recommender") if customer else None
        if loaded is not None:
            version, serving = loaded
            model, products = serving.model, serving.products
            source = version.metrics.get("model", "recommender")
        else:  # an unknown customer, or no trained recommender yet: the popular floor
            loaded = active_model_load(tenant=tenant, kind="popularity")
            if loaded is None:
                return []
            model, products = _popularity_for_serving(loaded[0].pk, loaded[1])
            source = "popularity"
        customers = IdIndex.from_ids([customer.pk if customer else -1])
        history = (
            _customer_arrays(tenant, customer) if customer else InteractionArrays.from_rows([])
        )
        matrices = build_matrices(history, customers=customers, products=products, now=time.time())
        excluded = matrices.exclusions(exclude_seen=exclude_seen).tolil()
        if exclude:
            ids = Product.objects.filter(tenant=tenant, external_id__in=exclude).values_list(
                "id", flat=True
            )
            index = products.index_of(np.fromiter(ids, dtype=np.int64))
            excluded[0, index[index >= 0]] = 1
        allowed = _allowed(tenant, products, category)
        items, scores = model.recommend(
            matrices.confidence, limit, sparse.csr_matrix(excluded),
            allowed_items=allowed,
        )  # fmt: skip
        return _present(tenant, products.ids_of(items[0]), scores[0], source)


def popular_products(
    *, tenant: Tenant, limit: int = 10, category: str | None = None
) -> list[Recommendation]:
    """The tenant's popular active products (decayed, kind-weighted), best first."""
    return recommendations_for_customer(
        tenant=tenant, external_id=None, limit=limit, category=category
    )
