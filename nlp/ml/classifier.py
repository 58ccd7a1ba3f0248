"""Text classification (binary or multi-class) for reviews in Chinese, English or both.

Scikit-learn style, pure numeric:

- Features: TF-IDF over words (`text.WordAnalyzer`: jieba for Chinese, a Unicode regex for
  the rest, stop words out, word bigrams so "not good" is a feature) side by side with
  TF-IDF over character 2-4-grams inside words (`text.CharAnalyzer`), both with sublinear
  tf. The characters catch what the words miss: misspellings, inflections, and Chinese
  words jieba segments differently.
- The vectorizers are fitted once on all training texts, then only the classifier is
  cross-validated: tokenising dominates the cost (jieba especially), and document
  frequencies carry no label information, so refitting them per fold buys little.
- Candidates: "logistic" (LogisticRegression) and "linear_svc" (LinearSVC inside
  CalibratedClassifierCV, sigmoid, so it has probabilities), both with balanced class
  weights; C from a small grid; the winner by stratified k-fold macro-F1 (GridSearchCV,
  n_jobs=1 to keep memory flat), refitted on all training texts. Macro-F1, not accuracy:
  the rare class (the complaints) is usually the one that matters.

Persistence with skops (never pickle): `text_classifier.skops` holds the fitted pipeline
and is loaded with the explicit TRUSTED_TYPES; `text_classifier.json` the parameters and
the selection report.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from nlp.ml.text import CharAnalyzer, WordAnalyzer

CANDIDATES = ("logistic", "linear_svc")
# Small on purpose: every point is cv_folds fits (x3 for the calibrated SVC).
GRIDS: dict[str, dict[str, list[float]]] = {
    "logistic": {"C": [2.0, 8.0]},
    "linear_svc": {"C": [0.1, 0.5]},
}
CV_FOLDS = 3
CALIBRATION_FOLDS = 3
MIN_PER_CLASS = 10  # every fold, and every calibration fold inside it, sees each label
MAX_SEARCH_ROWS = 20_000  # texts the hyperparameter search sees (stratified sample)
SEARCH_MIN_PER_CLASS = 100  # a rare label keeps up to this many texts in that sample
MAX_WORD_FEATURES = 200_000
MAX_CHAR_FEATURES = 300_000
MIN_DF_FROM = 500  # below this many texts a term seen once is kept (min_df=1), else min_df=2
FILE_MODEL = "text_classifier.skops"
FILE_META = "text_classifier.json"
# Everything in the saved pipeline that skops does not trust by default; load() trusts
# exactly these. tests/nlp/test_classifier_ml.py checks the list is complete.
TRUSTED_TYPES = [
    "nlp.ml.text.CharAnalyzer",
    "nlp.ml.text.WordAnalyzer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
]


class TextClassifier:
    """Labels for texts; `classes_` orders the columns of `predict_proba`."""

    def __init__(
        self,
        *,
        candidates: tuple[str, ...] = CANDIDATES,
        cv_folds: int = CV_FOLDS,
        random_state: int = 0,
    ) -> None:
        self.candidates = tuple(candidates)
        self.cv_folds = cv_folds
        self.random_state = random_state

    # --- fitting ---------------------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Sequence[Any]) -> Self:
        unknown = set(self.candidates) - set(CANDIDATES)
        if not self.candidates or unknown:
            raise ValueError(f"candidates must be a non-empty subset of {CANDIDATES}")
        texts, y = _check_data(texts, labels)
        _check_label_counts(y, min_per_class=max(MIN_PER_CLASS, self.cv_folds))

        features = _features(min_df=1 if len(texts) < MIN_DF_FROM else 2)
        try:
            X = features.fit_transform(texts)
        except ValueError as error:  # only digits, punctuation or stop words
            if "empty vocabulary" not in str(error):
                raise
            raise ValueError("The texts contain no words to learn from.") from error

        # Hyperparameters on a stratified sample of at most MAX_SEARCH_ROWS texts: the
        # search costs 24 fits, so this bounds training time; the winner is then refitted
        # on every text.
        rows = _search_rows(y, MAX_SEARCH_ROWS, self.random_state)
        folds = StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.random_state)
        grid = [
            {"model": [self._candidate(name)], **_prefixed(name, GRIDS[name])}
            for name in self.candidates
        ]
        search = GridSearchCV(
            Pipeline([("model", self._candidate(self.candidates[0]))]),
            grid,
            scoring="f1_macro",
            cv=folds,
            n_jobs=1,
            refit=False,
            error_score="raise",
        ).fit(X[rows], y[rows])

        self.cv_results_ = [
            {
                "candidate": _candidate_name(params["model"]),
                "params": {"C": float(_model_param(params, "C"))},
                "macro_f1": float(score),
            }
            for params, score in zip(
                search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
            )
        ]
        best = self.cv_results_[int(search.best_index_)]
        self.chosen_ = {"candidate": best["candidate"], "params": best["params"]}
        self.cv_score_ = float(search.best_score_)
        self.n_search_samples_ = len(rows)
        winner = Pipeline([("model", self._candidate(best["candidate"]))])
        winner.set_params(**{k: v for k, v in search.best_params_.items() if k != "model"})
        winner.fit(X, y)
        # The vectorizers are already fitted on all texts, the winner now is too.
        self.model_ = Pipeline([("features", features), ("model", winner.named_steps["model"])])
        self.classes_ = self.model_.classes_
        counts = Counter(y.tolist())  # ties go to the label that sorts first as text
        self.majority_class_ = min(counts, key=lambda label: (-counts[label], str(label)))
        self.n_samples_ = len(texts)
        return self

    def _candidate(self, name: str) -> Any:
        if name == "logistic":
            return LogisticRegression(
                C=1.0, class_weight="balanced", solver="newton-cg", max_iter=200
            )
        folds = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=self.random_state)
        return CalibratedClassifierCV(
            LinearSVC(C=1.0, class_weight="balanced"), method="sigmoid", cv=folds
        )

    # --- predicting ------------------------------------------------------------------

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict(_check_texts(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label in `classes_` order; rows sum to 1."""
        self._check_fitted()
        return self.model_.predict_proba(_check_texts(texts))

    def evaluate(self, texts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
        """Accuracy, macro-F1, per-label precision / recall / F1 / support, the confusion
        matrix (rows: true label, columns: predicted, both in `labels` order), and the
        baseline of always answering the most frequent training label, on the same texts."""
        self._check_fitted()
        texts, y = _check_data(texts, labels)
        predicted = self.predict(texts)
        order = list(self.classes_) + sorted(set(y.tolist()) - set(self.classes_.tolist()))
        precision, recall, f1, support = precision_recall_fscore_support(
            y, predicted, labels=order, zero_division=0
        )
        baseline = np.asarray([self.majority_class_] * len(y))
        return {
            "n": len(y),
            "accuracy": float(accuracy_score(y, predicted)),
            "macro_f1": float(f1_score(y, predicted, average="macro", zero_division=0)),
            "labels": [_plain(label) for label in order],
            "per_class": {
                _plain(label): {
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                    "support": int(s),
                }
                for label, p, r, f, s in zip(order, precision, recall, f1, support, strict=True)
            },
            "confusion_matrix": confusion_matrix(y, predicted, labels=order).tolist(),
            "majority_class": _plain(self.majority_class_),
            "majority_accuracy": float(accuracy_score(y, baseline)),
            "majority_macro_f1": float(f1_score(y, baseline, average="macro", zero_division=0)),
        }

    # --- parameters and persistence --------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        return {
            "candidates": list(self.candidates),
            "cv_folds": self.cv_folds,
            "random_state": self.random_state,
        }

    def save(self, directory: Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.model_, directory / FILE_MODEL)
        meta = {
            "params": self.get_params(),
            "chosen": self.chosen_,
            "cv_score": self.cv_score_,
            "cv_results": self.cv_results_,
            "majority_class": _plain(self.majority_class_),
            "n_samples": self.n_samples_,
            "n_search_samples": self.n_search_samples_,
        }
        (directory / FILE_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        meta = json.loads((directory / FILE_META).read_text())
        params = meta["params"]
        model = cls(
            candidates=tuple(params["candidates"]),
            cv_folds=params["cv_folds"],
            random_state=params["random_state"],
        )
        # Raises if the file holds any type beyond skops' defaults and TRUSTED_TYPES.
        model.model_ = skops.io.load(directory / FILE_MODEL, trusted=TRUSTED_TYPES)
        model.classes_ = model.model_.classes_
        model.chosen_ = meta["chosen"]
        model.cv_score_ = float(meta["cv_score"])
        model.cv_results_ = meta["cv_results"]
        model.majority_class_ = meta["majority_class"]
        model.n_samples_ = int(meta["n_samples"])
        model.n_search_samples_ = int(meta["n_search_samples"])
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("TextClassifier is not fitted; call fit() first.")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"TextClassifier({params})"


def stratified_split(
    texts: Sequence[str], labels: Sequence[Any], test_share: float = 0.2, seed: int = 0
) -> tuple[list[str], list[str], list[Any], list[Any]]:
    """(train_texts, test_texts, train_labels, test_labels), each label in both parts in
    proportion (a label with a single example goes to the training part)."""
    texts, y = _check_data(texts, labels)
    counts = Counter(y.tolist())
    single = np.array([counts[label] < 2 for label in y.tolist()])
    index = np.flatnonzero(~single)
    train, test = train_test_split(
        index, test_size=test_share, stratify=y[index], random_state=seed
    )
    train = np.sort(np.concatenate([train, np.flatnonzero(single)]))
    test = np.sort(test)
    return (
        [texts[i] for i in train],
        [texts[i] for i in test],
        y[train].tolist(),
        y[test].tolist(),
    )


# --- helpers ---------------------------------------------------------------------------


def _features(min_df: int) -> FeatureUnion:
    common = {"sublinear_tf": True, "min_df": min_df, "dtype": np.float32, "lowercase": False}
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer=WordAnalyzer(ngram_max=2),
                    max_features=MAX_WORD_FEATURES,
                    **common,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer=CharAnalyzer(2, 4),
                    max_features=MAX_CHAR_FEATURES,
                    **common,
                ),
            ),
        ]
    )


def _search_rows(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """All rows, or a stratified sample of about `limit` keeping every label's share,
    but at least SEARCH_MIN_PER_CLASS texts (or all) of each."""
    if len(y) <= limit:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    rows = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        keep = max(math.ceil(len(members) * limit / len(y)), SEARCH_MIN_PER_CLASS)
        rows.append(rng.choice(members, min(keep, len(members)), replace=False))
    return np.sort(np.concatenate(rows))


def _prefixed(name: str, grid: dict[str, list[float]]) -> dict[str, list[float]]:
    prefix = "model__" if name == "logistic" else "model__estimator__"
    return {prefix + key: values for key, values in grid.items()}


def _candidate_name(model: Any) -> str:
    return "logistic" if isinstance(model, LogisticRegression) else "linear_svc"


def _model_param(params: dict[str, Any], key: str) -> Any:
    return next(value for name, value in params.items() if name.endswith("__" + key))


def _plain(label: Any) -> Any:
    """numpy scalars to Python ones, so reports serialise to JSON."""
    return label.item() if isinstance(label, np.generic) else label


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not a single string")
    return ["" if text is None else str(text) for text in texts]


def _check_data(texts: Sequence[str], labels: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    texts = _check_texts(texts)
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(y)} labels; need one label per text")
    if len(y) == 0:
        raise ValueError("no labelled texts")
    return texts, y


def _check_label_counts(y: np.ndarray, min_per_class: int) -> None:
    counts = Counter(y.tolist())
    if len(counts) < 2:
        (only,) = counts
        raise ValueError(
            f"All {len(y)} labelled texts have the label {only!r}: a text classifier needs "
            "examples of at least two different labels."
        )
    few = sorted((n, str(label)) for label, n in counts.items() if n < min_per_class)
    if few:
        listed = ", ".join(f"{label!r} ({n})" for n, label in few)
        raise ValueError(
            f"Too few examples to train and cross-validate: each label needs at least "
            f"{min_per_class} labelled texts, and these have fewer: {listed}."
        )
