"""Recommendations served from the active models: reads only, no artifact read per request.

The active `recommender` version is a hybrid bundle (ml/hybrid.py): a customer's current
interactions pick the tier (popularity, content+popularity, the selected model) and are
the row it scores, so events after training count. An unknown customer, or a tenant with
no trained recommender, gets the popular floor. Inactive products, products the customer
rated 1-2 and explicitly excluded ones never appear; bought or rated ones only when
`exclude_seen` is false.

Per request, two queries: the active-version pointers (so an activation is seen at once;
the loaded model is cached per immutable version) with the customer's interactions, in
one statement on PostgreSQL; and the active products among those ranked (a few spares beyond the limit; only when
inactive ones ate into them, all the tenant's inactive products are masked and the
ranking redone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from customers.models import Product
from recommender.ml.hybrid import POPULARITY, HybridRecommender
from recommender.ml.matrix import IdIndex, build_matrices
from recommender.ml.popularity import PopularityModel, PopularityRecommender
from recommender.selectors import active_products, batch_reads, product_cards, serving_reads
from recommender.trainers import ServingModel
from tenants.context import tenant_reads
from tenants.errors import NotFound
from tenants.models import Tenant
from training.selectors import loaded_model

LIMIT_MAX = 100
SPARE_ITEMS = 10  # ranked beyond the limit, in case some turned inactive
RECOMMENDER, POPULARITY_KIND = "recommender", "popularity"
KINDS = [RECOMMENDER, POPULARITY_KIND]


@dataclass(frozen=True)
class Recommendation:
    product: str
    title: str
    score: float
    source: str


@lru_cache(maxsize=256)
def _popularity_for_serving(version_id: int, recommender: PopularityRecommender) -> ServingModel:
    """A popularity version as a (one-tier) bundle, built once per immutable version."""
    products = IdIndex.from_ids(np.sort(recommender.product_ids_))
    model = PopularityModel.from_recommender(recommender, products)
    settings = {"half_life_days": recommender.half_life_days}
    return ServingModel(HybridRecommender(model, model), IdIndex.from_ids([]), products, settings)


def _served(tenant: Tenant, pointers: dict[str, int]) -> ServingModel | None:
    if RECOMMENDER in pointers:
        return loaded_model(tenant=tenant, version_id=pointers[RECOMMENDER])
    if POPULARITY_KIND in pointers:
        version_id = pointers[POPULARITY_KIND]
        return _popularity_for_serving(
            version_id, loaded_model(tenant=tenant, version_id=version_id)
        )
    return None


def _product_index(products: IdIndex, ids) -> np.ndarray:
    index = products.index_of(np.fromiter(ids, dtype=np.int64))
    return index[index >= 0]


def _allowed(tenant: Tenant, products: IdIndex, category: str | None) -> np.ndarray:
    """Active products (of the category, if one is asked for) as a mask over the index."""
    if category:
        mask = np.zeros(len(products), dtype=bool)
        in_category = Product.objects.filter(tenant=tenant, category=category, is_active=True)
        mask[_product_index(products, in_category.values_list("id", flat=True))] = True
        return mask
    mask = np.ones(len(products), dtype=bool)
    inactive = Product.objects.filter(tenant=tenant, is_active=False)
    mask[_product_index(products, inactive.values_list("id", flat=True))] = False
    return mask


def _present(
    tenant: Tenant, products: IdIndex, items: np.ndarray, scores: np.ndarray, sources: list[str]
) -> list[Recommendation]:
    """The ranked items as products, leaving out any that is not (or no longer) active."""
    keep = items >= 0
    product_ids = products.ids_of(items[keep]).tolist()
    found = active_products(tenant=tenant, ids=product_ids)
    return [
        Recommendation(found[pk][0], found[pk][1], float(score), source)
        for pk, score, source in zip(product_ids, scores[keep].tolist(), sources, strict=True)
        if pk in found
    ]


def recommendations_for_customer(
    *, tenant: Tenant, external_id: str | None, limit: int = 10, category: str | None = None,
    exclude_seen: bool = True, exclude: list[str] | None = None,
) -> list[Recommendation]:  # fmt: skip
    """The customer's top `limit` products, best first (an unknown customer: popular ones)."""
    with tenant_reads(tenant):
        pointers, history = serving_reads(tenant=tenant, external_id=external_id, kinds=KINDS)
        served = _served(tenant, pointers)
        if served is None:
            return []
        customer = int(history.customer[0]) if len(history) else -1  # -1: no history
        matrices = build_matrices(
            history, customers=IdIndex.from_ids([customer]), products=served.products,
            now=time.time(), **served.matrix_settings,
        )  # fmt: skip
        excluded = matrices.exclusions(exclude_seen=exclude_seen).tolil()
        if exclude:
            ids = Product.objects.filter(tenant=tenant, external_id__in=exclude)
            excluded[0, _product_index(served.products, ids.values_list("id", flat=True))] = 1
        excluded, row = sparse.csr_matrix(excluded), served.customers.index_of([customer])
        # Without a category, ask for a few spare items and drop inactive ones when showing
        # them (one query fewer); only when they were not enough, mask every inactive one.
        allowed = _allowed(tenant, served.products, category) if category else None
        wanted = limit if category else limit + SPARE_ITEMS
        items, scores, sources = served.model.recommend(
            matrices.confidence, wanted, excluded, row, allowed_items=allowed
        )
        shown = _present(tenant, served.products, items[0], scores[0], sources[0])
        if len(shown) < limit and items[0, -1] >= 0:
            allowed = _allowed(tenant, served.products, category)
            items, scores, sources = served.model.recommend(
                matrices.confidence, limit, excluded, row, allowed_items=allowed
            )
            shown = _present(tenant, served.products, items[0], scores[0], sources[0])
        return shown[:limit]


def recommendations_for_customers(
    *, tenant: Tenant, customer_ids: list[int], limit: int = 10, category: str | None = None
) -> dict[int, list[dict]]:
    """Each customer's top `limit` active products (not seen, not disliked), scored as one
    batch: what a campaign send computes per batch of recipients instead of per message.
    Each product is a card (the fields of `product_cards`) plus `score` and `source`.
    Runs in the caller's tenant scope; four queries whatever the batch size."""
    if not customer_ids or limit <= 0:
        return {pk: [] for pk in customer_ids}
    pointers, history = batch_reads(tenant=tenant, customer_ids=customer_ids, kinds=KINDS)
    served = _served(tenant, pointers)
    if served is None:
        return {pk: [] for pk in customer_ids}
    batch = IdIndex.from_ids(np.asarray(customer_ids, dtype=np.int64))
    matrices = build_matrices(
        history, customers=batch, products=served.products, now=time.time(),
        **served.matrix_settings,
    )  # fmt: skip
    rows = served.customers.index_of(batch.ids)
    items, scores, sources = served.model.recommend(
        matrices.confidence, limit, matrices.exclusions(exclude_seen=True), rows,
        allowed_items=_allowed(tenant, served.products, category),
    )  # fmt: skip
    cards = product_cards(tenant=tenant, ids=served.products.ids_of(items[items >= 0]).tolist())
    found: dict[int, list[dict]] = {}
    for position, customer in enumerate(batch.ids.tolist()):
        ranked = items[position]
        product_ids = served.products.ids_of(ranked[ranked >= 0]).tolist()
        found[customer] = [
            {**cards[pk], "score": float(score), "source": source}
            for pk, score, source in zip(
                product_ids, scores[position].tolist(), sources[position], strict=False
            )
            if pk in cards
        ]
    return found


def popular_products(
    *, tenant: Tenant, limit: int = 10, category: str | None = None
) -> list[Recommendation]:
    """The tenant's popular active products (decayed, kind-weighted), best first."""
    return recommendations_for_customer(
        tenant=tenant, external_id=None, limit=limit, category=category
    )


def similar_products(*, tenant: Tenant, external_id: str, limit: int = 10) -> list[Recommendation]:
    """Active products most like this one: the active model's neighbours, content ones for
    a product nobody has interacted with, and the popular products of its category for a
    product newer than the model."""
    with tenant_reads(tenant):
        product = (
            Product.objects.filter(tenant=tenant, external_id=external_id)
            .values_list("id", "category")
            .first()
        )
        if product is None:
            raise NotFound(f"No product with external id {external_id!r}.")
        product_id, category = product
        pointers, _ = serving_reads(tenant=tenant, external_id=None, kinds=KINDS)
        served = _served(tenant, pointers)
        if served is None:
            return []
        allowed = _allowed(tenant, served.products, None)
        index = served.products.index_of([product_id])
        allowed[index[index >= 0]] = False
        if index[0] >= 0:
            items, scores, sources = served.model.similar_items(index, limit, allowed_items=allowed)
            return _present(tenant, served.products, items[0], scores[0], sources[0])
        if category:
            allowed &= _allowed(tenant, served.products, category)
        empty = sparse.csr_matrix((1, len(served.products)), dtype=np.float32)
        items, scores = served.model.popularity.recommend(empty, limit, allowed_items=allowed)
        count = int((items[0] >= 0).sum())
        return _present(tenant, served.products, items[0], scores[0], [POPULARITY] * count)
