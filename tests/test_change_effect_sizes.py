"""Caseload effect sizes: pre-post d and the severity-adjusted effect size, their intervals, n and exclusions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from caseload.change import pre_post_effect_size, severity_adjusted_effect_size


def test_pre_post_d_is_mean_improvement_over_the_sd_of_first_scores():
    es = pre_post_effect_size([10, 20, 30], [15, 22, 40])
    assert es.value == pytest.approx((17 / 3) / 10)
    assert es.n == 3 and es.n_excluded == 0 and es.excluded == {}
    gains_sd = np.std([5, 2, 10], ddof=1)
    se = math.sqrt(gains_sd**2 / (3 * 100) + es.value**2 / 6)
    assert es.ci_low == pytest.approx(es.value - 1.959964 * se)
    assert es.ci_high == pytest.approx(es.value + 1.959964 * se)


def test_for_a_symptom_measure_a_fall_is_a_positive_effect():
    assert pre_post_effect_size([20, 15, 25], [10, 9, 12], higher_is_better=False).value > 0
    assert pre_post_effect_size([20, 15, 25], [10, 9, 12]).value < 0


def test_clients_with_one_rating_or_no_first_score_are_counted_as_excluded_with_the_reason():
    es = pre_post_effect_size([10, 20, 30, 12, None, 40], [15, 22, 40, None, 30, math.nan])
    assert es.n == 3 and es.n_excluded == 3
    assert es.excluded == {"only one rating": 2, "no first score": 1}
    json.dumps(es.to_dict())


def test_fewer_than_three_clients_gives_no_number_and_says_why():
    es = pre_post_effect_size([10, 20], [15, 22])
    assert es.value is None and es.ci_low is None and es.n == 2
    assert "fewer than 3 clients" in es.method


def test_identical_first_scores_give_no_number_and_say_why():
    es = pre_post_effect_size([10, 10, 10], [12, 15, 13])
    assert es.value is None and "every first score is the same" in es.method


def test_the_95_percent_interval_of_d_covers_the_true_effect_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    delta, rho, n, reps = 0.8, 0.5, 40, 600
    cov = [[1, rho], [rho, 1]]
    hits = 0
    for _ in range(reps):
        z = rng.multivariate_normal([0, delta], cov, size=n)
        es = pre_post_effect_size(z[:, 0], z[:, 1])
        hits += es.ci_low <= delta <= es.ci_high
    assert 0.92 <= hits / reps <= 0.975


def test_saes_against_its_own_clients_equals_pre_post_d():
    first = [12, 18, 20, 25, 9, 15, 22, 30]
    latest = [20, 22, 27, 28, 20, 19, 30, 31]
    d = pre_post_effect_size(first, latest)
    saes = severity_adjusted_effect_size(first, latest)
    assert saes.value == pytest.approx(d.value)
    assert saes.reference_n == 8 and saes.ci_low < saes.value < saes.ci_high


def test_saes_judges_a_severe_caseload_by_what_the_reference_achieved_from_the_same_intakes():
    # Reference clinic: improvement = 0.5 * (30 - intake) + noise. A therapist whose clients start lower
    # (more severe) and improve exactly as the clinic predicts for them has a large raw d but the clinic's SAES.
    rng = np.random.default_rng(3)
    ref_first = rng.uniform(8, 32, 300)
    ref_latest = ref_first + 0.5 * (30 - ref_first) + rng.normal(0, 2, 300)
    ref_gain = ref_latest - ref_first
    slope, intercept = np.polyfit(ref_first, ref_gain, 1)
    mine_first = np.array([8.0, 9, 10, 11, 12, 13])
    on_the_line = mine_first + intercept + slope * mine_first
    saes = severity_adjusted_effect_size(mine_first, on_the_line, (ref_first, ref_latest))
    assert saes.value == pytest.approx(pre_post_effect_size(ref_first, ref_latest).value)
    better = severity_adjusted_effect_size(mine_first, on_the_line + 3, (ref_first, ref_latest))
    assert better.value == pytest.approx(saes.value + 3 / ref_first.std(ddof=1))
    assert pre_post_effect_size(mine_first, on_the_line).value > 5  # raw d flatters the severe caseload
    assert saes.n == 6 and saes.reference_n == 300


def test_saes_with_a_cutoff_leaves_out_intakes_outside_the_clinical_range_and_says_so():
    first = [12, 18, 20, 25, 9, 15, 22, 30]
    latest = [20, 22, 27, 28, 20, 19, 30, 31]
    saes = severity_adjusted_effect_size(first, latest, cutoff=25, higher_is_better=True)
    assert saes.n == 6 and saes.excluded == {
        "intake not in the clinical range": 2
    }  # 25 and 30 are not clinical
    assert saes.value == pytest.approx(
        pre_post_effect_size(first[:3] + first[4:7], latest[:3] + latest[4:7]).value
    )


def test_saes_interval_is_the_same_every_time_for_the_same_caseload():
    first = [12, 18, 20, 25, 9, 15, 22, 30, 14, 17]
    latest = [20, 22, 27, 28, 20, 19, 30, 31, 15, 25]
    a = severity_adjusted_effect_size(first, latest)
    b = severity_adjusted_effect_size(first, latest)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_saes_without_enough_reference_clients_gives_no_number():
    es = severity_adjusted_effect_size([10, 12, 14], [15, 18, 20], ([10, 11], [12, 13]))
    assert es.value is None and "fewer than 3 reference clients" in es.method
