"""Reliable change and clinical-significance categories for one client, at every boundary, in both directions."""

from __future__ import annotations

import json
import math

import pytest

from caseload.change import (
    CATEGORIES,
    ChangeError,
    GroupStats,
    category_counts,
    classify_change,
    classify_changes,
    hageman_arrindell_cutoffs,
    jacobson_cutoffs,
    reliable_change_points,
)
from caseload.measures import Z_CRIT, Measure


def measure(higher_is_better: bool, **kw) -> Measure:
    return Measure(
        code="X", name="x", kind="outcome", higher_is_better=higher_is_better, min=0, max=100, **kw
    )


# --- registry points: "a change of at least this much" (ORS 5 points, cutoff 25; PHQ-9 6 points, cutoff 9.5)


def test_an_ors_rise_of_exactly_five_points_is_reliable_and_crossing_to_the_cutoff_is_recovery(registry):
    r = classify_change(registry["ORS"], 20, 25)
    assert r.reliable_improvement and not r.strict and r.threshold == 5
    assert r.clinical_first is True and r.clinical_latest is False  # 25 itself is not clinical
    assert r.category == "recovered"


def test_an_ors_rise_just_short_of_five_points_is_unchanged(registry):
    r = classify_change(registry["ORS"], 20, 24.9)
    assert not r.reliable_improvement and r.category == "unchanged"
    assert r.change == pytest.approx(4.9) and r.improvement == pytest.approx(4.9)


def test_a_reliable_ors_rise_that_stays_below_the_cutoff_is_improved(registry):
    assert classify_change(registry["ORS"], 18, 24.9).category == "improved"


def test_an_ors_intake_exactly_at_the_cutoff_is_not_clinical_so_a_reliable_rise_is_improved(registry):
    r = classify_change(registry["ORS"], 25, 30)
    assert r.clinical_first is False and r.category == "improved"


def test_an_ors_drop_of_exactly_five_points_from_the_cutoff_into_the_clinical_range_is_harmed(registry):
    r = classify_change(registry["ORS"], 25, 20)
    assert r.reliable_deterioration and r.improvement == -5
    assert r.category == "harmed"


def test_an_ors_drop_ending_exactly_at_the_cutoff_is_deteriorated_not_harmed(registry):
    r = classify_change(registry["ORS"], 31, 25)
    assert r.reliable_deterioration and r.clinical_latest is False and r.category == "deteriorated"


def test_a_phq9_fall_of_exactly_six_to_nine_is_recovery(registry):
    r = classify_change(registry["PHQ9"], 15, 9)
    assert r.change == -6 and r.improvement == 6
    assert r.reliable_improvement and r.category == "recovered"


def test_a_phq9_fall_of_five_is_unchanged(registry):
    assert classify_change(registry["PHQ9"], 15, 10).category == "unchanged"


def test_a_phq9_fall_of_six_ending_at_ten_is_improved_because_ten_is_still_clinical(registry):
    r = classify_change(registry["PHQ9"], 16, 10)
    assert r.clinical_latest is True and r.category == "improved"


def test_a_phq9_rise_of_six_from_nine_to_fifteen_is_harmed(registry):
    r = classify_change(registry["PHQ9"], 9, 15)
    assert r.reliable_deterioration and r.clinical_first is False and r.clinical_latest is True
    assert r.category == "harmed"


def test_a_phq9_rise_of_six_within_the_clinical_range_is_deteriorated(registry):
    assert classify_change(registry["PHQ9"], 12, 18).category == "deteriorated"


def test_one_rating_is_not_enough_data_whether_latest_is_none_or_nan(registry):
    for latest in (None, math.nan):
        r = classify_change(registry["ORS"], 20, latest)
        assert r.category == "not_enough_data"
        assert r.change is None and r.clinical_first is True and r.clinical_latest is None
        assert r.threshold == 5  # still given, for a reliable-change band around the intake


def test_one_rating_on_a_measure_without_a_threshold_is_still_just_not_enough_data():
    r = classify_change(measure(True, cutoff=20), 10, None)
    assert r.category == "not_enough_data" and r.threshold is None


def test_the_age_group_cutoff_decides_recovery_for_an_adolescent(registry):
    adult = classify_change(registry["ORS"], 26, 31, age_group="adult")
    adolescent = classify_change(registry["ORS"], 26, 31, age_group="adolescent")
    assert adult.category == "improved" and adult.cutoff == 25
    assert adolescent.category == "recovered" and adolescent.cutoff == 28


# --- derived threshold: 1.959964 * SD * sqrt(2) * sqrt(1 - r), strictly exceeded


def test_a_change_exactly_at_the_derived_threshold_is_not_reliable_but_just_beyond_is():
    m = measure(True, reliability=0.8, sd=5.0)
    threshold, strict = m.reliable_change_threshold()
    assert strict and threshold == pytest.approx(Z_CRIT * 5 * math.sqrt(2) * math.sqrt(0.2))
    at = classify_change(m, 0.0, threshold)
    assert at.improvement == threshold and not at.reliable_improvement and at.category == "unchanged"
    beyond = classify_change(m, 0.0, threshold + 1e-9)
    assert beyond.reliable_improvement and beyond.rci == pytest.approx(Z_CRIT)
    down = classify_change(m, threshold + 1e-9, 0.0)
    assert down.reliable_deterioration and down.category == "deteriorated"


def test_a_lower_is_better_measure_uses_the_derived_threshold_in_the_falling_direction():
    m = measure(False, reliability=0.9, sd=6.0, cutoff=20)
    threshold, _ = m.reliable_change_threshold()
    at = classify_change(m, threshold, 0.0)
    assert at.improvement == threshold and not at.reliable_improvement
    r = classify_change(m, 24.0, 24.0 - threshold - 1e-9)
    assert r.reliable_improvement and r.category == "recovered" and r.rci < 0


def test_an_explicit_sd_replaces_the_registry_points_and_makes_the_threshold_strict():
    m = measure(True, reliable_change=5, reliability=0.75, cutoff=25)
    r = classify_change(m, 20, 26, sd=4.0)
    assert r.strict and r.threshold == pytest.approx(reliable_change_points(0.75, 4.0))
    assert r.threshold == pytest.approx(5.5437, abs=1e-4)
    assert r.category == "recovered"
    assert classify_change(m, 20, 25.5, sd=4.0).category == "unchanged"  # 5.5 < 5.54; points would say yes


def test_an_explicit_sd_without_a_reliability_is_refused_with_the_measure_named():
    with pytest.raises(ChangeError, match="X: reliable change from an SD needs the measure's reliability"):
        classify_change(measure(True, reliable_change=5), 10, 20, sd=4)


def test_a_measure_without_any_threshold_is_refused():
    with pytest.raises(ChangeError, match="no reliable-change threshold"):
        classify_change(measure(True, cutoff=20), 10, 20)


def test_without_a_cutoff_reliable_change_is_improved_or_deteriorated_only():
    m = measure(True, reliable_change=5)
    assert classify_change(m, 10, 20).category == "improved"
    assert classify_change(m, 20, 10).category == "deteriorated"
    assert classify_change(m, 20, 10).clinical_first is None


def test_a_missing_first_score_is_refused():
    with pytest.raises(ChangeError, match="first score is missing"):
        classify_change(measure(True, reliable_change=5), None, 20)


def test_an_unknown_method_is_refused():
    with pytest.raises(ChangeError, match="method must be one of jt, ha"):
        classify_change(measure(True, reliable_change=5), 10, 20, method="nk")


def test_the_result_is_plain_json_even_from_numpy_inputs(registry):
    np = pytest.importorskip("numpy")
    r = classify_change(registry["PHQ9"], np.float64(15), np.int64(8))
    data = json.loads(json.dumps(r.to_dict()))
    assert data["category"] == "recovered" and data["cutoff"] == 9.5 and data["method"] == "jt"
    assert set(CATEGORIES) >= {data["category"]}


# --- Jacobson, Follette & Revenstorf cutoffs


def test_cutoffs_a_b_c_for_a_symptom_measure_lie_two_sds_out_and_between_the_means():
    cut = jacobson_cutoffs(30, 8, 8, 6, higher_is_better=False)
    assert cut == {"a": 14.0, "b": 20.0, "c": pytest.approx((8 * 8 + 6 * 30) / 14)}


def test_cutoffs_for_a_higher_is_better_measure_mirror_a_and_b():
    cut = jacobson_cutoffs(19, 7, 32, 4, higher_is_better=True)
    assert cut["a"] == 33 and cut["b"] == 24 and cut["c"] == pytest.approx((7 * 32 + 4 * 19) / 11)


def test_cutoff_c_reproduces_the_core10_worked_example():
    # formats-and-norms 2.1: clinical 19.7 (7.7), general population 4.7 (4.8) -> c = 10.5, published 11
    assert jacobson_cutoffs(19.7, 7.7, 4.7, 4.8, higher_is_better=False)["c"] == pytest.approx(
        10.46, abs=0.01
    )


def test_without_functional_norms_only_cutoff_a_is_given():
    assert jacobson_cutoffs(30, 8, None, None, higher_is_better=False) == {"a": 14.0}


def test_a_non_positive_norm_sd_is_refused():
    with pytest.raises(ChangeError):
        jacobson_cutoffs(30, 0, 8, 6, higher_is_better=False)
    with pytest.raises(ChangeError, match="not above the measurement error"):
        hageman_arrindell_cutoffs(30, 10, 8, 3, 0.8, higher_is_better=False)


def test_true_score_cutoff_a_shrinks_the_clinical_sd_by_root_reliability():
    cut = hageman_arrindell_cutoffs(30, 10, 8, 8, 0.8, higher_is_better=False)
    assert cut["a"] == pytest.approx(30 - 2 * 10 * math.sqrt(0.8))


# --- Hageman–Arrindell


GROUP = GroupStats(m_pre=30, sd_pre=6, m_post=20, sd_post=8, r_pre_post=0.5, reliability=0.8, n=40)


def test_hageman_arrindell_needs_group_statistics():
    with pytest.raises(ChangeError, match="needs the group's pre/post statistics"):
        classify_change(measure(False, reliability=0.8, cutoff=20), 30, 10, method="ha")


def test_hageman_arrindell_threshold_in_points_is_where_the_index_crosses_1_645():
    m = measure(False, reliability=0.8, cutoff=15)
    t = classify_change(m, 30, 25, method="ha", group=GROUP)
    assert t.method == "ha" and t.strict and t.threshold != t.deterioration_threshold
    assert not classify_change(m, 30, 30 - t.threshold + 1e-6, method="ha", group=GROUP).reliable_improvement
    r = classify_change(m, 30, 30 - t.threshold - 1e-6, method="ha", group=GROUP)
    assert r.reliable_improvement and abs(r.rci) == pytest.approx(1.644854, abs=1e-5)
    assert not classify_change(
        m, 30, 30 + t.deterioration_threshold - 1e-6, method="ha", group=GROUP
    ).reliable_deterioration
    assert classify_change(
        m, 30, 30 + t.deterioration_threshold + 1e-6, method="ha", group=GROUP
    ).category in {
        "deteriorated",
        "harmed",
    }


def test_hageman_arrindell_recovery_needs_the_true_score_beyond_the_cutoff_not_just_the_score():
    m = measure(False, reliability=0.8, cutoff=15)
    just_below = classify_change(m, 30, 14, method="ha", group=GROUP)
    assert just_below.reliable_improvement and just_below.clinical_latest is False
    assert just_below.category == "improved"  # observed below 15, but not reliably functional
    well_below = classify_change(m, 30, 5, method="ha", group=GROUP)
    assert well_below.category == "recovered" and -well_below.ha_clinical_z > 1.644854


def test_group_statistics_from_scores_use_clients_with_both_ratings():
    g = GroupStats.from_scores([10, 12, 14, 16, None], [8, 9, 13, 15, 3], 0.8)
    assert g.n == 4 and g.m_pre == 13 and g.m_post == pytest.approx(11.25)
    with pytest.raises(ChangeError, match="at least 3 clients"):
        GroupStats.from_scores([10, 12], [8, 9], 0.8)


# --- many clients at once


def test_classifying_a_caseload_with_the_sample_sd_of_first_scores_of_clients_with_two_ratings():
    m = measure(False, reliability=0.8, cutoff=20)
    first = [30, 25, 35, 28, 40]
    latest = [18, 24, 34, 10, None]
    results = classify_changes(m, first, latest, sample_sd=True)
    expected_sd = (sum((x - 29.5) ** 2 for x in first[:4]) / 3) ** 0.5  # the fifth client has one rating
    assert results[0].threshold == pytest.approx(Z_CRIT * expected_sd * math.sqrt(2) * math.sqrt(0.2))
    assert [r.category for r in results] == [
        "recovered",
        "unchanged",
        "unchanged",
        "recovered",
        "not_enough_data",
    ]
    counts = category_counts(results)
    assert list(counts) == list(CATEGORIES) and counts["recovered"] == 2 and counts["harmed"] == 0


def test_sample_sd_and_an_explicit_sd_together_are_refused():
    with pytest.raises(ChangeError, match="either sd or sample_sd"):
        classify_changes(measure(True, reliability=0.8), [1, 2, 3], [2, 3, 4], sd=3, sample_sd=True)
