"""Customer intelligence in the database: features in SQL, the segmentation and propensity
trainers, their per-customer outputs, and what the customer API shows of them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.ml.features import customer_features
from customers.models import Customer, CustomerPrediction, Product
from customers.selectors import customer_feature_matrix
from recommender.selectors import interaction_arrays
from tenants.context import tenant_scope
from tests.factories import TenantFactory
from training import services
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(artifact_root):
    tenant = TenantFactory(slug="shop")
    call_command("load_demo_data", "shop", customers=300, products=80, days=90, seed=5, verbosity=0)
    return tenant


def _reference(tenant, as_of) -> object:
    """The numpy definition of the features on the same interactions."""
    arrays, _ = interaction_arrays(tenant=tenant)
    with tenant_scope(tenant):
        products = list(Product.objects.values_list("id", "category"))
    names = sorted({c for _, c in products if c})
    codes = np.array([names.index(c) if c else -1 for _, c in products])
    ids = np.array([p for p, _ in products], dtype=np.int64)
    return customer_features(
        arrays, as_of=as_of.timestamp(), product_category=(ids, codes), category_names=names
    )


def test_features_in_sql_equal_the_numpy_definition(shop):
    # given a moment inside the data, so some events are after it
    with tenant_scope(shop):
        last = Customer.objects.latest("created_at").created_at
    as_of = last - timedelta(days=20)
    # when the features are aggregated in the database, in a fixed number of queries
    with tenant_scope(shop), CaptureQueriesContext(connection) as queries:
        got = customer_feature_matrix(tenant=shop, as_of=as_of)
    expected = _reference(shop, as_of)
    # then they are the reference's, customer by customer and column by column
    # the top categories, then one GROUP BY customer (on PostgreSQL read through a raw
    # binary cursor, which the capture does not see)
    assert 1 <= len(queries) <= 2
    assert got.names == expected.names and len(got.names) > 9
    assert (got.customer_ids == expected.customer_ids).all()
    np.testing.assert_allclose(got.X, expected.X, rtol=1e-6, atol=1e-6)


def _train(tenant, kind: str, **parameters):
    run = services.training_run_train_now(tenant=tenant, kind=kind, parameters=parameters)
    assert run.status == "succeeded", run.error
    with tenant_scope(tenant):
        return run, ModelVersion.objects.get(training_run_id=run.pk)


def _predictions(tenant, version) -> dict[int, tuple]:
    with tenant_scope(tenant):
        return {
            c: (s, p)
            for c, s, p in CustomerPrediction.objects.filter(version=version).values_list(
                "customer_id", "segment", "score"
            )
        }


def test_segments_are_stored_per_customer_and_keep_their_ids_on_retrain(shop):
    # when segmentation is trained twice on the same data
    run, first = _train(shop, "segmentation")
    _, second = _train(shop, "segmentation")
    # then every customer with history has a segment, with a profile and name on the run
    stored = _predictions(shop, first)
    with tenant_scope(shop):
        assert len(stored) == Customer.objects.filter(interactions__isnull=False).distinct().count()
    assert {s for s, _ in stored.values()} == set(range(int(run.metrics["metrics"]["k"])))
    assert run.metrics["metrics"]["silhouette"] > run.metrics["baseline_metrics"]["silhouette"]
    assert len(run.metrics["details"]["profiles"]) == run.metrics["metrics"]["k"]
    # and the second version gives (nearly) every customer the same segment id
    again = _predictions(shop, second)
    same = np.mean([again[c][0] == stored[c][0] for c in stored])
    assert same >= 0.95


def test_propensity_beats_recency_and_scores_every_customer(shop):
    # when the propensity model is trained with a 20-day window on 90 days of data
    shop.settings = {"customers": {"propensity_window_days": 20}}
    shop.save()
    run, version = _train(shop, "propensity")
    metrics, baseline = run.metrics["metrics"], run.metrics["baseline_metrics"]
    # then it ranks the next window's buyers well, better than recency alone
    assert metrics["roc_auc"] >= 0.65
    assert metrics["roc_auc"] > baseline["roc_auc"]
    assert metrics["quality_band"] in ("fair", "good", "excellent")
    # and every customer with history has a probability
    scores = [p for _, p in _predictions(shop, version).values()]
    assert len(scores) > 200 and all(0.0 <= p <= 1.0 for p in scores)


def test_too_little_history_for_propensity_fails_with_a_reason(shop):
    shop.settings = {"customers": {"propensity_window_days": 60}}
    shop.save()
    run = services.training_run_train_now(tenant=shop, kind="propensity")
    assert run.status == "failed" and "120 days of history" in run.error


def test_the_customer_api_shows_the_active_versions_segment_and_scores(shop, client_for):
    # given both models trained, and a customer who has bought
    shop.settings = {"customers": {"propensity_window_days": 20}}
    shop.save()
    _, segmentation = _train(shop, "segmentation")
    _, propensity = _train(shop, "propensity")
    with tenant_scope(shop):
        customer = Customer.objects.filter(interactions__kind="purchase").first()
    stored_segment = _predictions(shop, segmentation)[customer.pk][0]
    stored_score = _predictions(shop, propensity)[customer.pk][1]
    # when an engineer reads the customer
    body = client_for(shop).get(f"/api/v1/customers/{customer.external_id}/").json()
    # then the segment, propensity and churn risk are the active versions' own
    assert body["segment"]["id"] == stored_segment and body["segment"]["name"]
    assert body["propensity"] == pytest.approx(stored_score)
    assert body["churn_risk"] == pytest.approx(1 - stored_score)


def test_before_any_model_the_customer_api_says_null(shop, client_for):
    with tenant_scope(shop):
        customer = Customer.objects.first()
    body = client_for(shop).get(f"/api/v1/customers/{customer.external_id}/").json()
    assert body["segment"] is None and body["propensity"] is None and body["churn_risk"] is None


def test_the_admin_shows_segments_propensity_curves_and_a_customers_scores(shop):
    from django.test import Client

    from tests.factories import member_of

    # given both models trained and an analyst of the shop signed in
    shop.settings = {"customers": {"propensity_window_days": 20}}
    shop.save()
    run, segmentation = _train(shop, "segmentation")
    _, propensity = _train(shop, "propensity")
    client = Client()
    client.force_login(member_of(shop, role="analyst"))

    # then the segmentation version shows each segment's profile and the 2-D map
    page = client.get(f"/admin/training/modelversion/{segmentation.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    for profile in run.metrics["details"]["profiles"]:
        assert profile["name"].replace("&", "&amp;") in html
    assert 'aria-label="segments on two principal components"' in html
    assert html.count("<circle") >= 100
    # and the propensity version its quality band, ROC curve and calibration
    html = client.get(f"/admin/training/modelversion/{propensity.pk}/change/").content.decode()
    assert 'aria-label="ROC curve"' in html and 'aria-label="calibration"' in html
    assert "Quality: <b>" in html
    # and a customer's page their segment and propensity
    with tenant_scope(shop):
        customer = Customer.objects.filter(interactions__kind="purchase").first()
    html = client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    assert "Purchase propensity" in html and "%" in html and "(#" in html


def test_rolling_back_a_version_brings_back_its_scores_at_once(shop, client_for):
    # given two propensity versions trained with different windows
    shop.settings = {"customers": {"propensity_window_days": 20}}
    shop.save()
    _, first = _train(shop, "propensity")
    shop.settings = {"customers": {"propensity_window_days": 25}}
    shop.save()
    _, second = _train(shop, "propensity")
    with tenant_scope(shop):
        customer = Customer.objects.filter(interactions__kind="purchase").first()
    scores = {v.pk: _predictions(shop, v)[customer.pk][1] for v in (first, second)}
    assert scores[first.pk] != scores[second.pk]
    api = client_for(shop)

    def shown() -> float:
        return api.get(f"/api/v1/customers/{customer.external_id}/").json()["propensity"]

    # when the first version is activated again, then its score is the customer's at once
    services.model_version_activate(tenant=shop, version=first)
    assert shown() == pytest.approx(scores[first.pk])
    services.model_version_activate(tenant=shop, version=second)
    assert shown() == pytest.approx(scores[second.pk])
