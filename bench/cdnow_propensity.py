"""Purchase propensity on the real CDNOW purchase log: the model against recency alone.

    .venv/bin/python bench/cdnow_propensity.py

The data (CDNOW_master.txt: customer id, date YYYYMMDD, number of CDs, dollar value) ships
inside the lifetimes wheel; it is downloaded at run time with
`pip download --no-deps lifetimes==0.11.3` into a temporary directory and read from the
wheel (zip) directly: never installed, never written into the repository.

Protocol: every line is one purchase worth its dollar value. Features
(`customers.ml.features.customer_features`) as of 1997-10-01 00:00 UTC, i.e. from
purchases up to 1997-09-30; label = any purchase from 1997-10-01 to 1998-06-30 (the end
of the log). Per seed, a random half of the customers trains `PropensityModel`, the other
half is scored; the recency-only baseline (-recency_days) is scored on the same half in
the same run. For its Brier score the baseline is Platt-scaled (logistic regression on
recency_days alone, fitted on the training half): monotone, so its AUCs and lift are those
of raw recency. 3 seeds, mean ± std.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from facts import machine, wheel_members  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from customers.ml.features import customer_features, purchase_labels  # noqa: E402
from customers.ml.propensity import (  # noqa: E402
    PropensityModel,
    propensity_metrics,
    quality_band,
    recency_baseline,
)
from recommender.ml.data import KIND_CODE, InteractionArrays  # noqa: E402

WHEEL = "lifetimes==0.11.3"
MASTER = "lifetimes/datasets/CDNOW_master.txt"
SEEDS = (0, 1, 2)
DAY = 86_400.0
AS_OF = np.datetime64("1997-10-01", "s").astype(np.int64).astype(float)
LABEL_END = np.datetime64("1998-07-01", "s").astype(np.int64).astype(float)
METRICS = ("roc_auc", "pr_auc", "brier", "lift@10%")


def download() -> InteractionArrays:
    """Every line of CDNOW_master.txt as a purchase at midnight UTC of its date."""
    (raw,) = wheel_members(WHEEL, [MASTER])
    text = raw.decode("ascii")
    table = np.loadtxt(io.StringIO(text), skiprows=1, dtype=np.float64)
    customer, date, dollars = (
        table[:, 0].astype(np.int64),
        table[:, 1].astype(np.int64),
        table[:, 3],
    )
    days = (
        (date // 10_000 - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        + (date // 100 % 100 - 1).astype("timedelta64[M]")
    ).astype("datetime64[D]") + (date % 100 - 1).astype("timedelta64[D]")
    n = len(customer)
    return InteractionArrays(
        customer=customer,
        product=np.full(n, -1, dtype=np.int64),
        kind=np.full(n, KIND_CODE["purchase"], dtype=np.int8),
        value=dollars,
        timestamp=days.astype("datetime64[s]").astype(np.int64).astype(np.float64),
    )


def run_seed(X: np.ndarray, y: np.ndarray, names: list[str], seed: int) -> dict:
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[: len(y) // 2], order[len(y) // 2 :]
    started = time.perf_counter()
    model = PropensityModel(random_state=seed).fit(X[train], y[train], names)
    fit_seconds = time.perf_counter() - started
    recency = X[:, [names.index("recency_days")]]
    platt = LogisticRegression().fit(recency[train], y[train])
    baseline = propensity_metrics(y[test], recency_baseline(X[test], names))
    baseline["brier"] = propensity_metrics(y[test], platt.predict_proba(recency[test])[:, 1])[
        "brier"
    ]
    rate = y[train].mean()  # the constant predictor, from the training half
    return {
        "model": propensity_metrics(y[test], model.predict_proba(X[test])),
        "recency": baseline,
        "constant_brier": float(np.mean((y[test] - rate) ** 2)),
        "chosen": model.chosen_,
        "calibration": model.calibration_,
        "validation": model.candidate_metrics_,
        "fit_seconds": fit_seconds,
    }


def _cell(values: list[float]) -> str:
    values = np.array(values)
    return f"{values.mean():.3f} ± {values.std():.3f}"


def report(runs: list[dict], arrays: InteractionArrays, y: np.ndarray, seconds: float) -> str:
    lines = [
        "## Purchase propensity: CDNOW",
        "",
        f"Command: `.venv/bin/python bench/cdnow_propensity.py` (whole run {seconds:.0f} s).",
        f"Machine: {machine()}; numpy {np.__version__}, scikit-learn {sklearn.__version__}.",
        "",
        f"Data: CDNOW_master.txt from the lifetimes 0.11.3 wheel, {len(arrays)} purchases by "
        f"{len(y)} customers (first purchases January-March 1997). Features as of 1997-10-01 "
        "from purchases before it; label: any purchase 1997-10-01 .. 1998-06-30 "
        f"(base rate {y.mean():.3f}). Random 50/50 split of customers, train / report; seeds "
        f"{', '.join(map(str, SEEDS))}; mean ± std over seeds.",
        "",
        "| scorer | ROC-AUC | PR-AUC | Brier | lift@10% |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("model", "PropensityModel"), ("recency", "recency only (baseline)")):
        cells = [_cell([run[key][m] for run in runs]) for m in METRICS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    constant = _cell([run["constant_brier"] for run in runs])
    lines.append(f"| constant base rate | 0.500 | = base rate | {constant} | 1.000 |")
    auc = float(np.mean([run["model"]["roc_auc"] for run in runs]))
    lines += [
        "",
        f"Model quality band: **{quality_band(auc)}** (ROC-AUC {auc:.3f}; bands: excellent "
        "≥ 0.85, good ≥ 0.75, fair ≥ 0.65, weak below).",
        "",
        "Per seed (candidate chosen by validation PR-AUC; validation ROC-AUC / PR-AUC of each "
        "candidate; calibration applied; fit seconds):",
        "",
    ]
    for seed, run in zip(SEEDS, runs, strict=True):
        validation = ", ".join(
            f"{name} {m['roc_auc']:.3f} / {m['pr_auc']:.3f}"
            for name, m in run["validation"].items()
        )
        lines.append(
            f"- seed {seed}: {run['chosen']} ({validation}); {run['calibration']}; "
            f"{run['fit_seconds']:.1f} s"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    started = time.perf_counter()
    arrays = download()
    features = customer_features(arrays, as_of=AS_OF)
    y = purchase_labels(arrays, features.customer_ids, start=AS_OF, end=LABEL_END)
    runs = [run_seed(features.X, y, features.names, seed) for seed in SEEDS]
    print(report(runs, arrays, y, time.perf_counter() - started))


if __name__ == "__main__":
    main()
