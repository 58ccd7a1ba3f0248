"""Model selection: a small hyperparameter search per family within a time budget.

Protocol (`select_model`): the newest `test_fraction` of events is the test split; the
rest (the train part) is split again by time into fit / validation. Every configuration
is fitted on the fit part and scored on validation; each family's best configuration is
refitted on the whole train part and scored on test. The winner is the family with the
best VALIDATION NDCG@k: tuning and choice never look at the test split, whose figures are
reported as they come. Popularity is always evaluated as the baseline (and can win).

Families that need side inputs join only when they are given: `content` product texts,
`w2v_content` Word2Vec product vectors, `item2vec` item2vec vectors (both from the NLP
app's `embeddings` kind); otherwise they are listed in `skipped` with the reason.

The search goes round-robin over families (round 1 is every family's first, most
promising configuration), so a tight budget still compares families. The budget covers
the search AND the refits on the train part for the test figures: before each fit, the
predicted cost of the trial (the family's previous trial; EASE from its n³ estimate)
plus the refits still owed must fit in what is left, else the configuration is skipped
(and listed in `untried`). `refit_on_all`, the fit for serving, comes on top.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import Recommender
from recommender.ml.blend import BlendRecommender
from recommender.ml.data import DEFAULT_HALF_LIFE_DAYS, InteractionArrays
from recommender.ml.evaluation import evaluate_model, time_split
from recommender.ml.families import FAMILIES, fit_inputs, make_model
from recommender.ml.matrix import (
    FeedbackMatrices,
    IdIndex,
    build_matrices,
    catalogue,
    catalogue_rows,
    relevance_matrix,
)
from recommender.ml.neighbours import EASE_MAX_ITEMS, ease_fit_seconds

log = logging.getLogger(__name__)

# Per family, configurations in the order tried: the most promising first.
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{"by": "confidence"}, {"by": "users"}],
    "ease": [
        {"l2": 250.0},
        {"l2": 400.0, "variant": "dlae", "dropout": 0.33},
        {"l2": 500.0},
        {"l2": 100.0},
        {"l2": 200.0, "variant": "dlae", "dropout": 0.5},
        {"l2": 1000.0},
        {"l2": 700.0, "variant": "dlae", "dropout": 0.33},
        {"l2": 30.0},
        {"l2": 2500.0},
    ],
    "als": [
        {"factors": 64, "regularization": 1.0, "alpha": 2.0},
        {"factors": 32, "regularization": 10.0, "alpha": 1.0},
        {"factors": 128, "regularization": 10.0, "alpha": 1.0},
        {"factors": 16, "regularization": 1.0, "alpha": 1.0},
        {"factors": 64, "regularization": 0.1, "alpha": 5.0},
        {"factors": 32, "regularization": 30.0, "alpha": 3.0},
    ],
    "itemknn": [{"neighbours": n} for n in (200, 50, 500)],
    "svd": [{"rank": r} for r in (64, 16, 128, 32, 256)],
    "bpr": [
        {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
        {"factors": 64, "learning_rate": 0.01, "regularization": 0.05, "iterations": 50},
        {"factors": 128, "learning_rate": 0.01, "regularization": 0.01, "iterations": 200},
    ],
    "content": [{"char_ngrams": False}, {"char_ngrams": True}],
    "w2v_content": [{"center": True}, {"center": False}],
    "item2vec": [
        {"neighbours": 50},
        {"neighbours": 50, "center": True},
        {"neighbours": 200},
        {"neighbours": 20},
    ],
}
# Round 1 goes cheapest first, so a tight budget still compares the families that fit.
COST_ORDER = ("w2v_content", "content", "item2vec", "itemknn", "svd", "als", "bpr", "ease")
REFIT_FACTOR = 1.3  # the train part is larger than the fit part
BLEND_WEIGHTS = (0.3, 0.5)  # weight of the second-best family in a blend
SEEDED = frozenset({"als", "bpr", "svd"})  # families that take random_state
PREFERENCE = (  # ties: the simpler, better understood family first
    "popularity", "content", "w2v_content", "itemknn", "item2vec", "ease", "svd", "als", "bpr",
    "blend",
)  # fmt: skip
VECTOR_FAMILIES = {"item2vec": "item_vectors", "w2v_content": "content_vectors"}
NO_VECTORS = {
    "item2vec": "no item2vec vectors (no active embeddings version with item vectors)",
    "w2v_content": "no Word2Vec product vectors (no active embeddings version)",
}


@dataclass(frozen=True)
class Split:
    """Fit on `train`; for each user, recommend from their `train` row (minus `exclude`)
    and score against `truth`."""

    train: sp.csr_matrix
    truth: sp.csr_matrix
    exclude: sp.csr_matrix | None


@dataclass
class Trial:
    family: str
    params: dict[str, Any]
    validation: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    evaluate_seconds: float = 0.0
    error: str = ""


@dataclass
class SelectionResult:
    winner: str
    winner_params: dict[str, Any]
    metric: str
    validation: dict[str, dict[str, float]]  # each family's best configuration
    test: dict[str, dict[str, float]]  # the same configurations, refitted on train part
    best_params: dict[str, dict[str, Any]]
    trials: list[Trial]
    skipped: dict[str, str]  # family -> why it was not evaluated at all
    untried: dict[str, int]  # family -> configurations the budget left untried
    search_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)  # how matrices were built
    products: IdIndex | None = None
    item_texts: list[str] | None = None
    item_vectors: np.ndarray | None = None  # item2vec, rows in `products` order
    content_vectors: np.ndarray | None = None  # Word2Vec content, rows in `products` order
    notes: dict[str, str] = field(default_factory=dict)  # family -> caveat on its figures

    def side_inputs(self, **overrides: Any) -> dict[str, Any]:
        """Texts and vectors of the catalogue used in selection, unless overridden."""
        inputs = {
            "item_texts": self.item_texts,
            "item_vectors": self.item_vectors,
            "content_vectors": self.content_vectors,
        }
        return inputs | {name: value for name, value in overrides.items() if value is not None}

    def refit(
        self,
        matrix: sp.csr_matrix,
        item_texts: Sequence[str] | None = None,
        *,
        item_vectors: np.ndarray | None = None,
        content_vectors: np.ndarray | None = None,
    ) -> Recommender:
        """The winner with its parameters, fitted on `matrix`."""
        model = make_model(self.winner, self.winner_params)
        inputs = self.side_inputs(
            item_texts=item_texts, item_vectors=item_vectors, content_vectors=content_vectors
        )
        return model.fit(matrix, **fit_inputs(self.winner, inputs))

    def content_family(self) -> str | None:
        """The content model of the hybrid's thin tier and cold-product mapping.

        TF-IDF ("content") unless Word2Vec ("w2v_content") ranked better on validation:
        the two were scored on the same users, and a small tenant's Word2Vec can be near
        degenerate (on 200 synthetic products every raw cosine was 1.0), so the switch
        has to be earned on held-out data, not assumed. When only one has inputs, that
        one; None when neither has.
        """
        has_texts, has_vectors = self.item_texts is not None, self.content_vectors is not None
        if not (has_texts and has_vectors):
            return "content" if has_texts else "w2v_content" if has_vectors else None
        w2v, tfidf = (
            self.validation.get(f, {}).get(self.metric) for f in ("w2v_content", "content")
        )
        return "w2v_content" if w2v is not None and tfidf is not None and w2v > tfidf else "content"

    def refit_on_all(
        self,
        arrays: InteractionArrays,
        *,
        products: IdIndex | None = None,
        item_texts: Sequence[str] | None = None,
        item_vectors: np.ndarray | None = None,
        content_vectors: np.ndarray | None = None,
        now: float | None = None,
    ) -> tuple[Recommender, FeedbackMatrices]:
        """Fit the winner on all data for serving; returns it with the matrices (and their
        indices) it was fitted on. Defaults to the catalogue, texts and vectors used in
        selection (texts and vectors given here are in the order of `products`)."""
        products = products if products is not None else self.products
        matrices = build_matrices(
            arrays,
            products=products,
            kind_weights=self.settings.get("kind_weights"),
            half_life_days=self.settings.get("half_life_days", DEFAULT_HALF_LIFE_DAYS),
            now=now,
        )
        model = self.refit(
            matrices.confidence, item_texts, item_vectors=item_vectors,
            content_vectors=content_vectors,
        )  # fmt: skip
        return model, matrices

    def summary(self) -> dict[str, Any]:
        """JSON-safe: what a marketer needs to see why the winner won."""
        return {
            "winner": self.winner,
            "winner_params": self.winner_params,
            "metric": self.metric,
            "validation": self.validation,
            "test": self.test,
            "best_params": self.best_params,
            "trials": [asdict(trial) for trial in self.trials],
            "skipped": self.skipped,
            "untried": self.untried,
            "search_seconds": self.search_seconds,
            "notes": self.notes,
        }


def select_model(
    arrays: InteractionArrays,
    *,
    product_ids: np.ndarray | None = None,
    item_texts: Sequence[str] | None = None,
    item_vectors: np.ndarray | None = None,
    content_vectors: np.ndarray | None = None,
    vectors_through: float | None = None,
    families: Sequence[str] | None = None,
    grids: dict[str, list[dict[str, Any]]] | None = None,
    time_budget: float = 120.0,
    test_fraction: float = 0.1,
    validation_fraction: float = 0.1,
    kind_weights: dict[str, float] | None = None,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    k: int = 10,
    exclude_seen: bool = True,
    max_eval_users: int | None = 10_000,
    random_state: int = 0,
    blend: bool = True,
) -> SelectionResult:
    """Time-split selection on a tenant's interactions (see the module docstring).

    `product_ids` is the catalogue (so products without interactions get columns, and
    content can reach them); `item_texts`, `item_vectors` (item2vec) and `content_vectors`
    (Word2Vec content) are aligned with `product_ids`, vectors with zero rows for products
    that have none. `vectors_through`: the time of the newest event the item2vec vectors
    were trained on; when it falls in the held-out windows, item2vec may have seen events
    it is scored on, and `notes` says how many of them at most.
    """
    products, texts = catalogue(arrays, product_ids, item_texts)
    item_vectors = catalogue_rows(product_ids, item_vectors, "item_vectors")
    content_vectors = catalogue_rows(product_ids, content_vectors, "content_vectors")
    customers = IdIndex.from_ids(arrays.customer)
    holdout = time_split(arrays, test_fraction)
    inner = time_split(holdout.train, validation_fraction)
    settings = {"kind_weights": kind_weights, "half_life_days": half_life_days}

    def split(train: InteractionArrays, test: InteractionArrays, cutoff: float) -> Split:
        m = build_matrices(train, customers=customers, products=products, now=cutoff, **settings)
        truth = relevance_matrix(test, customers, products)
        return Split(m.confidence, truth, m.exclusions(exclude_seen=exclude_seen))

    result = select_on_splits(
        split(inner.train, inner.test, inner.cutoff),
        split(holdout.train, holdout.test, holdout.cutoff),
        item_texts=texts,
        item_vectors=item_vectors,
        content_vectors=content_vectors,
        families=families,
        grids=grids,
        time_budget=time_budget,
        k=k,
        max_eval_users=max_eval_users,
        random_state=random_state,
        blend=blend,
    )
    result.settings, result.products = settings, products
    if vectors_through is not None and "item2vec" in result.validation:
        # item2vec learns from customers' sequences: held-out events it was trained on
        # make its figures optimistic. Reported, not corrected: the vectors are given.
        seen = [float(np.mean(h.timestamp <= vectors_through)) for h in (inner.test, holdout.test)]
        if max(seen) > 0:
            result.notes["item2vec"] = (
                f"its vectors were trained on events up to a time that covers {seen[0]:.0%} "
                f"of the validation and {seen[1]:.0%} of the test events: its figures may be "
                "optimistic"
            )
    return result


def select_on_splits(
    validation: Split,
    test: Split,
    *,
    item_texts: Sequence[str] | None = None,
    item_vectors: np.ndarray | None = None,
    content_vectors: np.ndarray | None = None,
    families: Sequence[str] | None = None,
    grids: dict[str, list[dict[str, Any]]] | None = None,
    time_budget: float = 120.0,
    k: int = 10,
    max_eval_users: int | None = 10_000,
    random_state: int = 0,
    blend: bool = True,
) -> SelectionResult:
    """The search and the choice on prepared splits (the benchmark's random splits too).

    With `blend`, the two best families on validation are also tried as a weighted blend
    (BLEND_WEIGHTS on the second), scored like any other candidate."""
    metric = f"ndcg@{k}"
    grids = {**DEFAULT_GRIDS, **(grids or {})}
    wanted = [f for f in (families or FAMILIES) if f not in ("popularity", "blend")]
    skipped: dict[str, str] = {}
    if item_texts is None and "content" in wanted:
        wanted.remove("content")
        skipped["content"] = "no product texts"
    inputs = {
        "item_texts": item_texts,
        "item_vectors": item_vectors,
        "content_vectors": content_vectors,
    }
    for family, name in VECTOR_FAMILIES.items():
        vectors = inputs[name]
        if family in wanted and (vectors is None or not np.any(vectors)):
            wanted.remove(family)
            skipped[family] = NO_VECTORS[family] if vectors is None else "no product has a vector"
    n_items = validation.train.shape[1]
    if "ease" in wanted and n_items > EASE_MAX_ITEMS:
        wanted.remove("ease")
        skipped["ease"] = f"{n_items} products > EASE bound {EASE_MAX_ITEMS}"
    valid_users = _sample_users(validation, max_eval_users, random_state)
    test_users = _sample_users(test, max_eval_users, random_state)

    def run(
        family: str, params: dict[str, Any], split: Split, users: np.ndarray
    ) -> tuple[Trial, Recommender | None]:
        trial, model = Trial(family, params), None
        fit_args = fit_inputs(family, inputs)
        try:
            started = time.perf_counter()
            model = make_model(family, _seeded(family, params, random_state))
            model.fit(split.train, **fit_args)
            trial.fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            trial.validation = _evaluate(model, split, users, k)
            trial.evaluate_seconds = time.perf_counter() - started
        except Exception as error:  # one family failing must not sink the whole run
            log.warning("recommender %s %s failed", family, params, exc_info=True)
            trial.error, model = f"{type(error).__name__}: {error}", None
        return trial, model

    untried: dict[str, int] = {}
    trials: list[Trial] = []
    best: dict[str, tuple[Trial, Recommender]] = {}  # per family, on validation

    def record(trial: Trial, model: Recommender | None) -> None:
        trials.append(trial)
        current = best.get(trial.family)
        if model is not None and (
            current is None or trial.validation[metric] > current[0].validation[metric]
        ):
            best[trial.family] = (trial, model)

    started = time.perf_counter()
    for params in grids["popularity"]:
        record(*run("popularity", params, validation, valid_users))
    # Predicted seconds of one more trial, and of the refit on the (larger) train part
    # that each family with a result still owes; unknown costs count as zero.
    cost: dict[str, float] = {"ease": ease_fit_seconds(n_items)}
    refit_cost: dict[str, float] = {}
    wanted.sort(key=lambda f: COST_ORDER.index(f) if f in COST_ORDER else len(COST_ORDER))
    for round_ in range(max((len(grids[f]) for f in wanted), default=0)):
        for family in wanted:
            if round_ >= len(grids[family]):
                continue
            owed = sum(c for f, c in refit_cost.items() if f != family)
            owed += refit_cost.get(family, REFIT_FACTOR * cost.get(family, 0.0))
            elapsed = time.perf_counter() - started
            if elapsed + cost.get(family, 0.0) + owed > time_budget:
                skipped.setdefault(family, f"time budget ({time_budget:.0f} s) spent")
                untried[family] = untried.get(family, 0) + 1
                continue
            trial, model = run(family, grids[family][round_], validation, valid_users)
            record(trial, model)
            cost[family] = trial.fit_seconds + trial.evaluate_seconds
            if family in best:
                best_trial = best[family][0]
                refit_cost[family] = (
                    REFIT_FACTOR * best_trial.fit_seconds + best_trial.evaluate_seconds
                )
    for family in wanted:
        if family in best:
            skipped.pop(family, None)  # evaluated at least once: not skipped
        else:
            skipped.setdefault(family, "every configuration failed")
    pair = _blend_pair(best, metric) if blend else None
    if pair:
        for weight in BLEND_WEIGHTS:  # only evaluation: the parts are already fitted
            if time.perf_counter() - started + sum(refit_cost.values()) > time_budget:
                untried["blend"] = untried.get("blend", 0) + 1
                continue
            parts = [best[f][1] for f in pair]
            seconds = sum(best[f][0].fit_seconds for f in pair)
            record(*_blend_trial(parts, seconds, weight, validation, valid_users, k))
    search_seconds = time.perf_counter() - started

    test_metrics, test_models = {}, {}
    for family, (trial, _) in best.items():
        if family == "blend":
            continue
        refit, model = run(family, trial.params, test, test_users)
        if model is not None:
            test_models[family] = model
            test_metrics[family] = refit.validation | {"fit_seconds": refit.fit_seconds}
    if "blend" in best and pair and all(f in test_models for f in pair):
        parts = [test_models[f] for f in pair]
        seconds = sum(test_metrics[f]["fit_seconds"] for f in pair)
        weight = best["blend"][0].params["weights"][1]
        refit, _ = _blend_trial(parts, seconds, weight, test, test_users, k)
        test_metrics["blend"] = refit.validation | {"fit_seconds": refit.fit_seconds}
    ranked = [t for f, (t, _) in best.items() if f in test_metrics]
    winner = max(ranked, key=lambda t: (t.validation[metric], -PREFERENCE.index(t.family)))
    return SelectionResult(
        winner=winner.family,
        winner_params=_seeded(winner.family, winner.params, random_state),
        metric=metric,
        validation={f: t.validation | {"fit_seconds": t.fit_seconds} for f, (t, _) in best.items()},
        test=test_metrics,
        best_params={f: _seeded(f, t.params, random_state) for f, (t, _) in best.items()},
        trials=trials,
        skipped=skipped,
        untried=untried,
        search_seconds=search_seconds,
        item_texts=None if item_texts is None else list(item_texts),
        item_vectors=item_vectors,
        content_vectors=content_vectors,
    )


def _blend_pair(best: dict[str, tuple[Trial, Recommender]], metric: str) -> tuple[str, str] | None:
    """The two best families on validation (popularity aside), best first."""
    ranked = sorted(
        (f for f in best if f not in ("popularity", "blend")),
        key=lambda f: -best[f][0].validation[metric],
    )
    return (ranked[0], ranked[1]) if len(ranked) >= 2 else None


def _blend_trial(
    parts: list[Recommender],
    fit_seconds: float,
    weight: float,
    split: Split,
    users: np.ndarray,
    k: int,
) -> tuple[Trial, Recommender]:
    blend = BlendRecommender.of(parts, [1.0 - weight, weight])
    trial = Trial("blend", blend.get_params(), fit_seconds=fit_seconds)
    started = time.perf_counter()
    trial.validation = _evaluate(blend, split, users, k)
    trial.evaluate_seconds = time.perf_counter() - started
    return trial, blend


def _seeded(family: str, params: dict[str, Any], random_state: int) -> dict[str, Any]:
    return {"random_state": random_state, **params} if family in SEEDED else dict(params)


def _sample_users(split: Split, limit: int | None, random_state: int) -> np.ndarray:
    """Users with something to find, at most `limit` of them (a fixed random sample)."""
    truth = split.truth
    if split.exclude is not None:
        truth = truth - truth.multiply(split.exclude > 0)
    users = np.flatnonzero(np.diff(sp.csr_matrix(truth).indptr) > 0)
    if limit is not None and len(users) > limit:
        rng = np.random.default_rng(random_state)
        users = np.sort(rng.choice(users, limit, replace=False))
    return users


def _evaluate(model: Recommender, split: Split, users: np.ndarray, k: int) -> dict[str, float]:
    exclude = None if split.exclude is None else split.exclude[users]
    return evaluate_model(
        _Indexed(model, users), split.train[users], split.truth[users], exclude=exclude, k=k
    )


class _Indexed:
    """Passes the users' training row numbers to models that keep per-user state."""

    def __init__(self, model: Recommender, users: np.ndarray) -> None:
        self.model, self.users = model, users

    def recommend(
        self,
        user_rows: sp.csr_matrix,
        k: int,
        exclude: sp.csr_matrix | None = None,
        user_indices: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        indices = None if user_indices is None else self.users[user_indices]
        return self.model.recommend(user_rows, k, exclude, indices)
