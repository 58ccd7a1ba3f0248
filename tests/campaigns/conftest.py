"""A small shop whose customers' features, predictions and behaviour are known by heart."""

from __future__ import annotations

import pytest

from tests.campaigns.helpers import event
from tests.campaigns.receiver import receiver  # noqa: F401  (fixtures of these tests)
from tests.factories import (
    ActiveModelFactory,
    CustomerFactory,
    CustomerPredictionFactory,
    ModelVersionFactory,
    ProductFactory,
)
from tests.worker import start_worker  # noqa: F401


@pytest.fixture
def shop(tenant_a):
    """At NOW:

    - buyer: bought boots (shoes, 10.0) 40 days ago and a hat (hats, 30.0) 10 days ago,
      viewed boots 5 days ago. recency 10, frequency 2, monetary 40, tenure 40,
      avg_order_value 20, interpurchase 30, views_30d 1.
    - viewer: viewed boots 20 and 3 days ago, clicked the hat 2 days ago, carted boots
      1 day ago; never bought. recency = tenure = 20, views_30d 2, clicks 1, carts 1.
    - idle: no interaction at all.
    - late: bought a hat stamped one day after NOW: no feature counts it, behaviours do.
    """
    boots = ProductFactory(tenant=tenant_a, external_id="boots", category="shoes")
    hat = ProductFactory(tenant=tenant_a, external_id="hat", category="hats")
    made = {
        name: CustomerFactory(tenant=tenant_a, external_id=name)
        for name in ("buyer", "viewer", "idle", "late")
    }
    event(tenant_a, made["buyer"], "purchase", 40, boots, 10.0)
    event(tenant_a, made["buyer"], "purchase", 10, hat, 30.0)
    event(tenant_a, made["buyer"], "view", 5, boots)
    event(tenant_a, made["viewer"], "view", 20, boots)
    event(tenant_a, made["viewer"], "view", 3, boots)
    event(tenant_a, made["viewer"], "click", 2, hat)
    event(tenant_a, made["viewer"], "add_to_cart", 1, boots)
    event(tenant_a, made["late"], "purchase", -1, hat, 50.0)
    return tenant_a, made


@pytest.fixture
def predictions(shop):
    """Active segmentation: buyer 1, viewer 2, late 2 (idle none); a retired version says
    idle 1, buyer 3. Active propensity: buyer 0.2, viewer 0.8, late 0.4."""
    tenant, made = shop
    active = ModelVersionFactory(tenant=tenant, kind="segmentation", status="active")
    retired = ModelVersionFactory(tenant=tenant, kind="segmentation")
    propensity = ModelVersionFactory(tenant=tenant, kind="propensity", status="active")
    pointer = ActiveModelFactory(tenant=tenant, kind="segmentation", version=active)
    ActiveModelFactory(tenant=tenant, kind="propensity", version=propensity)
    rows = [
        (active, "buyer", 1, None), (active, "viewer", 2, None), (active, "late", 2, None),
        (retired, "idle", 1, None), (retired, "buyer", 3, None),
        (propensity, "buyer", None, 0.2), (propensity, "viewer", None, 0.8),
        (propensity, "late", None, 0.4),
    ]  # fmt: skip
    for version, name, segment, score in rows:
        CustomerPredictionFactory(
            tenant=tenant, version=version, customer=made[name], segment=segment, score=score
        )
    return tenant, pointer, retired
