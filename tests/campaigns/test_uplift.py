"""Campaign statistics: the uplift estimate, its interval's coverage, the verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from campaigns.ml.uplift import (
    DROP,
    NO_EFFECT,
    SIGNIFICANT,
    TOO_EARLY,
    compare_variants,
    holm,
    uplift,
    wilson_interval,
)

SIMULATIONS = 400


def _simulate(rng, n: int, holdout: float, control_rate: float, effect: float):
    control = int(round(n * holdout))
    treated = n - control
    return (
        treated, int(rng.binomial(treated, control_rate + effect)),
        control, int(rng.binomial(control, control_rate)),
    )  # fmt: skip


def test_the_p_value_is_the_2x2_chi_square_test():
    # given counts of a campaign, then the z-test equals scipy's uncorrected chi-square
    result = uplift(9000, 560, 1000, 48)
    table = np.array([[560, 9000 - 560], [48, 1000 - 48]])
    assert result.p_value == pytest.approx(stats.chi2_contingency(table, correction=False)[1])
    assert result.absolute == pytest.approx(560 / 9000 - 48 / 1000)
    assert result.relative == pytest.approx((560 / 9000) / (48 / 1000) - 1)
    assert result.absolute_low < result.absolute < result.absolute_high
    assert result.relative_low < result.relative < result.relative_high


@pytest.mark.parametrize(("control_rate", "effect"), [(0.05, 0.01), (0.02, 0.005), (0.1, 0.03)])
def test_the_interval_covers_the_planted_effect_in_at_least_90_percent_of_campaigns(
    control_rate, effect
):
    # given many simulated campaigns of 10,000 recipients with a 10% holdout and an effect
    rng = np.random.default_rng(7)
    covered, estimates = 0, []
    for _ in range(SIMULATIONS):
        result = uplift(*_simulate(rng, 10_000, 0.1, control_rate, effect))
        covered += result.absolute_low <= effect <= result.absolute_high
        estimates.append(result.absolute)
    # then the 95% interval covers the truth at least 90% of the time (nominally 95%), and
    # the estimates centre on the planted effect
    assert covered / SIMULATIONS >= 0.90
    assert np.mean(estimates) == pytest.approx(effect, abs=0.25 * effect)


def test_with_no_effect_a_significant_uplift_is_reported_in_at_most_10_percent():
    rng = np.random.default_rng(11)
    verdicts = [uplift(*_simulate(rng, 10_000, 0.1, 0.05, 0.0)).verdict for _ in range(SIMULATIONS)]
    false_alarms = sum(v == SIGNIFICANT for v in verdicts) / SIMULATIONS
    assert false_alarms <= 0.10
    assert verdicts.count(NO_EFFECT) / SIMULATIONS >= 0.85


def test_verdicts_in_plain_language():
    assert uplift(9000, 700, 1000, 40).verdict == SIGNIFICANT
    assert uplift(9000, 300, 1000, 60).verdict == DROP
    assert uplift(9000, 450, 1000, 50).verdict == NO_EFFECT
    assert uplift(90, 20, 10, 1).verdict == TOO_EARLY  # a 10-person holdout proves nothing
    assert uplift(9000, 3, 1000, 0).verdict == TOO_EARLY  # 3 conversions: too few to tell


def test_a_control_group_that_never_converted_has_no_relative_uplift():
    result = uplift(5000, 10, 500, 0)
    assert result.relative is None and result.relative_low is None
    assert result.absolute_low <= result.absolute <= result.absolute_high


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="conversions <= recipients"):
        uplift(10, 11, 10, 1)


def test_wilson_interval_is_inside_zero_one_and_centred():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.1
    low, high = wilson_interval(25, 50)
    assert low == pytest.approx(1 - high)


def test_variants_name_a_winner_only_when_it_beats_every_other():
    # given three subject lines, one clearly better
    clear = compare_variants({"a": (5000, 250), "b": (5000, 400), "c": (5000, 240)})
    assert clear.winner == "b" and clear.p_value < 0.001
    assert clear.against_reference["b"].verdict == SIGNIFICANT
    assert clear.against_reference["c"].verdict == NO_EFFECT
    # and with two indistinguishable variants, no winner
    tie = compare_variants({"a": (5000, 250), "b": (5000, 262)})
    assert tie.winner is None and tie.p_value > 0.05


def test_with_equal_variants_a_winner_is_named_in_at_most_10_percent():
    rng = np.random.default_rng(3)
    named = 0
    for _ in range(200):
        counts = {v: (3000, int(rng.binomial(3000, 0.05))) for v in ("a", "b", "c")}
        named += compare_variants(counts).winner is not None
    assert named / 200 <= 0.10


def test_holm_adjusts_in_order_and_never_decreases():
    adjusted = holm({"x": 0.01, "y": 0.04, "z": 0.03})
    assert adjusted == {"x": 0.03, "z": 0.06, "y": 0.06}
