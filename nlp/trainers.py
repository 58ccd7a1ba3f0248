"""The nlp trainers, on the training platform like every model kind.

- `text`: one TextClassifier per task with enough labels (uploaded examples; for
  "sentiment" also reviews whose rating gives a weak label), each chosen by cross-validation
  on a stratified 80%, evaluated on the other 20% against the majority class, then refitted
  on every text. The version's primary metric is the mean held-out macro-F1 over its tasks.
  After storing, the sentiment model reads every review (per-version rows and summaries).
- `embeddings`: Word2Vec over product texts and reviews, product content vectors (TF-IDF
  weighted mean of word vectors) and item2vec over customers' product sequences. Held out:
  a fifth of the products, whose content vectors are built from words learnt without their
  text and must land next to products of their own category (against chance).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from nlp import selectors, services
from nlp.ml.bundle import Embeddings, category_agreement, chance_agreement
from nlp.ml.classifier import MIN_PER_CLASS, TextClassifier, stratified_split
from nlp.ml.embeddings import document_vectors, idf_weights, train_item2vec, train_word2vec
from nlp.ml.text import tokenize
from tenants.models import Tenant
from training.registry import Progress, TrainedModel, TrainingData, register

HOLDOUT = 0.2


@dataclass
class TextModels:
    """One classifier per task; saved in one subdirectory each."""

    classifiers: dict[str, TextClassifier]

    def save(self, directory: Path) -> None:
        for task, classifier in self.classifiers.items():
            classifier.save(directory / task)

    @classmethod
    def load(cls, directory: Path) -> Self:
        tasks = sorted(p.name for p in directory.iterdir() if p.is_dir())
        return cls({task: TextClassifier.load(directory / task) for task in tasks})


class TextTrainer:
    kind = selectors.TEXT_KIND
    primary_metric = "macro_f1"
    libraries: tuple[str, ...] = ("scikit-learn", "jieba", "skops")

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        tasks = selectors.training_texts(tenant=tenant)
        rows = sum(len(texts) for texts, _, _ in tasks.values())
        watermark = {
            "interaction_id": selectors.newest_interaction_id(tenant=tenant, reviews_only=True),
            "texts": {task: len(texts) for task, (texts, _, _) in tasks.items()},
        }
        return TrainingData(payload=tasks, watermark=watermark, rows=rows)

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        seed = int(parameters.get("seed", 0))
        classifiers, metrics, baseline, details, skipped = {}, {}, {}, {}, {}
        tasks = data.payload
        for i, (task, (texts, labels, weak)) in enumerate(sorted(tasks.items())):
            progress(f"task {task}", 10 + int(70 * i / max(len(tasks), 1)))
            reason = _too_little(labels)
            if reason:
                skipped[task] = reason
                continue
            train_x, test_x, train_y, test_y = stratified_split(texts, labels, HOLDOUT, seed)
            evaluated = TextClassifier(random_state=seed).fit(train_x, train_y)
            report = evaluated.evaluate(test_x, test_y)
            classifiers[task] = TextClassifier(random_state=seed).fit(texts, labels)
            metrics[f"{task}.macro_f1"] = report["macro_f1"]
            metrics[f"{task}.accuracy"] = report["accuracy"]
            baseline[f"{task}.macro_f1"] = report["majority_macro_f1"]
            baseline[f"{task}.accuracy"] = report["majority_accuracy"]
            details[task] = {**report, "chosen": evaluated.chosen_, "cv_macro_f1":
                             evaluated.cv_score_, "texts": len(texts), "weak_labels": weak}  # fmt: skip
        if not classifiers:
            raise ValueError(
                "No task has enough labelled texts: each needs at least two labels with "
                f"{MIN_PER_CLASS}+ texts each. "
                + "; ".join(f"{t}: {r}" for t, r in skipped.items())
            )
        f1 = [metrics[f"{task}.macro_f1"] for task in classifiers]
        metrics["macro_f1"] = float(np.mean(f1))
        baseline["macro_f1"] = float(np.mean([baseline[f"{t}.macro_f1"] for t in classifiers]))
        return TrainedModel(
            model=TextModels(classifiers), metrics=metrics, baseline_metrics=baseline,
            candidates={t: {"macro_f1": metrics[f"{t}.macro_f1"]} for t in classifiers},
            parameters={"tasks": details, "skipped": skipped},
        )  # fmt: skip

    def save(self, model: TextModels, directory: Path) -> None:
        model.save(directory)

    def load(self, directory: Path) -> TextModels:
        return TextModels.load(directory)

    def store_outputs(self, *, tenant: Tenant, version, model: TextModels, data) -> None:
        classifier = model.classifiers.get(selectors.SENTIMENT)
        if classifier is not None:
            services.reviews_score(tenant=tenant, version=version, classifier=classifier)


def _too_little(labels: list[str]) -> str:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        return f"one label only ({next(iter(counts), 'none')})"
    small = sorted(label for label, n in counts.items() if n < MIN_PER_CLASS)
    if small:
        return f"fewer than {MIN_PER_CLASS} texts for {', '.join(small)}"
    return ""


class EmbeddingsTrainer:
    kind = selectors.EMBEDDINGS_KIND
    primary_metric = "category_agreement"
    libraries: tuple[str, ...] = ("gensim", "jieba")

    def load_data(self, *, tenant: Tenant) -> TrainingData:
        ids, texts, categories = selectors.product_texts(tenant=tenant)
        payload = {
            "product_ids": ids, "product_texts": texts, "categories": categories,
            "reviews": selectors.review_texts(tenant=tenant),
            "sequences": selectors.product_sequences(tenant=tenant),
        }  # fmt: skip
        rows = len(texts) + len(payload["reviews"])
        watermark = {
            "interaction_id": selectors.newest_interaction_id(tenant=tenant),
            "products": len(ids),
        }
        return TrainingData(payload=payload, watermark=watermark, rows=rows)

    def train(self, data: TrainingData, *, parameters: dict, progress: Progress) -> TrainedModel:
        seed = int(parameters.get("seed", 0))
        workers = int(parameters.get("workers", os.cpu_count() or 1))
        payload = data.payload
        progress("tokenising", 10)
        products = [tokenize(text) for text in payload["product_texts"]]
        reviews = [tokenize(text) for text in payload["reviews"]]
        categories = payload["categories"]
        rng = np.random.default_rng(seed)
        held_out = rng.random(len(products)) < HOLDOUT
        progress("evaluating on held-out products", 30)
        metrics, baseline = self._evaluate(products, reviews, categories, held_out, seed, workers)
        progress("word vectors", 55)
        sentences = [s for s in products + reviews if s]
        if len(sentences) < 10:
            raise ValueError("Too little text to learn word vectors from (under 10 texts).")
        words = train_word2vec(sentences, seed=seed, workers=workers)
        content = document_vectors(products, words, idf_weights(products)).astype(np.float32)
        progress("item2vec", 75)
        sequences = payload["sequences"]
        items = train_item2vec(sequences, seed=seed, workers=workers) if sequences else None
        metrics["vocabulary"] = float(len(words))
        metrics["item_vectors"] = float(len(items) if items is not None else 0)
        return TrainedModel(
            model=Embeddings(words, payload["product_ids"], content, items),
            metrics=metrics, baseline_metrics=baseline,
            parameters={"sentences": len(sentences), "sequences": len(sequences),
                        "chance_agreement": baseline["category_agreement"]},  # fmt: skip
        )  # fmt: skip

    def _evaluate(self, products, reviews, categories, held_out, seed, workers):
        with_category = np.array([bool(c) for c in categories])
        test = held_out & with_category
        train = ~held_out & with_category
        if test.sum() < 5 or train.sum() < 5:
            return {"category_agreement": 0.0}, {"category_agreement": 0.0}
        sentences = [p for p, h in zip(products, held_out.tolist(), strict=True) if not h]
        words = train_word2vec([s for s in sentences + reviews if s] or [["-"]], seed=seed,
                               workers=workers, min_count=1)  # fmt: skip
        idf = idf_weights(sentences)
        vectors = document_vectors(products, words, idf)
        test_categories = [c for c, t in zip(categories, test.tolist(), strict=True) if t]
        train_categories = [c for c, t in zip(categories, train.tolist(), strict=True) if t]
        agreement = category_agreement(vectors[test], test_categories, vectors[train],
                                       train_categories)  # fmt: skip
        return (
            {"category_agreement": agreement},
            {"category_agreement": chance_agreement(test_categories, train_categories)},
        )

    def save(self, model: Embeddings, directory: Path) -> None:
        model.save(directory)

    def load(self, directory: Path) -> Embeddings:
        return Embeddings.load(directory)


register(TextTrainer())
register(EmbeddingsTrainer())
