"""The text admin as an analyst uses it: labelled examples with their counts, the Text models
page (held-out metrics, confusion matrix, try-it form, similar terms), the review sentiment
list and the version pages of the text kinds; every page scoped to the member's tenants."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from nlp import selectors, services
from nlp.ml import synthetic
from nlp.models import LabelledExample
from tenants.context import tenant_scope
from tests.factories import (
    ModelVersionFactory,
    ReviewSentimentFactory,
    TrainingRunFactory,
    member_of,
)
from training import services as training
from training.models import TrainingRun
from training.selectors import active_version_get, model_cache

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/nlp/labelledexample/"
TEXT_MODELS = f"{CHANGELIST}text-models/"
REVIEWS = "/admin/nlp/reviewsentiment/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def examples(tenant) -> list[tuple[str, str, str, str]]:
    with tenant_scope(tenant):
        return list(LabelledExample.objects.values_list("task", "text", "label", "key"))


@pytest.fixture
def topics(tenant_a):
    """300 English texts about delivery, quality or price, uploaded as task "topic"."""
    rows = [
        {"text": text, "label": label, "task": "topic"}
        for text, label in synthetic.topic_texts(300, language="en", seed=1)
    ]
    result = services.examples_upsert(tenant=tenant_a, rows=rows)
    assert not result.rejected
    with tenant_scope(tenant_a):
        return selectors.example_counts(tenant=tenant_a)["topic"]


@pytest.fixture
def trained(tenant_a, topics, artifact_root):
    """The `text` kind trained on the topics: the active version of tenant A."""
    model_cache.clear()  # ids repeat between tests; a cached model would be another test's
    run = training.training_run_train_now(tenant=tenant_a, kind="text")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    with tenant_scope(tenant_a):
        version = active_version_get(tenant=tenant_a, kind="text")
        assert version.training_run is not None  # read now, in scope, for the report
    return version


# --- labelled examples -----------------------------------------------------------------------


def test_the_example_list_shows_counts_per_task_and_label_above_the_rows(tenant_a, topics):
    client = signed_in(member_of(tenant_a, "viewer"))

    page = page_text(client.get(CHANGELIST))
    panel = re.search(r'<table class="example-counts">.*?</table>', page, re.S).group(0)
    assert f"<td>topic</td><td>{sum(topics.values())}</td>" in panel
    for label, n in topics.items():
        assert f"{label}: {n}</a>" in panel
    assert f'href="{TEXT_MODELS}">Text models</a>' in page
    assert 'class="field-text_excerpt"' in page and 'class="field-label"' in page

    price = page_text(client.get(CHANGELIST, {"label__exact": "price"}))
    assert f"{topics['price']} result" in price  # the filter the count links to
    found = page_text(client.get(CHANGELIST, {"q": "coupon"}))
    assert "coupon" in found and "0 results" not in found


def test_an_analyst_adds_an_example_and_then_changes_only_its_label(tenant_a):
    client = signed_in(member_of(tenant_a, "analyst"))
    row = {"tenant": tenant_a.pk, "task": "topic", "label": " delivery ", "text": "Late parcel"}

    bad = page_text(client.post(f"{CHANGELIST}add/", {**row, "task": "Bad Task"}))
    assert "a task name is 1-50 lower-case letters" in bad and examples(tenant_a) == []

    assert client.post(f"{CHANGELIST}add/", row).status_code == 302
    key = services.example_key("topic", "Late parcel")
    assert examples(tenant_a) == [("topic", "Late parcel", "delivery", key)]  # key computed

    # the same text again is the same example: its label is replaced, as over the API
    again = client.post(f"{CHANGELIST}add/", {**row, "label": "speed"}, follow=True)
    assert "its label was replaced" in page_text(again)
    assert examples(tenant_a) == [("topic", "Late parcel", "speed", key)]

    with tenant_scope(tenant_a):
        pk = LabelledExample.objects.get().pk
    change = f"{CHANGELIST}{pk}/change/"
    # task and text make the key: they are read-only, a changed text would be ignored
    edited = {"task": "other", "text": "Changed", "label": "courier"}
    assert client.post(change, edited).status_code == 302
    assert examples(tenant_a) == [("topic", "Late parcel", "courier", key)]


def test_nobody_adds_an_example_to_a_tenant_they_do_not_belong_to(tenant_a, tenant_b):
    client = signed_in(member_of(tenant_a, "owner"))
    row = {"tenant": tenant_b.pk, "task": "topic", "label": "delivery", "text": "Late parcel"}
    refused = page_text(client.post(f"{CHANGELIST}add/", row))
    assert "Choose one of your own tenants" in refused
    assert examples(tenant_a) == [] and examples(tenant_b) == []

    viewer = signed_in(member_of(tenant_a, "viewer"))
    assert viewer.post(f"{CHANGELIST}add/", {**row, "tenant": tenant_a.pk}).status_code == 403
    assert examples(tenant_a) == []


# --- the Text models page --------------------------------------------------------------------


def test_the_text_models_page_shows_counts_metrics_and_the_confusion_matrix(tenant_a, trained):
    page = page_text(signed_in(member_of(tenant_a, "viewer")).get(TEXT_MODELS))
    report = trained.training_run.metrics["details"]["tasks"]["topic"]

    assert "Task topic" in page and f"v{trained.version}</a>" in page
    assert f"/admin/training/modelversion/{trained.pk}/change/" in page
    assert "price: " in page and "delivery: " in page and "quality: " in page
    accuracy = f"{100 * report['accuracy']:.1f}%"
    majority = f"{100 * report['majority_accuracy']:.1f}%"
    assert f"<td>accuracy</td><td>{accuracy}</td><td>{majority}</td>" in page
    assert f"<td>{report['macro_f1']:.3f}</td><td>{report['majority_macro_f1']:.3f}</td>" in page
    assert '<table class="per-class">' in page and "<th>precision</th>" in page

    matrix = re.search(r'<table class="confusion-matrix">.*?</table>', page, re.S).group(0)
    labels, counts = report["labels"], report["confusion_matrix"]
    for label, row in zip(labels, counts, strict=True):  # row = true label, column = predicted
        cells = re.search(rf'<th scope="row">{label}</th>(.*?)</tr>', matrix).group(1)
        assert [int(n) for n in re.findall(r"(\d+)</", cells)] == row
    assert sum(map(sum, counts)) == report["n"]


def test_trying_the_classifier_labels_each_line_with_its_probabilities(tenant_a, trained):
    client = signed_in(member_of(tenant_a, "viewer"))  # classifying writes nothing
    lines = "the package arrived late and tracking never updated\n\ngreat value for money"
    page = page_text(client.post(TEXT_MODELS, {"task": "topic", "texts": lines}))

    table = re.search(r'<table class="classified">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td><strong>(.*?)</strong></td><td>(.*?)</td>", table)
    assert [(text, label) for text, label, _ in rows] == [
        ("the package arrived late and tracking never updated", "delivery"),
        ("great value for money", "price"),
    ]  # the blank line is skipped
    assert all(re.fullmatch(r"(\w+ \d+\.\d%)(, \w+ \d+\.\d%){2}", p) for _, _, p in rows)


def test_an_unknown_task_or_no_text_is_a_message_not_an_error(tenant_a, topics):
    client = signed_in(member_of(tenant_a, "analyst"))

    unknown = page_text(client.post(TEXT_MODELS, {"task": "colour", "texts": "red shoes"}))
    assert "No trained classifier for task 'colour'" in unknown
    assert 'class="classified"' not in unknown
    empty = page_text(client.post(TEXT_MODELS, {"task": "topic", "texts": " \n "}))
    assert "Type one or more lines of text to classify." in empty
    invalid = page_text(client.post(TEXT_MODELS, {"task": "Not A Task", "texts": "hi"}))
    assert "a task name is 1-50 lower-case letters" in invalid
    too_long = page_text(client.post(TEXT_MODELS, {"task": "topic", "texts": "x" * 5001}))
    assert "Line 1 is longer than 5000 characters" in too_long
    # no text model at all: the page still renders, and says so
    assert "no text model is trained yet" in unknown
    assert "No classifier for this task in the active text model" in unknown


def test_similar_terms_without_embeddings_says_what_to_train(tenant_a):
    client = signed_in(member_of(tenant_a, "viewer"))
    page = page_text(client.get(TEXT_MODELS, {"term": "shoe", "tenant": "tenant-a"}))
    assert "No word embeddings are trained yet: train the 'embeddings' kind." in page
    assert 'class="similar-terms"' not in page
    blank = page_text(client.get(TEXT_MODELS, {"term": " "}))
    assert "Type a word to find the words used like it." in blank


def test_a_member_of_several_tenants_picks_one_by_slug(tenant_a, tenant_b, topics):
    user = member_of(tenant_a, "viewer")
    member_of(tenant_b, "viewer", username=user.username)  # the same account in B
    client = signed_in(user)

    first = page_text(client.get(TEXT_MODELS))  # the first tenant by slug
    assert "Tenant <strong>tenant-a</strong>" in first and "Task topic" in first
    assert f'href="{TEXT_MODELS}?tenant=tenant-b">tenant-b</a>' in first
    other = page_text(client.get(TEXT_MODELS, {"tenant": "tenant-b"}))
    assert "Tenant <strong>tenant-b</strong>" in other and "Task topic" not in other
    assert 'value="tenant-b"' in other  # the similar-terms form keeps the tenant


# --- tenancy ---------------------------------------------------------------------------------


def test_a_member_of_another_tenant_sees_none_of_its_examples_or_models(
    tenant_a, tenant_b, trained
):
    services.examples_upsert(
        tenant=tenant_b, rows=[{"task": "mood", "text": "theirs to read", "label": "calm"}]
    )
    client = signed_in(member_of(tenant_b, "owner"))
    some_text_of_a = examples(tenant_a)[0][1]

    listing = page_text(client.get(CHANGELIST))
    assert "theirs to read" in listing and "<td>mood</td><td>1</td>" in listing
    assert "topic" not in listing and some_text_of_a[:40] not in listing
    assert "topic" not in page_text(client.get(CHANGELIST, {"q": some_text_of_a}))

    page = page_text(client.get(TEXT_MODELS, {"tenant": "tenant-a"}))
    assert "You are not a member of a tenant 'tenant-a'." in page
    assert "Tenant <strong>tenant-b</strong>" in page and "Task mood" in page
    assert "Task topic" not in page and "confusion-matrix" not in page
    assert f"/admin/training/modelversion/{trained.pk}/" not in page
    tried = page_text(client.post(TEXT_MODELS, {"task": "topic", "texts": "arrived late"}))
    assert "No trained classifier for task 'topic'" in tried
    assert 'class="classified"' not in tried

    version_page = client.get(f"/admin/training/modelversion/{trained.pk}/change/", follow=True)
    assert version_page.redirect_chain == [("/admin/", 302)]


# --- version pages ---------------------------------------------------------------------------


def test_the_text_version_page_shows_per_task_metrics_and_its_confusion_matrix(tenant_a, trained):
    client = signed_in(member_of(tenant_a, "viewer"))
    page = page_text(client.get(f"/admin/training/modelversion/{trained.pk}/change/"))
    report = trained.training_run.metrics["details"]["tasks"]["topic"]

    summary = re.search(r'<table class="text-tasks">.*?</table>', page, re.S).group(0)
    assert "<td>topic</td>" in summary and f"<td>{report['macro_f1']:.3f}</td>" in summary
    assert "topic: confusion matrix" in page
    matrix = re.search(r'<table class="confusion-matrix">.*?</table>', page, re.S).group(0)
    assert all(f'<th scope="col">{label}</th>' in matrix for label in report["labels"])


def test_the_embeddings_version_page_shows_agreement_vocabulary_and_item_vectors(tenant_a):
    run = TrainingRunFactory(
        tenant=tenant_a, kind="embeddings",
        metrics={"details": {"sentences": 1200, "sequences": 340}},
    )  # fmt: skip
    version = ModelVersionFactory(
        tenant=tenant_a, kind="embeddings", training_run=run, primary_metric="category_agreement",
        metrics={"category_agreement": 0.62, "vocabulary": 1834.0, "item_vectors": 40.0},
        baseline_metrics={"category_agreement": 0.25},
    )  # fmt: skip
    client = signed_in(member_of(tenant_a, "viewer"))
    page = page_text(client.get(f"/admin/training/modelversion/{version.pk}/change/"))
    panel = re.search(r'<table class="embeddings-metrics">.*?</table>', page, re.S).group(0)
    assert "<td>62.0%</td>" in panel and "<td>1,834</td>" in panel and "<td>40</td>" in panel
    assert "<td>1,200</td>" in panel and "<td>340</td>" in panel


# --- review sentiment ------------------------------------------------------------------------


def test_review_sentiment_is_read_only_filtered_by_label_and_scoped(tenant_a, tenant_b):
    ReviewSentimentFactory(tenant=tenant_a, interaction__text="Lovely sturdy jacket")
    ReviewSentimentFactory(tenant=tenant_a, interaction__text="Fell apart quickly",
                           label="negative", positive=0.08)  # fmt: skip
    ReviewSentimentFactory(tenant=tenant_b, interaction__text="Their private review")
    client = signed_in(member_of(tenant_a, "analyst"))

    listing = page_text(client.get(REVIEWS))
    assert "Lovely sturdy jacket" in listing and "Fell apart quickly" in listing
    assert "Their private review" not in listing
    assert '<td class="field-positive_share">8.0%</td>' in listing
    negative = page_text(client.get(REVIEWS, {"label": "negative"}))
    assert "Fell apart quickly" in negative and "Lovely sturdy jacket" not in negative
    assert f'href="{REVIEWS}add/"' not in listing
    assert client.get(f"{REVIEWS}add/").status_code == 403
