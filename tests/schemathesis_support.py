"""The shop and the request shapes the schemathesis suite (tests/test_schemathesis.py) uses.

The shop is one tenant with a little of everything the routes address: customers, products
and interactions (a review among them), labelled examples, a segment, a draft campaign, a
retrain policy and a trained popularity model with its run. `Shop.addresses` gives, per path
prefix, the path parameters of a row that exists, so generated requests reach real rows and
not only ids nobody holds.

`domain_bodies` are request bodies shaped as the domain expects them (a segment filter that
parses, a campaign naming the shop's segment, a registered model kind): schema-only data
almost never gets past validation on those routes, so their success answers would go
untested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from customers.ingest.validation import INTERACTION_KINDS
from tenants.models import Tenant
from tests.campaigns.helpers import plausible_filters
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    InteractionFactory,
    LabelledExampleFactory,
    ProductFactory,
    RetrainPolicyFactory,
    SegmentFactory,
    TenantFactory,
    api_key_for,
)
from training import services as training
from training.models import TrainingRun
from training.registry import registered_kinds

START = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMERS = [f"c{i}" for i in range(4)]
PRODUCTS = [f"p{i}" for i in range(4)]


@dataclass
class Shop:
    tenant: Tenant
    key: str
    segment_id: int
    # Path prefix ("/api/v1/campaigns/") -> path parameters of one of the shop's rows.
    addresses: dict[str, dict[str, object]] = field(default_factory=dict)

    def address_for(self, path: str) -> dict[str, object]:
        for prefix, address in self.addresses.items():
            if path.startswith(prefix):
                return dict(address)
        return {}


def build_shop() -> Shop:
    tenant = TenantFactory(slug="fuzz-shop")
    customers = [CustomerFactory(tenant=tenant, external_id=name) for name in CUSTOMERS]
    products = [
        ProductFactory(tenant=tenant, external_id=name, category=("shoes", "hats")[i % 2])
        for i, name in enumerate(PRODUCTS)
    ]
    n = 0
    for c, customer in enumerate(customers):
        for p, product in enumerate(products):
            if (c + p) % 2:
                continue
            for kind in ("view", "purchase"):
                n += 1
                InteractionFactory(
                    tenant=tenant, customer=customer, product=product, kind=kind,
                    event_id=f"e{n}", occurred_at=START + timedelta(hours=n),
                )  # fmt: skip
    InteractionFactory(
        tenant=tenant, customer=customers[0], product=products[1], kind="review", value=5.0,
        text="Great boots, fast delivery", event_id="review-1", occurred_at=START,
    )  # fmt: skip
    examples = [
        LabelledExampleFactory(tenant=tenant, task="topic", text=text, label=label)
        for text, label in [
            ("The parcel arrived late", "delivery"),
            ("Courier lost my order", "delivery"),
            ("The leather is soft", "quality"),
            ("Stitching came apart", "quality"),
        ]
    ]
    segment = SegmentFactory(tenant=tenant, name="opted-in")
    campaign = CampaignFactory(tenant=tenant, name="spring", segment=segment)
    RetrainPolicyFactory(tenant=tenant, kind="popularity")
    run = training.training_run_train_now(tenant=tenant, kind="popularity")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    addresses = {
        "/api/v1/campaigns/": {"id": campaign.pk},
        "/api/v1/segments/": {"id": segment.pk},
        "/api/v1/customers/": {"external_id": customers[0].external_id},
        "/api/v1/products/": {"external_id": products[0].external_id},
        "/api/v1/models/": {"id": run.model_version_id},
        "/api/v1/training-runs/": {"id": run.pk},
        "/api/v1/nlp/examples/": {"id": examples[0].pk},
        "/api/v1/retrain-policies/": {"kind": "popularity"},
    }
    return Shop(
        tenant=tenant,
        key=api_key_for(tenant, scopes=["read", "write", "admin"]),
        segment_id=segment.pk,
        addresses=addresses,
    )


# --- request bodies shaped as the domain expects them ------------------------------------

names = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
templates = st.sampled_from(
    ["Hello {{ customer.external_id }}", "{% for r in recommendations %}{{ r.title }}"
     "{% endfor %}", "Plain", "{{ campaign.name }} {{ unsubscribe_url }}", "{% if %}"]
)  # fmt: skip
variants = st.lists(
    st.fixed_dictionaries({"name": names, "subject": templates, "body": templates}),
    min_size=1, max_size=3,
)  # fmt: skip


def _campaign(segment_id: Callable[[], int | None], *, partial: bool) -> st.SearchStrategy:
    fields = {"name": names, "variants": variants}
    optional = {
        "segment": st.builds(segment_id) | st.none(),
        "recommendations": st.integers(min_value=0, max_value=5),
        "holdout_share": st.sampled_from([0.0, 0.1, 0.5]),
        "conversion_kind": st.sampled_from(INTERACTION_KINDS),
    }
    if partial:
        return st.fixed_dictionaries({}, optional={**fields, **optional})
    return st.fixed_dictionaries(fields, optional=optional)


def _segment(*, partial: bool) -> st.SearchStrategy:
    fields = {"name": names, "filter": plausible_filters}
    if partial:
        return st.fixed_dictionaries({}, optional=fields)
    return st.fixed_dictionaries(fields, optional={"description": st.text(max_size=20)})


def domain_bodies(segment_id: Callable[[], int | None]) -> dict[str, st.SearchStrategy]:
    """Operation label -> bodies shaped as the domain expects (mixed in with the schema's)."""
    kinds = st.sampled_from([*registered_kinds(), "all"])
    return {
        "POST /api/v1/segments/": _segment(partial=False),
        "PUT /api/v1/segments/{id}/": _segment(partial=False),
        "PATCH /api/v1/segments/{id}/": _segment(partial=True),
        "POST /api/v1/segments/preview/": st.fixed_dictionaries(
            {"filter": plausible_filters}, optional={"sample": st.integers(0, 100)}
        ),
        "POST /api/v1/campaigns/": _campaign(segment_id, partial=False),
        "PUT /api/v1/campaigns/{id}/": _campaign(segment_id, partial=False),
        "PATCH /api/v1/campaigns/{id}/": _campaign(segment_id, partial=True),
        "POST /api/v1/training-runs/": st.fixed_dictionaries(
            {"kind": kinds}, optional={"parameters": st.just({})}
        ),
        "POST /api/v1/nlp/classify/": st.fixed_dictionaries(
            {
                "task": st.sampled_from(["topic", "sentiment"]),
                "texts": st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=3),
            }
        ),  # fmt: skip
        "POST /api/v1/interactions/bulk/": st.lists(
            st.fixed_dictionaries(
                {
                    "event_id": names,
                    "customer": st.sampled_from(CUSTOMERS),
                    "product": st.sampled_from(PRODUCTS),
                    "kind": st.sampled_from(INTERACTION_KINDS),
                    "occurred_at": st.sampled_from(["2026-01-02T10:00:00Z", "2026-01-03"]),
                },
                optional={
                    "value": st.sampled_from([1.0, 5.0, 19.99]),
                    "text": st.sampled_from(["Great", "Late again", "很好"]),
                },
            ),  # fmt: skip
            min_size=1,
            max_size=4,
        ),  # fmt: skip
    }
