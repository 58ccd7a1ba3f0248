"""Customer segmentation: k-means on RFM, engagement and category-share features, with k
chosen by silhouette, segment ids that survive retrains, and readable segment names.

Scikit-learn style: `__init__` stores parameters, `fit` returns self, learned attributes
end in `_`. Input: a float64 matrix (customers x features) and its column names; any
subset and order of the known names works, unknown names are treated as numeric.

Persistence: `save(directory)` writes `segmenter.npz` (arrays, plus params, feature names,
names and profiles as JSON strings); `load` reads it with allow_pickle=False.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import skew
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin, silhouette_score

ARTIFACT_FILE = "segmenter.npz"
SHARE_PREFIX = "share:"
RFM_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value")
ENGAGEMENT_FEATURES = ("views_30d", "clicks_30d", "carts_30d")
# Counts, amounts and durations: heavy right tails, so k-means would split on outliers.
LOG_FEATURES = frozenset({*RFM_FEATURES, "interpurchase_days", *ENGAGEMENT_FEATURES})
SKEW_THRESHOLD = 1.0  # unknown non-negative columns this skewed get log1p too
# Shares stay in raw units (0..1) times this weight instead of being standardised: two
# customers with disjoint categories then differ by at most sqrt(2) * 1.0 ~ 1.4 standard
# deviations, so taste can split a behaviour group but never outweigh behaviour (a
# standardised share with std ~0.1 would count ~10x that, and there can be dozens).
SHARE_WEIGHT = 1.0
MINIBATCH_SIZE = 4096
NEW_TENURE_RATIO = 0.25  # "new": median tenure at most a quarter of the population's


@dataclass(frozen=True)
class Anchors:
    """What a retrain needs from the previous model: its centroids in ORIGINAL feature
    units and their segment ids (small enough to keep in a database row)."""

    feature_names: tuple[str, ...]
    centroids: np.ndarray  # n_segments x n_features
    segment_ids: np.ndarray  # int64, one per centroid


class Segmenter:
    """k-means segments. Learned: centroids_ (standardised space), segment_ids_ (one per
    centroid, ascending), labels_ (segment id per training row), names_ (id -> name),
    profiles_ (training profiles), silhouette_ (k -> score), k_, algorithm_."""

    def __init__(
        self,
        *,
        k_min: int = 2,
        k_max: int = 8,
        random_state: int = 0,
        minibatch_above: int = 50_000,
        silhouette_sample: int = 10_000,
        n_init: int = 4,
        max_match_distance: float | None = None,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.random_state = random_state
        self.minibatch_above = minibatch_above
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        # None: every previous centroid the assignment pairs up keeps its id; a number:
        # pairs farther apart than this (standardised units) count as a new segment.
        self.max_match_distance = max_match_distance

    def get_params(self) -> dict[str, Any]:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

    # --- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X: np.ndarray,
        feature_names: Sequence[str],
        previous: Segmenter | Anchors | None = None,
        customer_ids: np.ndarray | None = None,
    ) -> Self:
        """Cluster the customers; with `previous`, matched segments keep their ids."""
        if not 1 <= self.k_min <= self.k_max:
            raise ValueError("need 1 <= k_min <= k_max")
        X = _check_matrix(X, feature_names)
        if len(X) == 0:
            raise ValueError("cannot segment zero customers")
        self.feature_names_ = [str(name) for name in feature_names]
        self.customer_ids_ = None if customer_ids is None else np.asarray(customer_ids, np.int64)
        if self.customer_ids_ is not None and len(self.customer_ids_) != len(X):
            raise ValueError("customer_ids and X have different lengths")
        self._fit_scaling(X)
        Z = self._transform(X)
        centroids = self._choose_k(Z)
        nearest = pairwise_distances_argmin(Z, centroids)
        sizes = np.bincount(nearest, minlength=len(centroids))
        ids = self._assign_ids(centroids, sizes, previous)
        order = np.argsort(ids)  # keep centroids sorted by segment id
        self.centroids_ = centroids[order]
        self.segment_ids_ = ids[order]
        self.k_ = len(order)
        self.labels_ = ids[nearest]
        self.names_ = self._name_segments(X, self.labels_)
        self.profiles_ = self._profiles(X, self.labels_)
        return self

    def _fit_scaling(self, X: np.ndarray) -> None:
        n_features = X.shape[1]
        is_share = np.array([name.startswith(SHARE_PREFIX) for name in self.feature_names_])
        self.log_columns_ = np.zeros(n_features, dtype=bool)
        for j, name in enumerate(self.feature_names_):
            if name in LOG_FEATURES:
                self.log_columns_[j] = True
            elif not is_share[j] and len(X) > 2 and X[:, j].min() >= 0 and np.ptp(X[:, j]) > 0:
                self.log_columns_[j] = skew(X[:, j]) > SKEW_THRESHOLD
        T = _log_columns(X, self.log_columns_)
        self.means_ = np.where(is_share, 0.0, T.mean(axis=0))
        std = T.std(axis=0)
        self.scales_ = np.where(is_share, 1.0 / SHARE_WEIGHT, np.where(std > 1e-12, std, 1.0))

    def _choose_k(self, Z: np.ndarray) -> np.ndarray:
        """Centroids for the k with the best silhouette; fills silhouette_ and algorithm_."""
        n = len(Z)
        self.algorithm_ = "minibatch" if n > self.minibatch_above else "kmeans"
        self.silhouette_: dict[int, float] = {}
        n_distinct = len(np.unique(Z, axis=0))
        if n_distinct == 1:  # nothing to split: one segment at the common point
            return Z[:1].copy()
        # Silhouette needs 2 <= k <= n - 1, and k-means more distinct points than clusters.
        k_high = min(self.k_max, n_distinct, n - 1)
        if k_high < self.k_min:
            return self._cluster(Z, min(self.k_min, n_distinct))
        rng = np.random.default_rng(self.random_state)
        # One sample for every k, so the scores are comparable (and O(sample^2), not O(n^2)).
        sample = (
            rng.choice(n, self.silhouette_sample, replace=False)
            if n > self.silhouette_sample
            else np.arange(n)
        )
        best, best_score = None, -np.inf
        for k in range(self.k_min, k_high + 1):
            centroids = self._cluster(Z, k)
            labels = pairwise_distances_argmin(Z[sample], centroids)
            ok = 2 <= len(np.unique(labels)) <= len(sample) - 1  # else silhouette is undefined
            score = float(silhouette_score(Z[sample], labels)) if ok else -1.0
            self.silhouette_[k] = score
            if score > best_score + 1e-9:  # ties go to the smaller k
                best, best_score = centroids, score
        return best

    def _cluster(self, Z: np.ndarray, k: int) -> np.ndarray:
        params = {"n_clusters": k, "n_init": self.n_init, "random_state": self.random_state}
        if self.algorithm_ == "minibatch":
            model = MiniBatchKMeans(batch_size=MINIBATCH_SIZE, **params)
        else:
            model = KMeans(**params)
        return np.asarray(model.fit(Z).cluster_centers_, dtype=np.float64)

    def _assign_ids(
        self, centroids: np.ndarray, sizes: np.ndarray, previous: Segmenter | Anchors | None
    ) -> np.ndarray:
        ids = np.full(len(centroids), -1, dtype=np.int64)
        next_id = 0
        if previous is not None:
            anchors = previous.anchors() if isinstance(previous, Segmenter) else previous
            prev_ids = np.asarray(anchors.segment_ids, dtype=np.int64)
            if len(prev_ids):
                # Distances in the NEW space: the scaling of today's data decides closeness.
                old = self._align(np.atleast_2d(anchors.centroids), anchors.feature_names)
                old_z = np.nan_to_num(self._transform(old), nan=0.0)  # missing: at the centre
                cost = cdist(centroids, old_z)
                rows, cols = linear_sum_assignment(cost)
                if self.max_match_distance is not None:
                    keep = cost[rows, cols] <= self.max_match_distance
                    rows, cols = rows[keep], cols[keep]
                ids[rows] = prev_ids[cols]
                next_id = int(prev_ids.max()) + 1
        for cluster in np.argsort(-sizes, kind="stable"):  # new ids: biggest first
            if ids[cluster] < 0:
                ids[cluster] = next_id
                next_id += 1
        return ids

    # --- serving ---------------------------------------------------------------------

    def predict(self, X: np.ndarray, feature_names: Sequence[str] | None = None) -> np.ndarray:
        """Segment id per row. With `feature_names`, columns are matched by name (any
        order, extras ignored); without, X must have the training columns in order."""
        self._check_fitted()
        X = self._align_input(X, feature_names)
        return self.segment_ids_[pairwise_distances_argmin(self._transform(X), self.centroids_)]

    def transform(self, X: np.ndarray, feature_names: Sequence[str] | None = None) -> np.ndarray:
        """Rows in the standardised space the segments live in (silhouettes, pictures)."""
        self._check_fitted()
        return self._transform(self._align_input(X, feature_names))

    def map_2d(
        self, X: np.ndarray, feature_names: Sequence[str] | None = None, *,
        sample: int = 600, random_state: int = 0,
    ) -> dict[str, list]:  # fmt: skip
        """A picture of the segments: a sample of rows projected on the first two principal
        components of the standardised space, with each row's segment id."""
        Z = self.transform(X, feature_names)
        rng = np.random.default_rng(random_state)
        rows = rng.choice(len(Z), size=min(sample, len(Z)), replace=False)
        centred = Z - Z.mean(axis=0)
        _, _, vt = np.linalg.svd(centred[rows], full_matrices=False)
        points = centred[rows] @ vt[:2].T if len(vt) >= 2 else np.zeros((len(rows), 2))
        labels = self.segment_ids_[pairwise_distances_argmin(Z[rows], self.centroids_)]
        return {
            "points": np.round(points, 3).tolist(),
            "segments": labels.tolist(),
        }

    def profiles(
        self, X: np.ndarray, feature_names: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per segment id (ascending): id, name, size and share of X's rows, the mean of each
        RFM feature (None if not provided or the segment is empty) and top_categories (up
        to 3 `share:` names without the prefix, highest mean share first)."""
        self._check_fitted()
        X = self._align_input(X, feature_names)
        labels = self.segment_ids_[pairwise_distances_argmin(self._transform(X), self.centroids_)]
        return self._profiles(X, labels)

    def anchors(self) -> Anchors:
        """Centroids in original feature units with their ids, for the next retrain."""
        self._check_fitted()
        T = self.centroids_ * self.scales_ + self.means_
        T[:, self.log_columns_] = np.expm1(T[:, self.log_columns_])
        return Anchors(tuple(self.feature_names_), T, self.segment_ids_.copy())

    # --- profiles and names ------------------------------------------------------------

    def _profiles(self, X: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
        column = {name: j for j, name in enumerate(self.feature_names_)}
        shares = [j for j, name in enumerate(self.feature_names_) if name.startswith(SHARE_PREFIX)]
        out = []
        for sid in self.segment_ids_.tolist():
            rows = labels == sid
            size = int(rows.sum())
            profile: dict[str, Any] = {
                "id": sid,
                "name": self.names_.get(sid, f"segment {sid}"),
                "size": size,
                "share": size / len(X) if len(X) else 0.0,
            }
            for name in RFM_FEATURES:  # None: feature not provided, or an empty segment
                ok = name in column and size > 0
                profile[name] = float(X[rows, column[name]].mean()) if ok else None
            profile["top_categories"] = _top_categories(X[rows], shares, self.feature_names_)
            out.append(profile)
        return out

    def _name_segments(self, X: np.ndarray, labels: np.ndarray) -> dict[int, str]:
        """Names from each segment's medians, compared with the whole population."""
        column = {name: j for j, name in enumerate(self.feature_names_)}
        engagement_columns = [column[name] for name in ENGAGEMENT_FEATURES if name in column]
        engagement = X[:, engagement_columns].sum(axis=1) if engagement_columns else None
        population = {name: np.sort(X[:, j]) for name, j in column.items()}
        shares = [j for j, name in enumerate(self.feature_names_) if name.startswith(SHARE_PREFIX)]
        base, top, sizes = {}, {}, {}
        for sid in self.segment_ids_.tolist():
            rows = labels == sid
            medians = {name: float(np.median(X[rows, j])) for name, j in column.items()}
            ranks = {
                name: _percentile_rank(population[name], medians[name])
                for name in RFM_FEATURES
                if name in column
            }
            new = "tenure_days" in column and medians["tenure_days"] <= NEW_TENURE_RATIO * float(
                np.median(population["tenure_days"])
            )
            # Engaged: clearly more views/clicks/carts than the typical customer.
            engaged = engagement is not None and float(np.median(engagement[rows])) > max(
                float(np.median(engagement)), 0.0
            )
            base[sid] = segment_name(medians.get("frequency", np.nan), ranks, new, engaged)
            cats = _top_categories(X[rows], shares, self.feature_names_)
            top[sid] = cats[0] if cats else None
            sizes[sid] = int(rows.sum())
        return _unique_names(base, top, sizes)

    # --- helpers -----------------------------------------------------------------------

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return (_log_columns(X, self.log_columns_) - self.means_) / self.scales_

    def _align(self, X: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """X's columns in training order; training features X lacks become NaN."""
        column = {str(name): j for j, name in enumerate(names)}
        out = np.full((len(X), len(self.feature_names_)), np.nan)
        for j, name in enumerate(self.feature_names_):
            if name in column:
                out[:, j] = X[:, column[name]]
        return out

    def _align_input(self, X: np.ndarray, feature_names: Sequence[str] | None) -> np.ndarray:
        if feature_names is None:
            X = np.asarray(X, dtype=np.float64)
            if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
                raise ValueError(f"X must have the {len(self.feature_names_)} training columns")
            return _check_matrix(X, self.feature_names_)
        X = _check_matrix(X, feature_names)
        missing = set(self.feature_names_) - {str(name) for name in feature_names}
        if missing:
            raise ValueError(f"X lacks training features: {sorted(missing)}")
        return self._align(X, feature_names)

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise RuntimeError("Segmenter is not fitted; call fit() first.")

    # --- persistence -------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        self._check_fitted()
        Path(directory).mkdir(parents=True, exist_ok=True)
        np.savez(
            Path(directory) / ARTIFACT_FILE,
            params=np.array(json.dumps(self.get_params())),
            feature_names=np.array(json.dumps(self.feature_names_)),
            names=np.array(json.dumps([[sid, name] for sid, name in self.names_.items()])),
            profiles=np.array(json.dumps(self.profiles_)),
            silhouette=np.array(json.dumps([[k, s] for k, s in self.silhouette_.items()])),
            algorithm=np.array(self.algorithm_),
            log_columns=self.log_columns_,
            means=self.means_,
            scales=self.scales_,
            centroids=self.centroids_,
            segment_ids=self.segment_ids_,
        )

    @classmethod
    def load(cls, directory: Path) -> Segmenter:
        with np.load(Path(directory) / ARTIFACT_FILE, allow_pickle=False) as data:
            model = cls(**json.loads(str(data["params"])))
            model.feature_names_ = json.loads(str(data["feature_names"]))
            model.names_ = {int(sid): name for sid, name in json.loads(str(data["names"]))}
            model.profiles_ = json.loads(str(data["profiles"]))
            model.silhouette_ = {int(k): s for k, s in json.loads(str(data["silhouette"]))}
            model.algorithm_ = str(data["algorithm"])
            model.log_columns_ = data["log_columns"].astype(bool)
            model.means_ = data["means"]
            model.scales_ = data["scales"]
            model.centroids_ = data["centroids"]
            model.segment_ids_ = data["segment_ids"].astype(np.int64)
        model.k_ = len(model.segment_ids_)
        return model  # labels_ / customer_ids_ are per training row and are not saved

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Segmenter({params})"


def segment_name(frequency: float, ranks: dict[str, float], new: bool, engaged: bool) -> str:
    """The first rule that fits. `frequency`: the segment's median purchase count (NaN if
    unknown); `ranks`: the percentile in the population (0..1) of the segment's median per
    RFM feature (a missing feature never satisfies a rule); `new`: low tenure; `engaged`:
    more views/clicks/carts than the population's median."""

    def rank(name: str) -> float:
        return ranks.get(name, np.nan)  # NaN compares False: the rule does not apply

    if (
        frequency >= 2
        and rank("monetary") >= 0.6
        and rank("frequency") >= 0.6
        and rank("recency_days") <= 0.5
    ):
        return "high-value loyal"
    if new:
        return "new"
    if 0.5 <= frequency < 1.5:
        return "one-time buyers"
    if frequency >= 0.5 and rank("recency_days") >= 0.75 and not engaged:
        return "lapsed"  # bought before, long ago, and no longer looking
    if rank("frequency") > 0.5 and rank("recency_days") >= 0.6:
        return "at risk"  # used to buy often, slowing down, still around
    if frequency < 0.5:
        return "browsers" if engaged else "inactive"
    return "regular"


def _unique_names(
    base: dict[int, str], top: dict[int, str | None], sizes: dict[int, int]
) -> dict[int, str]:
    """Duplicates get their top category, e.g. "at risk (shoes)"; any still equal get a
    number suffix, the biggest segment keeping the plain name."""
    names = dict(base)
    for sid, name in base.items():
        if list(base.values()).count(name) > 1 and top[sid]:
            names[sid] = f"{name} ({top[sid]})"
    used: set[str] = set()
    for sid in sorted(names, key=lambda s: (-sizes[s], s)):
        name, n = names[sid], 1
        while name in used:
            n += 1
            name = f"{names[sid]} {n}"
        names[sid] = name
        used.add(name)
    return dict(sorted(names.items()))


def _top_categories(rows: np.ndarray, shares: list[int], feature_names: list[str]) -> list[str]:
    if not shares or len(rows) == 0:
        return []
    means = rows[:, shares].mean(axis=0)
    order = np.argsort(-means, kind="stable")[:3]
    return [feature_names[shares[i]][len(SHARE_PREFIX) :] for i in order if means[i] > 0]


def _percentile_rank(population_sorted: np.ndarray, value: float) -> float:
    """Share of the population below `value`, ties counted half (robust to many zeros)."""
    below = np.searchsorted(population_sorted, value, side="left")
    upto = np.searchsorted(population_sorted, value, side="right")
    return float(below + upto) / (2 * len(population_sorted))


def _log_columns(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    T = np.array(X, dtype=np.float64)
    T[:, mask] = np.log1p(np.maximum(T[:, mask], 0.0))  # negatives would be data errors
    return T


def _check_matrix(X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"X must be 2-D with {len(feature_names)} columns, got {X.shape}")
    if len(set(feature_names)) != len(feature_names):
        raise ValueError("feature_names has duplicates")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or infinite values")
    return X
