"""Expected treatment response: the default model's shape and the calibration from a caseload's history."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from caseload.measures import Z_CRIT
from caseload.trajectories import (
    CalibrationRules,
    DefaultModel,
    band_at,
    calibrate,
    default_poor_probability,
    expected_bands,
    outcome_probability,
    population,
    position,
)


def test_session_one_is_the_intake_itself(registry):
    band = band_at(registry["ORS"], 18.0, 1)
    assert (band.p10, band.p50, band.p90) == (18.0, 18.0, 18.0)


def test_a_typical_intake_reaches_one_reliable_change_by_the_reference_session(registry):
    ors = registry["ORS"]  # typical intake: 1.4 reliable changes (7 points) below the cutoff of 25
    assert band_at(ors, 18.0, 8).p50 == pytest.approx(23.0, abs=0.01)
    assert band_at(ors, 18.0, 4).p50 == pytest.approx(18 + 5 * math.log(4) / math.log(8), abs=0.05)


def test_change_is_log_linear_and_stops_growing_at_the_plateau(registry):
    ors = registry["ORS"]
    medians = [band_at(ors, 10.0, t).p50 for t in (2, 4, 8, 16, 20, 30)]
    steps = np.diff(medians[:4])
    assert steps == pytest.approx([steps[0]] * 3, abs=0.11)  # equal steps per doubling (bands in 0.1 points)
    assert medians[-1] == medians[-2]


def test_more_severe_intakes_are_expected_to_change_more(registry):
    ors = registry["ORS"]
    change = [band_at(ors, x, 6).p50 - x for x in (5.0, 12.0, 20.0)]
    assert change[0] > change[1] > change[2] > 0


def test_intakes_on_the_non_clinical_side_are_expected_to_stay_where_they_are(registry):
    ors = registry["ORS"]
    for intake in (25.0, 30.0):  # exactly at the cutoff is not clinical
        band = band_at(ors, intake, 6)
        assert band.p50 == intake
        assert band.p10 < intake < band.p90


def test_the_band_follows_the_measures_direction(registry):
    phq = registry["PHQ9"]  # higher is worse: the 10th percentile outcome is the highest score
    band = band_at(phq, 16.0, 6)
    assert band.p10 > band.p25 > band.p50 > band.p75 > band.p90
    assert band.p50 < 16.0


def test_the_band_uses_the_populations_cutoff(registry):
    ors = registry["ORS"]
    assert population(ors, "adolescent") == "adolescent"
    assert population(registry["PHQ9"], "adolescent") == "default"
    assert band_at(ors, 26.0, 6, "adult").p50 == 26.0  # above the adult cutoff of 25
    assert band_at(ors, 26.0, 6, "adolescent").p50 > 26.0  # below the adolescent cutoff of 28


def test_the_spread_starts_at_measurement_error_and_grows(registry):
    ors = registry["ORS"]
    model = DefaultModel()
    b2, b8 = band_at(ors, 30.0, 2), band_at(ors, 30.0, 8)
    z75 = 0.6744897501960817
    sd2 = 5 * math.sqrt((1 / Z_CRIT) ** 2 + (model.growth * math.log(2)) ** 2)
    assert b2.p75 - b2.p50 == pytest.approx(z75 * sd2, abs=0.1)
    assert (b8.p90 - b8.p10) > (b2.p90 - b2.p10)


def test_bands_are_clipped_to_the_measures_range(registry):
    band = band_at(registry["ORS"], 39.0, 12)
    assert band.p90 == 40.0


def test_bands_are_rounded_to_the_precision_the_measure_is_recorded_in(registry):
    assert band_at(registry["ORS"], 18.0, 4).p25 == round(band_at(registry["ORS"], 18.0, 4).p25, 1)
    phq = band_at(registry["PHQ9"], 16.0, 4)
    assert all(float(v).is_integer() for v in (phq.p10, phq.p25, phq.p50, phq.p75, phq.p90))


def test_a_score_is_below_the_band_only_when_strictly_worse(registry):
    ors, phq = registry["ORS"], registry["PHQ9"]
    bands = pd.DataFrame({"p10": [15.0, 15.0, 15.0], "p25": [18.0, 18.0, 18.0]})
    assert list(position(ors, [18.0, 17.99, 14.99], bands)) == ["within", "below_p25", "below_p10"]
    bands = pd.DataFrame({"p10": [15.0, 15.0, 15.0], "p25": [12.0, 12.0, 12.0]})
    assert list(position(phq, [12.0, 13.0, 16.0], bands)) == ["within", "below_p25", "below_p10"]


def history(n_per_intake: int, intakes, sessions, shift=3.0, spread=2.0, seed=0) -> pd.DataFrame:
    """Episodes whose improvement at every session is shift + spread * standard normal (known percentiles)."""
    rng = np.random.default_rng(seed)
    rows = []
    key = 0
    for x in intakes:
        for _ in range(n_per_intake):
            key += 1
            for t in sessions:
                rows.append((f"e{key}", float(x), t, shift + spread * rng.standard_normal()))
    return pd.DataFrame(rows, columns=["episode_key", "intake", "session", "improvement"])


def test_calibration_recovers_the_percentiles_of_similar_clients(registry):
    ors = registry["ORS"]
    h = history(400, [15.0], range(1, 7))
    cal = calibrate(ors, h, rules=CalibrationRules(smooth=False))
    bands = expected_bands(ors, [15.0, 15.0], [4, 6], calibration=cal)
    assert list(bands["model"]) == ["calibrated", "calibrated"]
    assert list(bands["n"]) == [400, 400]
    at4 = h.loc[h.session == 4, "improvement"]
    expected = 15.0 + np.percentile(at4, [10, 25, 50, 75, 90])
    assert bands.loc[0, ["p10", "p25", "p50", "p75", "p90"]].to_numpy(dtype=float) == pytest.approx(
        expected,
        abs=0.05,  # bands are shown, and compared, to the ORS's one decimal
    )
    assert expected == pytest.approx(18.0 + 2.0 * np.array([-1.28, -0.67, 0, 0.67, 1.28]), abs=0.5)


def test_the_intake_window_widens_until_enough_clients_qualify(registry):
    ors = registry["ORS"]
    h = history(10, [10.0, 12.0, 14.0], [1, 2, 3])  # 10 episodes at each of three intakes
    cal = calibrate(ors, h, rules=CalibrationRules(min_n=30, smooth=False))
    band = band_at(ors, 12.0, 3, calibration=cal)
    assert (band.model, band.n, band.window) == ("calibrated", 30, 2.0)
    cal20 = calibrate(ors, h, rules=CalibrationRules(min_n=20, smooth=False))
    assert band_at(ors, 10.0, 3, calibration=cal20).window == 2.0  # 10 and 12 within 2 points of 10


def test_too_little_history_falls_back_to_the_default_model(registry):
    ors = registry["ORS"]
    h = history(29, [12.0], [1, 2, 3, 4])
    cal = calibrate(ors, h, rules=CalibrationRules(min_n=30))
    band = band_at(ors, 12.0, 3, calibration=cal)
    assert (band.model, band.n) == ("default", None)
    assert band == band_at(ors, 12.0, 3)


def test_intakes_far_from_any_history_fall_back_to_the_default_model(registry):
    ors = registry["ORS"]
    h = history(50, [10.0], [1, 2, 3])
    cal = calibrate(ors, h)  # window at most 1.5 reliable changes = 7.5 points
    assert band_at(ors, 17.0, 3, calibration=cal).model == "calibrated"
    assert band_at(ors, 18.0, 3, calibration=cal).model == "default"


def test_calibration_works_for_measures_where_higher_is_worse(registry):
    phq = registry["PHQ9"]
    h = history(100, [18.0], [1, 2, 3, 4], shift=5.0, spread=1.0)
    band = band_at(phq, 18.0, 3, calibration=calibrate(phq, h))
    assert band.model == "calibrated"
    assert band.p50 == pytest.approx(13.0, abs=0.3)  # improvement of 5 = five points lower
    assert band.p10 > band.p50 > band.p90


def test_smoothing_across_sessions_evens_out_a_noisy_session(registry):
    ors = registry["ORS"]
    h = history(60, [15.0], [1, 2, 3, 4, 5])
    h.loc[h.session == 3, "improvement"] += 4.0
    raw = calibrate(ors, h, rules=CalibrationRules(smooth=False))
    smooth = calibrate(ors, h)
    jump_raw = band_at(ors, 15, 3, calibration=raw).p50 - band_at(ors, 15, 2, calibration=raw).p50
    jump_smooth = band_at(ors, 15, 3, calibration=smooth).p50 - band_at(ors, 15, 2, calibration=smooth).p50
    assert jump_smooth < jump_raw
    assert smooth.episodes == 60


# --- the chance of ending without reliable improvement ------------------------------------------------------


def test_a_client_exactly_on_the_typical_course_has_even_odds_of_reliable_improvement(registry):
    ors = registry[
        "ORS"
    ]  # intake 18: the default median reaches one reliable change (5) by the end, session 8
    on_course = band_at(ors, 18.0, 4).p50 - 18.0
    assert default_poor_probability(ors, [18.0], [4], [on_course])[0] == pytest.approx(0.5, abs=0.01)


def test_less_change_so_far_means_a_higher_chance_of_a_poor_end(registry):
    ors = registry["ORS"]
    p = default_poor_probability(ors, [18.0] * 5, [4] * 5, [-4.0, -1.0, 2.0, 5.0, 8.0])
    assert np.all(np.diff(p) < 0)
    assert p[0] > 0.95 and p[-1] < 0.1


def test_an_intake_on_the_healthy_side_that_stays_put_is_unlikely_to_improve_reliably(registry):
    p = default_poor_probability(registry["ORS"], [28.0], [4], [0.0])[0]
    assert p > 0.9


def test_there_are_no_odds_at_intake_or_without_a_reliable_change_threshold(registry):
    ors = registry["ORS"]
    assert np.isnan(default_poor_probability(ors, [18.0], [1], [0.0])[0])
    plain = dataclasses.replace(ors, reliable_change=None, reliability=None, sd=None)
    assert np.isnan(default_poor_probability(plain, [18.0], [4], [0.0])[0])
    assert outcome_probability(plain, [18.0], [4], [0.0])["model"].isna().all()


def ended(n_poor: int, n_good: int, intake=15.0, improvement=2.0, sessions=(2, 3, 4)) -> pd.DataFrame:
    """Episodes at one intake and one improvement at every session: n_poor ended poorly, n_good improved."""
    rows = [
        (f"e{intake}-{improvement}-{i}", intake, t, improvement, i >= n_poor)
        for i in range(n_poor + n_good)
        for t in sessions
    ]
    return pd.DataFrame(rows, columns=["episode_key", "intake", "session", "improvement", "improved"])


def test_calibrated_odds_are_the_share_of_similar_clients_who_ended_poorly(registry):
    ors = registry["ORS"]
    cal = calibrate(ors, ended(24, 16))
    odds = outcome_probability(ors, [15.0, 15.4], [4, 3], [2.0, 2.3], calibration=cal)
    assert list(odds["model"]) == ["calibrated", "calibrated"]
    assert list(odds["p_poor"]) == [0.6, 0.6]
    assert (odds.loc[0, "n"], odds.loc[0, "poor"], odds.loc[0, "window"]) == (40, 24, 1.0)
    assert cal.outcome_episodes == 40


def test_the_odds_window_widens_until_enough_ended_clients_qualify(registry):
    ors = registry["ORS"]
    h = pd.concat([ended(20, 0, improvement=0.0), ended(0, 20, improvement=3.0)])
    cal = calibrate(ors, h, rules=CalibrationRules(min_n=30))
    odds = outcome_probability(ors, [15.0], [4], [1.0], calibration=cal)  # 0 and 3 are within 2 points of 1
    assert (odds.loc[0, "n"], odds.loc[0, "poor"], odds.loc[0, "window"]) == (40, 20, 2.0)
    assert odds.loc[0, "p_poor"] == 0.5


def test_odds_fall_back_to_the_default_model_far_from_any_history(registry):
    ors = registry["ORS"]
    cal = calibrate(ors, ended(24, 16))  # window at most 1.5 reliable changes = 7.5 points
    odds = outcome_probability(ors, [15.0, 15.0], [4, 4], [9.0, 10.0], calibration=cal)
    assert list(odds["model"]) == ["calibrated", "default"]
    assert odds.loc[1, "p_poor"] == default_poor_probability(ors, [15.0], [4], [10.0])[0]


def test_only_ended_episodes_count_toward_the_odds_when_the_history_says_which_ended(registry):
    ors = registry["ORS"]
    h = ended(24, 16)
    h["ended"] = ~h["episode_key"].isin(
        [f"e15.0-2.0-{i}" for i in range(10)]
    )  # ten still open, all poor so far
    odds = outcome_probability(ors, [15.0], [4], [2.0], calibration=calibrate(ors, h))
    assert (odds.loc[0, "n"], odds.loc[0, "poor"]) == (30, 14)


def test_an_improved_only_history_gives_bands_but_no_odds(registry):
    ors = registry["ORS"]
    cal = calibrate(ors, ended(0, 40), rules=CalibrationRules(reference="improved"))
    assert band_at(ors, 15.0, 4, calibration=cal).model == "calibrated"
    assert outcome_probability(ors, [15.0], [4], [2.0], calibration=cal).loc[0, "model"] == "default"


def test_the_vectorised_normal_distribution_matches_the_standard_library():
    from statistics import NormalDist

    from caseload.trajectories import _normal_cdf

    z = np.linspace(-6, 6, 241)
    assert _normal_cdf(z) == pytest.approx([NormalDist().cdf(v) for v in z], abs=2e-7)
