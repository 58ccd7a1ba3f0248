"""The recommender trainer with and without the tenant's active `embeddings` version.

The NLP app's own trainer may not be registered yet, so the test registers a stand-in
for the `embeddings` kind that builds the real `nlp.ml.bundle.Embeddings` with the real
nlp.ml.embeddings functions (Word2Vec over product texts, item2vec over each customer's
time-ordered products), and stores it through the training platform like any kind.
The last two tests check `embedding_inputs` alone, with the loading stubbed (no database).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.management import call_command
from scipy import sparse

from nlp.ml.bundle import Embeddings
from nlp.ml.embeddings import document_vectors, idf_weights, train_item2vec, train_word2vec
from nlp.ml.text import tokenize
from recommender import trainers
from recommender.selectors import interaction_arrays, product_texts
from tests.factories import TenantFactory
from training import registry, services
from training.registry import TrainedModel, TrainingData
from training.selectors import active_model_load, model_cache

SEARCH = {
    "time_budget": 20,
    "families": ["popularity", "itemknn", "content", "item2vec", "w2v_content"],
}


class StandInEmbeddingsTrainer:
    """What the NLP app's `embeddings` trainer stores, built the simplest way."""

    kind = "embeddings"
    primary_metric = "products_with_vectors"
    libraries: tuple[str, ...] = ("gensim",)

    def load_data(self, *, tenant) -> TrainingData:
        arrays, watermark = interaction_arrays(tenant=tenant)
        product_ids, texts = product_texts(tenant=tenant)
        return TrainingData((arrays, product_ids, texts), watermark, rows=len(arrays))

    def train(self, data: TrainingData, *, parameters: dict, progress) -> TrainedModel:
        arrays, product_ids, texts = data.payload
        docs = [tokenize(text) for text in texts]
        words = train_word2vec(docs, vector_size=32, min_count=1, workers=1, seed=0)
        content = document_vectors(docs, words, idf_weights(docs))
        order = np.lexsort((arrays.timestamp, arrays.customer))
        customers, products = arrays.customer[order], arrays.product[order]
        starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
        sequences = [s[s >= 0].tolist() for s in np.split(products, starts[1:])]
        items = train_item2vec(sequences, vector_size=32, workers=1, seed=0)
        model = Embeddings(words, product_ids, content, items)
        return TrainedModel(model=model, metrics={self.primary_metric: float(len(items))})

    def save(self, model: Embeddings, directory: Path) -> None:
        model.save(directory)

    def load(self, directory: Path) -> Embeddings:
        return Embeddings.load(directory)


@pytest.fixture
def demo_shop(artifact_root, monkeypatch):
    monkeypatch.setitem(registry._trainers, "embeddings", StandInEmbeddingsTrainer())
    tenant = TenantFactory(slug="shop")
    call_command("load_demo_data", "shop", customers=300, products=80, days=90, seed=5, verbosity=0)
    model_cache.clear()
    return tenant


@pytest.mark.django_db
def test_the_embedding_families_join_the_selection_once_the_tenant_has_embeddings(demo_shop):
    # given no embeddings version: the two families are skipped, and the run says why
    run = services.training_run_train_now(tenant=demo_shop, kind="recommender", parameters=SEARCH)
    assert run.status == "succeeded", run.error
    details = run.metrics["details"]
    assert {"item2vec", "w2v_content"}.isdisjoint(run.metrics["candidates"])
    assert "item2vec" in details["skipped"]["item2vec"]
    assert "Word2Vec" in details["skipped"]["w2v_content"]
    assert details["embeddings"] == {"version": None, "reason": "no active version"}

    # when the tenant gets an active embeddings version, and the recommender is retrained
    embeddings_run = services.training_run_train_now(tenant=demo_shop, kind="embeddings")
    assert embeddings_run.status == "succeeded", embeddings_run.error
    version, embeddings = active_model_load(tenant=demo_shop, kind="embeddings")
    run = services.training_run_train_now(tenant=demo_shop, kind="recommender", parameters=SEARCH)

    # then both were candidates, scored on the held-out test split like the others
    assert run.status == "succeeded", run.error
    details = run.metrics["details"]
    assert {"item2vec", "w2v_content"} <= set(run.metrics["candidates"])
    assert {"item2vec", "w2v_content"}.isdisjoint(details["skipped"])
    assert details["embeddings"]["version"] == version.version
    assert details["embeddings"]["with_item_vector"] == len(embeddings.items)
    assert details["embeddings"]["with_content_vector"] == 80
    # the vectors saw the held-out events (trained on everything): the run says so
    assert "optimistic" in details["notes"]["item2vec"]
    # and the bundle's content model is whichever content family won on validation
    validation = details["validation"]
    better = validation["w2v_content"]["ndcg@10"] > validation["content"]["ndcg@10"]
    assert details["serving"]["content_model"] == ("w2v_content" if better else "content")

    # and the recommender serves without the embeddings version's files
    shutil.rmtree(version.artifact_path)
    model_cache.clear()
    _, serving = active_model_load(tenant=demo_shop, kind="recommender")
    row = sparse.csr_matrix(([4.0], ([0], [3])), shape=(1, len(serving.products.ids)))
    items, scores, sources = serving.model.recommend(row, 10, exclude=row)
    assert (items[0] >= 0).all() and np.isfinite(scores[0]).all() and len(sources[0]) == 10


class _Vectors:
    """A loaded embeddings model as the trainer sees it: products 10 and 30 have item
    vectors, 20 has none (the garbage in its row must not be used)."""

    def content_of(self, product_ids: np.ndarray) -> np.ndarray:
        return np.asarray(product_ids, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)

    def item_vectors(self, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.full((len(product_ids), 2), 7.0, np.float32), np.asarray(product_ids) != 20


def test_embedding_inputs_line_up_with_the_catalogue(monkeypatch):
    version = SimpleNamespace(version=3, watermark_interaction_id=0)
    monkeypatch.setattr(trainers, "active_model_load", lambda **_: (version, _Vectors()))
    inputs = trainers.embedding_inputs(tenant=SimpleNamespace(pk=1), product_ids=[30, 10, 20])
    np.testing.assert_array_equal(inputs["content_vectors"][:, 0], [30, 10, 20])
    np.testing.assert_array_equal(inputs["item_vectors"], [[7, 7], [7, 7], [0, 0]])
    assert inputs["embeddings"] == {
        "version": 3, "products": 3, "with_content_vector": 3, "with_item_vector": 2,
    }  # fmt: skip
    assert inputs["vectors_through"] is None  # no watermark: nothing to date them by


def test_broken_embeddings_leave_the_recommender_without_them(monkeypatch):
    def broken(**_):
        raise FileNotFoundError("artifact gone")

    monkeypatch.setattr(trainers, "active_model_load", broken)
    inputs = trainers.embedding_inputs(tenant=SimpleNamespace(pk=1), product_ids=[1, 2])
    assert inputs["item_vectors"] is None and inputs["content_vectors"] is None
    assert inputs["embeddings"]["reason"] == "not loaded: artifact gone"
