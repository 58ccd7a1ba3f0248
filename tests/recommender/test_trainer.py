"""The recommender trainer on the training platform: selection, storage, loading."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from scipy import sparse

from customers.models import Product
from tenants.context import tenant_scope
from tests.factories import TenantFactory
from training import services
from training.models import ModelVersion
from training.selectors import active_model_load, model_cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(artifact_root):
    tenant = TenantFactory(slug="shop")
    call_command("load_demo_data", "shop", customers=300, products=80, days=90, seed=5, verbosity=0)
    model_cache.clear()
    return tenant


def test_the_selected_model_beats_popularity_and_serves_from_its_artifact(shop):
    # when the recommender kind is trained (a short search over three families)
    run = services.training_run_train_now(
        tenant=shop, kind="recommender",
        parameters={"time_budget": 20, "families": ["popularity", "als", "itemknn"]},
    )  # fmt: skip
    # then it succeeded, and the winner's held-out NDCG@10 is well above popularity's
    assert run.status == "succeeded", run.error
    metrics, baseline = run.metrics["metrics"], run.metrics["baseline_metrics"]
    assert metrics["ndcg@10"] > 1.2 * baseline["ndcg@10"]
    assert set(run.metrics["candidates"]) >= {"popularity", "als", "itemknn"}
    assert run.metrics["details"]["trials"], "every configuration tried is kept on the run"
    # and the active version loads from its verified artifact and recommends real products
    version, serving = active_model_load(tenant=shop, kind="recommender")
    assert version.status == ModelVersion.Status.ACTIVE
    rows = serving.customers.index_of(serving.customers.ids[:1])
    assert rows[0] == 0
    empty = sparse.csr_matrix((1, len(serving.products.ids)))
    items, scores, sources = serving.model.recommend(empty, 10)
    product_ids = serving.products.ids_of(items[0])
    with tenant_scope(shop):
        assert Product.objects.filter(id__in=product_ids.tolist()).count() == 10
    assert np.all(np.diff(scores[0]) <= 0) and set(sources[0]) == {"popularity"}
