"""What a campaign caused: treatment against the holdout control group, and content variants
against each other. Pure numpy / scipy, no Django.

- The p-value is the two-sided two-proportion z-test with the pooled standard error (the
  same as a 2x2 chi-square test without continuity correction).
- The 95% interval of the absolute uplift (treatment rate - control rate) is Newcombe's
  hybrid score interval (Wilson intervals of both rates combined): unlike the textbook
  Wald interval it keeps its coverage with low conversion rates and a small holdout,
  which is the normal case for a 10% control group.
- The relative uplift's interval is the Katz log risk-ratio interval.
- The verdict is plain language and refuses to call anything before both groups are big
  enough to detect an effect at all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MIN_PER_GROUP = 100  # recipients per group before any verdict but "not enough"
MIN_CONVERSIONS = 10  # in both groups together
SIGNIFICANT = "significant uplift"
DROP = "significant drop"
NO_EFFECT = "no detectable effect"
TOO_EARLY = "not enough recipients yet"


@dataclass(frozen=True)
class Uplift:
    treatment_rate: float
    control_rate: float
    absolute: float  # treatment rate - control rate
    absolute_low: float
    absolute_high: float
    relative: float | None  # absolute / control rate; None when control never converted
    relative_low: float | None
    relative_high: float | None
    p_value: float
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def wilson_interval(conversions: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (0, 1 for n == 0)."""
    if n == 0:
        return 0.0, 1.0
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = conversions / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided pooled z-test of rate 1 == rate 2."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * stats.norm.sf(abs(z)))


def uplift(
    treated: int, treated_conversions: int, control: int, control_conversions: int,
    *, confidence: float = 0.95,
) -> Uplift:  # fmt: skip
    """Treatment against control (recipient and conversion counts of each group)."""
    for name, count, converted in (("treated", treated, treated_conversions),
                                   ("control", control, control_conversions)):  # fmt: skip
        if count < 0 or not 0 <= converted <= count:
            raise ValueError(f"{name}: need 0 <= conversions <= recipients")
    p1 = treated_conversions / treated if treated else 0.0
    p2 = control_conversions / control if control else 0.0
    l1, u1 = wilson_interval(treated_conversions, treated, confidence)
    l2, u2 = wilson_interval(control_conversions, control, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    relative = relative_low = relative_high = None
    if p2 > 0:
        relative = difference / p2
        if treated_conversions > 0:
            z = stats.norm.ppf(0.5 + confidence / 2)
            log_rr = math.log(p1 / p2)
            se = math.sqrt(
                1 / treated_conversions - 1 / treated + 1 / control_conversions - 1 / control
            )
            relative_low = math.exp(log_rr - z * se) - 1
            relative_high = math.exp(log_rr + z * se) - 1
    p_value = two_proportion_p_value(treated_conversions, treated, control_conversions, control)
    return Uplift(
        treatment_rate=p1, control_rate=p2, absolute=difference, absolute_low=low,
        absolute_high=high, relative=relative, relative_low=relative_low,
        relative_high=relative_high, p_value=p_value,
        verdict=verdict(treated, control, treated_conversions + control_conversions, p_value,
                        difference, 1 - confidence),
    )  # fmt: skip


def verdict(
    treated: int, control: int, conversions: int, p_value: float, difference: float,
    alpha: float = 0.05,
) -> str:  # fmt: skip
    if min(treated, control) < MIN_PER_GROUP or conversions < MIN_CONVERSIONS:
        return TOO_EARLY
    if p_value < alpha:
        return SIGNIFICANT if difference > 0 else DROP
    return NO_EFFECT


@dataclass(frozen=True)
class VariantComparison:
    """Content variants against each other: an overall chi-square test, then each variant
    against the first (the reference) with Holm-adjusted p-values."""

    rates: dict[str, float]
    p_value: float  # do the variants differ at all
    against_reference: dict[str, Uplift]  # p-values Holm-adjusted
    winner: str | None  # the best variant, only when it beats every other significantly

    def as_dict(self) -> dict:
        return {
            "rates": self.rates,
            "p_value": self.p_value,
            "against_reference": {k: v.as_dict() for k, v in self.against_reference.items()},
            "winner": self.winner,
        }


def compare_variants(
    counts: dict[str, tuple[int, int]], *, alpha: float = 0.05
) -> VariantComparison:
    """`counts`: variant -> (recipients, conversions), the first variant the reference."""
    if len(counts) < 2:
        raise ValueError("compare_variants needs two or more variants")
    names = list(counts)
    recipients = np.array([counts[n][0] for n in names])
    converted = np.array([counts[n][1] for n in names])
    rates = {n: (c / r if r else 0.0) for n, r, c in zip(names, recipients, converted, strict=True)}
    table = np.stack([converted, recipients - converted])
    if (table.sum(axis=1) == 0).any() or (recipients == 0).any():
        overall = 1.0
    else:
        overall = float(stats.chi2_contingency(table, correction=False)[1])
    reference = names[0]
    raw = {
        n: uplift(counts[n][0], counts[n][1], counts[reference][0], counts[reference][1])
        for n in names[1:]
    }
    adjusted = holm({n: u.p_value for n, u in raw.items()})
    against = {
        n: Uplift(
            **{
                **u.as_dict(),
                "p_value": adjusted[n],
                "verdict": verdict(
                    counts[n][0],
                    counts[reference][0],
                    counts[n][1] + counts[reference][1],
                    adjusted[n],
                    u.absolute,
                    alpha,
                ),
            }
        )  # fmt: skip
        for n, u in raw.items()
    }
    return VariantComparison(rates, overall, against, _winner(counts, rates, alpha))


def _winner(
    counts: dict[str, tuple[int, int]], rates: dict[str, float], alpha: float
) -> str | None:
    best = max(rates, key=rates.get)
    others = [n for n in counts if n != best]
    p_values = holm(
        {n: two_proportion_p_value(counts[best][1], counts[best][0], counts[n][1], counts[n][0])
         for n in others}
    )  # fmt: skip
    enough = all(counts[n][0] >= MIN_PER_GROUP for n in counts)
    return best if enough and all(p < alpha for p in p_values.values()) else None


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (family-wise error at most the nominal level)."""
    order = sorted(p_values, key=p_values.get)
    m, running, adjusted = len(order), 0.0, {}
    for rank, name in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted
