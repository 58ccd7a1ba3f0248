"""Fixtures of the pure-numeric recommender tests: one planted-taste shop per session."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from customers.synthetic import SyntheticConfig, SyntheticDataset
from recommender.ml.blend import BlendRecommender
from recommender.ml.content import product_text
from recommender.ml.families import FAMILIES, NEEDS_TEXT, make_model
from recommender.ml.matrix import IdIndex, build_matrices
from tests.factories import TenantFactory
from tests.recommender.planted import COLD, N_PRODUCTS, to_arrays
from training import services
from training.selectors import model_cache


@pytest.fixture(scope="session")
def shop():
    dataset = SyntheticDataset(SyntheticConfig(n_customers=700, n_products=N_PRODUCTS, seed=3))
    arrays = to_arrays(dataset)
    products = list(dataset.products())
    # The cold product is a copy of product 0's listing that nobody has touched yet.
    ids = np.r_[np.arange(N_PRODUCTS), COLD]
    texts = [product_text(p) for p in products] + [product_text(products[0])]
    return dataset, arrays, ids, texts


@pytest.fixture(scope="session")
def matrices(shop):
    _, arrays, ids, _ = shop
    return build_matrices(arrays, products=IdIndex.from_ids(ids))


@pytest.fixture(scope="session")
def fitted(shop, matrices):
    texts = shop[3]
    models = {}
    for family in FAMILIES:
        if family == "blend":
            continue
        params = {"num_threads": 2} if family in ("als", "itemknn") else {}
        model = make_model(family, params)
        models[family] = model.fit(
            matrices.confidence, **({"item_texts": texts} if family in NEEDS_TEXT else {})
        )
    models["blend"] = BlendRecommender.of([models["ease"], models["content"]], [0.7, 0.3])
    return models


FAST_SEARCH = {"time_budget": 15, "families": ["popularity", "als", "itemknn"]}


@pytest.fixture
def trained_shop(artifact_root, db):
    """The demo data of a small shop in the database, with popularity and a recommender
    (a short search) trained and active."""
    tenant = TenantFactory(slug="shop")
    call_command("load_demo_data", "shop", customers=300, products=80, days=90, seed=5, verbosity=0)
    model_cache.clear()
    services.training_run_train_now(tenant=tenant, kind="popularity")
    services.training_run_train_now(tenant=tenant, kind="recommender", parameters=FAST_SEARCH)
    return tenant
