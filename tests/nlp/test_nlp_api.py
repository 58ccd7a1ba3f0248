"""The nlp routes and trainers end to end: labelled examples in, per-tenant classifiers and
word vectors trained on the platform, texts classified, reviews read on arrival and their
sentiment shown on customers and products."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.celery import app
from customers.ingest.bulk import interaction_ingest_bulk, product_upsert_bulk
from nlp import services as nlp_services
from nlp.ml import synthetic
from training import services as training
from training.models import TrainingRun
from training.selectors import active_model_load, model_cache

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 1, tzinfo=UTC)


def _reviews(n: int, seed: int) -> list[dict]:
    """Reviews with ratings, by 60 customers on the 40 products, in English and Chinese."""
    return [
        {"event_id": f"r{seed}-{i}", "customer": f"c{i % 60}", "product": f"p{i % 40}",
         "kind": "review", "value": rating, "text": text,
         "occurred_at": (START + timedelta(minutes=i)).isoformat()}
        for i, (text, rating) in enumerate(synthetic.reviews(n, language="mixed", seed=seed))
    ]  # fmt: skip


@pytest.fixture
def text_shop(tenant_a, api_a, artifact_root):
    """Products with descriptions of 4 planted categories, 900 reviews, 300 topic examples;
    the `text` and `embeddings` kinds trained."""
    descriptions = synthetic.product_descriptions(40, seed=1)
    product_upsert_bulk(tenant=tenant_a, rows=[
        {"external_id": f"p{i}", "title": text.split(".")[0][:100], "description": text,
         "category": category}
        for i, (text, category) in enumerate(descriptions)
    ])  # fmt: skip
    interaction_ingest_bulk(
        tenant=tenant_a, rows=_reviews(900, seed=1), now=START + timedelta(days=9)
    )
    topics = synthetic.topic_texts(300, language="en", seed=2)
    uploaded = api_a.post("/api/v1/nlp/examples/bulk/",
                          [{"text": t, "label": label, "task": "topic"} for t, label in topics],
                          format="json")  # fmt: skip
    assert uploaded.status_code == 200, uploaded.content
    model_cache.clear()
    for kind in ("text", "embeddings"):
        run = training.training_run_train_now(tenant=tenant_a, kind=kind)
        assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return tenant_a


def test_examples_bulk_keeps_the_valid_rows_and_reports_the_bad_ones(api_a):
    rows = [
        {"text": "Fast delivery", "label": "delivery", "task": "topic"},
        {"text": "", "label": "x", "task": "topic"},
        {"text": "ok", "label": "x", "task": "Bad Task"},
        {"text": "ok", "label": "", "task": "topic"},
        {"text": "x" * 5001, "label": "x", "task": "topic"},
        "not an object",
    ]
    response = api_a.post("/api/v1/nlp/examples/bulk/", rows, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 0)
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "text"), (2, "task"), (3, "label"), (4, "text"), (5, ""),
    ]  # fmt: skip
    # the same text again with another label is an update, not a second example
    again = api_a.post("/api/v1/nlp/examples/bulk/",
                       [{"text": "Fast delivery", "label": "speed", "task": "topic"}],
                       format="json")  # fmt: skip
    assert (again.json()["created"], again.json()["updated"]) == (0, 1)
    listed = api_a.get("/api/v1/nlp/examples/?task=topic").json()["results"]
    assert [(e["text"], e["label"]) for e in listed] == [("Fast delivery", "speed")]
    # nothing valid is a 400; not a list and too many rows too
    assert (
        api_a.post("/api/v1/nlp/examples/bulk/", [{"text": ""}], format="json").status_code == 400
    )
    assert api_a.post("/api/v1/nlp/examples/bulk/", {"a": 1}, format="json").status_code == 400
    many = [{"text": f"t{i}", "label": "a", "task": "t"} for i in range(10_001)]
    assert api_a.post("/api/v1/nlp/examples/bulk/", many, format="json").status_code == 400


def test_classify_labels_texts_in_order_with_probabilities(text_shop, api_a):
    texts = ["Excellent quality, I love it, highly recommend", "质量很好，非常满意，推荐购买",
             "Terrible, broke after a day, waste of money", "质量太差了，非常失望，不推荐"]  # fmt: skip
    response = api_a.post("/api/v1/nlp/classify/", {"task": "sentiment", "texts": texts},
                          format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["label"] for r in results] == ["positive", "positive", "negative", "negative"]
    for result in results:
        assert set(result["probabilities"]) == {"positive", "negative"}
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # and the three-class topic task learnt from the uploaded examples
    topics = synthetic.topic_texts(60, language="en", seed=9)
    answer = api_a.post("/api/v1/nlp/classify/",
                        {"task": "topic", "texts": [t for t, _ in topics]}, format="json")  # fmt: skip
    predicted = [r["label"] for r in answer.json()["results"]]
    accuracy = sum(p == t for p, (_, t) in zip(predicted, topics, strict=True)) / len(topics)
    assert accuracy >= 0.8
    tasks = {t["task"]: t for t in api_a.get("/api/v1/nlp/examples/tasks/").json()}
    assert tasks["topic"]["trained"] and tasks["topic"]["examples"] == {
        label: n for label, n in tasks["topic"]["examples"].items()
    }
    assert tasks["topic"]["metrics"]["macro_f1"] > 0.8
    assert len(tasks["topic"]["metrics"]["confusion_matrix"]) == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"task": "sentiment", "texts": []}, 400, "non-empty list"),
        ({"task": "sentiment", "texts": ["ok", "  "]}, 400, "texts[1]: must not be empty"),
        ({"task": "sentiment", "texts": ["x" * 5001]}, 400, "at most 5000 characters"),
        ({"task": "sentiment", "texts": ["ok"] * 1001}, 400, "at most 1000"),
        ({"task": "sentiment", "texts": "not a list"}, 400, "non-empty list"),
        ({"task": "Not A Task", "texts": ["ok"]}, 400, "task:"),
        ({"task": "complaints", "texts": ["ok"]}, 404, "No trained classifier for task"),
        (["not", "an", "object"], 400, "task"),
    ],
)
def test_bad_classify_requests_are_a_clear_4xx(api_a, body, status, message):
    response = api_a.post("/api/v1/nlp/classify/", body, format="json")
    assert response.status_code == status, response.content
    assert message in response.json()["detail"]


def test_without_trained_models_classify_and_similar_terms_say_so(api_a):
    classify = api_a.post("/api/v1/nlp/classify/", {"task": "sentiment", "texts": ["ok"]},
                          format="json")  # fmt: skip
    assert classify.status_code == 404 and "none yet" in classify.json()["detail"]
    terms = api_a.get("/api/v1/nlp/similar-terms/?term=shoe")
    assert terms.status_code == 404 and "No word embeddings" in terms.json()["detail"]


def test_similar_terms_come_from_the_same_planted_category(text_shop, api_a):
    kitchen = set(synthetic.CATEGORY_WORDS["en"]["kitchen"])
    response = api_a.get("/api/v1/nlp/similar-terms/?term=Skillet&limit=5")
    assert response.status_code == 200, response.content
    found = [r["term"] for r in response.json()["results"]]
    assert len(found) == 5 and sum(term in kitchen for term in found) >= 3
    unknown = api_a.get("/api/v1/nlp/similar-terms/?term=zzzunseen")
    assert unknown.status_code == 404 and "No vector for 'zzzunseen'" in unknown.json()["detail"]
    assert api_a.get("/api/v1/nlp/similar-terms/").status_code == 400


def test_a_new_review_is_read_on_arrival_and_shows_on_customer_and_product(
    text_shop, api_a, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the task runs here, now
    before = api_a.get("/api/v1/products/p3/").json()["sentiment"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post("/api/v1/interactions/bulk/", [
            {"event_id": "late-1", "customer": "newcomer", "product": "p3", "kind": "review",
             "value": 1, "text": "Awful. Broke at once, terrible quality, very disappointed.",
             "occurred_at": (START + timedelta(days=8)).isoformat()},
        ], format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    customer = api_a.get("/api/v1/customers/newcomer/").json()["sentiment"]
    assert customer["reviews"] == 1 and customer["positive_share"] == 0.0
    assert customer["mean_positive"] < 0.5
    after = api_a.get("/api/v1/products/p3/").json()["sentiment"]
    assert after["reviews"] == before["reviews"] + 1


def test_segmentation_uses_the_review_sentiment_as_a_feature(text_shop):
    run = training.training_run_train_now(tenant=text_shop, kind="segmentation")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    _, segmenter = active_model_load(tenant=text_shop, kind="segmentation")
    assert "review_sentiment" in segmenter.feature_names_


def test_a_review_whose_scoring_task_was_lost_is_read_by_the_sweep(text_shop, api_a):
    # the scoring task never runs (lost with its worker, or the broker was down)
    response = api_a.post("/api/v1/interactions/bulk/", [
        {"event_id": "lost-1", "customer": "lost-task", "product": "p5", "kind": "review",
         "value": 5, "text": "Wonderful, works perfectly, great value, very happy.",
         "occurred_at": (START + timedelta(days=8)).isoformat()},
    ], format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert api_a.get("/api/v1/customers/lost-task/").json()["sentiment"] is None

    assert nlp_services.reviews_score_unread_all() == {text_shop.slug: 1}

    sentiment = api_a.get("/api/v1/customers/lost-task/").json()["sentiment"]
    assert sentiment["reviews"] == 1 and sentiment["positive_share"] == 1.0
    assert nlp_services.reviews_score_unread_all() == {}  # read once
