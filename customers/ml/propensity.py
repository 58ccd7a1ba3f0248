"""Purchase propensity: the probability that a customer buys in a coming window.

Scikit-learn style, pure numeric (features come from `customers.ml.features`):

- `fit` holds out a stratified validation quarter, fits every candidate on the rest and
  keeps the one with the best validation PR-AUC (average precision): propensity scores are
  used to pick the few customers worth targeting, and with rare purchasers PR-AUC tracks
  that top of the list better than ROC-AUC does. Ties go to the earlier candidate.
- Candidates: "logistic" (log1p of skewed columns, standardised, logistic regression) and
  "boosted" (histogram gradient boosting).
- The winner is then refitted on all rows inside `CalibratedClassifierCV` (5 stratified
  folds, each fold's model calibrated on the rows it did not see, predictions averaged),
  so probabilities are honest out-of-sample rates. Isotonic calibration is the default; it
  overfits small calibration sets, so below ISOTONIC_MIN_ROWS rows per fold the sigmoid
  (Platt) method is used instead (`calibration_` says which one was applied).

Persistence with skops (never pickle): `propensity.skops` holds the calibrated model and is
loaded with an explicit list of trusted types; `propensity.json` holds parameters, feature
names and the selection report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

CANDIDATES = ("logistic", "boosted")
CALIBRATIONS = ("isotonic", "sigmoid")
SELECTION_METRIC = "pr_auc"
VALIDATION_SHARE = 0.25
CALIBRATION_FOLDS = 5
ISOTONIC_MIN_ROWS = 1000  # per calibration fold; scikit-learn's advice for isotonic
MIN_PER_CLASS = 10  # enough of each class to stratify the validation split and the folds
SKEW_THRESHOLD = 1.0  # sample skewness above which a non-negative column gets log1p
FILE_MODEL = "propensity.skops"
FILE_META = "propensity.json"
# Everything in the saved model that skops does not trust by default; load() trusts
# exactly these (numpy, and the estimators themselves, are trusted by skops already).
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.StratifiedKFold",
]


class PropensityModel:
    """Calibrated probability of purchase from a customer feature matrix."""

    def __init__(
        self,
        random_state: int = 0,
        candidates: tuple[str, ...] = CANDIDATES,
        calibration: str = "isotonic",
    ) -> None:
        self.random_state = random_state
        self.candidates = tuple(candidates)
        self.calibration = calibration

    # --- fitting ---------------------------------------------------------------------

    def fit(self, X: np.ndarray, y: np.ndarray, feature_names: list[str]) -> Self:
        unknown = set(self.candidates) - set(CANDIDATES)
        if not self.candidates or unknown:
            raise ValueError(f"candidates must be a non-empty subset of {CANDIDATES}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}")
        X = _check_matrix(X, len(feature_names))
        y = _check_labels(y, len(X))
        counts = np.bincount(y, minlength=2)
        if counts.min() == 0:
            only = "purchasers" if counts[1] else "non-purchasers"
            raise ValueError(
                f"All {len(y)} customers are {only}: a propensity model needs both "
                "customers who purchased in the label window and customers who did not."
            )
        if counts.min() < MIN_PER_CLASS:
            raise ValueError(
                f"Only {counts.min()} customers in the smaller class (purchased: {counts[1]}, "
                f"did not: {counts[0]}); need at least {MIN_PER_CLASS} of each."
            )
        self.feature_names_ = list(feature_names)
        # Skewness from the data, not the names: counts and money are, shares rarely are.
        self.log_columns_ = _skewed_columns(X)
        X = self._clip(X)

        fit_X, valid_X, fit_y, valid_y = train_test_split(
            X, y, test_size=VALIDATION_SHARE, stratify=y, random_state=self.random_state
        )
        self.candidate_metrics_: dict[str, dict[str, float]] = {}
        for name in self.candidates:
            model = self._candidate(name).fit(fit_X, fit_y)
            p = model.predict_proba(valid_X)[:, 1]
            self.candidate_metrics_[name] = {
                "roc_auc": float(roc_auc_score(valid_y, p)),
                "pr_auc": float(average_precision_score(valid_y, p)),
                "brier": float(brier_score_loss(valid_y, p)),
            }
        # max() keeps the first of equals: candidate order breaks ties.
        self.chosen_ = max(
            self.candidates, key=lambda c: self.candidate_metrics_[c][SELECTION_METRIC]
        )

        self.calibration_ = self.calibration
        if self.calibration == "isotonic" and len(y) / CALIBRATION_FOLDS < ISOTONIC_MIN_ROWS:
            self.calibration_ = "sigmoid"
        folds = StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(
            self._candidate(self.chosen_), method=self.calibration_, cv=folds
        ).fit(X, y)
        self.n_samples_ = len(y)
        self.base_rate_ = float(y.mean())
        return self

    def _candidate(self, name: str) -> Any:
        if name == "logistic":
            log = ColumnTransformer(
                [("log1p", FunctionTransformer(np.log1p), self.log_columns_)],
                remainder="passthrough",
            )
            return Pipeline(
                [
                    ("log", log),
                    ("scale", StandardScaler()),
                    ("model", LogisticRegression(C=1.0, max_iter=2000)),
                ]
            )
        # Shallow, regularised trees with early stopping: label windows are small and noisy.
        return HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=20,
            random_state=self.random_state,
        )

    def _clip(self, X: np.ndarray) -> np.ndarray:
        """Log columns were non-negative in training; keep them so (log1p of < -1 is NaN).
        Trees are unaffected: every split threshold lies above the training minimum."""
        if not self.log_columns_:
            return X
        X = X.copy()
        X[:, self.log_columns_] = np.maximum(X[:, self.log_columns_], 0.0)
        return X

    # --- predicting ------------------------------------------------------------------

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of purchase per row (1-D)."""
        self._check_fitted()
        X = self._clip(_check_matrix(X, len(self.feature_names_)))
        return self.model_.predict_proba(X)[:, 1]

    # --- parameters and persistence --------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        return {
            "random_state": self.random_state,
            "candidates": list(self.candidates),
            "calibration": self.calibration,
        }

    def save(self, directory: Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.model_, directory / FILE_MODEL)
        meta = {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "log_columns": self.log_columns_,
            "chosen": self.chosen_,
            "calibration": self.calibration_,
            "candidate_metrics": self.candidate_metrics_,
            "n_samples": self.n_samples_,
            "base_rate": self.base_rate_,
            "selection_metric": SELECTION_METRIC,
        }
        (directory / FILE_META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        meta = json.loads((directory / FILE_META).read_text())
        params = meta["params"]
        model = cls(
            random_state=params["random_state"],
            candidates=tuple(params["candidates"]),
            calibration=params["calibration"],
        )
        # Raises if the file holds any type beyond skops' defaults and TRUSTED_TYPES.
        model.model_ = skops.io.load(directory / FILE_MODEL, trusted=TRUSTED_TYPES)
        model.feature_names_ = list(meta["feature_names"])
        model.log_columns_ = [int(c) for c in meta["log_columns"]]
        model.chosen_ = meta["chosen"]
        model.calibration_ = meta["calibration"]
        model.candidate_metrics_ = meta["candidate_metrics"]
        model.n_samples_ = int(meta["n_samples"])
        model.base_rate_ = float(meta["base_rate"])
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("PropensityModel is not fitted; call fit() first.")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"PropensityModel({params})"


# --- metrics ---------------------------------------------------------------------------


def propensity_metrics(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score, lift in the top 10% and the base
    rate. AUCs are NaN when y_true has a single class; Brier is NaN when p is a score
    rather than a probability (outside [0, 1]), as the recency baseline is.

    lift@10%: purchase rate among the top ceil(10%) of customers by score, divided by the
    overall rate. Customers tied at the cut-off count pro rata (their mean rate), so a
    score with many ties (recency in days) is not credited or blamed for an arbitrary order.
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("y_true and p must be 1-D arrays of the same length")
    if len(y) == 0:
        raise ValueError("no customers to evaluate")
    base_rate = float(y.mean())
    both = 0 < y.sum() < len(y)
    is_probability = bool(((p >= 0) & (p <= 1)).all())
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if is_probability else float("nan"),
        "lift@10%": _lift(y, p, 0.10) if base_rate > 0 else float("nan"),
        "base_rate": base_rate,
    }


def _lift(y: np.ndarray, p: np.ndarray, share: float) -> float:
    n_top = int(np.ceil(share * len(y)))
    cut = np.sort(p)[::-1][n_top - 1]
    above, tied = p > cut, p == cut
    purchasers = y[above].sum() + (n_top - above.sum()) * y[tied].mean()
    return float(purchasers / n_top / y.mean())


QUALITY_BANDS = ((0.85, "excellent"), (0.75, "good"), (0.65, "fair"))


def quality_band(roc_auc: float) -> str:
    """Plain-language grade of a ROC-AUC: "excellent" >= 0.85, "good" >= 0.75,
    "fair" >= 0.65, "weak" below (and "unknown" for NaN)."""
    if roc_auc != roc_auc:
        return "unknown"
    return next((band for bound, band in QUALITY_BANDS if roc_auc >= bound), "weak")


def recency_baseline(X: np.ndarray, names: list[str]) -> np.ndarray:
    """Score = -recency_days: the most recently active first. A model must beat this."""
    return -np.asarray(X, dtype=np.float64)[:, names.index("recency_days")]


# --- helpers ---------------------------------------------------------------------------


def _check_matrix(X: np.ndarray, n_features: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must be 2-D with {n_features} columns, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or infinite values")
    return X


def _check_labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must be 1-D with {n} labels, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must be boolean (or 0/1): purchased in the label window or not")
    return y.astype(np.int64)


def _skewed_columns(X: np.ndarray) -> list[int]:
    """Non-negative columns with sample skewness above SKEW_THRESHOLD."""
    centred = X - X.mean(axis=0)
    sd = np.sqrt((centred**2).mean(axis=0))
    skew = (centred**3).mean(axis=0) / np.where(sd > 0, sd, 1.0) ** 3
    keep = (X.min(axis=0, initial=0.0) >= 0) & (sd > 0) & (skew > SKEW_THRESHOLD)
    return [int(c) for c in np.flatnonzero(keep)]


def quality_curves(
    y_true: np.ndarray, p: np.ndarray, *, points: int = 50, bins: int = 10
) -> dict[str, list]:
    """What the admin draws: the ROC curve (at most `points` points) and the calibration
    table (mean predicted probability against the observed purchase rate per decile)."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).round().astype(int))
    order = np.argsort(p, kind="stable")
    calibration = [
        [float(p[part].mean()), float(y[part].mean()), len(part)]
        for part in np.array_split(order, min(bins, len(order)))
        if len(part)
    ]
    return {
        "roc": [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in keep],
        "calibration": calibration,
    }
