"""Per-clinician supervision figures on the engine's overview frame."""

from __future__ import annotations

import math

import pytest
from _frames import overview_frame, overview_row

from caseload.change import pre_post_effect_size
from caseload.supervision import TEAM, TOO_FEW, clients_to_discuss, clinician_summary, summary_table


def _team(registry, n_big: int = 12, n_small: int = 3):
    rows = []
    for i in range(n_big):
        category = ["recovered", "improved", "unchanged", "deteriorated"][i % 4]
        rows.append(
            overview_row(
                f"A{i:02d}",
                clinician_id="T01",
                first_score=15.0 + i,
                latest_score=15.0 + i + (6 if category in ("recovered", "improved") else -1),
                change_category=category,
                status="off_track" if i < 3 else "on_track",
                episode_active=i % 2 == 0,
                sessions=2 if i in (1, 3) else 6,
            )
        )
    for i in range(n_small):
        rows.append(overview_row(f"B{i:02d}", clinician_id="T00", change_category="recovered"))
    rows.append(overview_row("A00", clinician_id="T01", measure="PHQ9", first_score=18, latest_score=9))
    return overview_frame(rows)


def test_percentages_count_each_episode_once_on_the_chosen_measure(registry):
    summary = clinician_summary(_team(registry), registry["ORS"], min_n=10)
    t01 = summary.set_index("clinician_id").loc["T01"]
    assert t01["episodes"] == 12  # the PHQ-9 row of A00 is another measure
    assert t01["improved_pct"] == pytest.approx(50.0)  # 3 recovered + 3 improved of 12
    assert t01["recovered_pct"] == pytest.approx(25.0)
    assert t01["deteriorated_pct"] == pytest.approx(25.0)
    # off track now: of the 6 active episodes (even i), i = 0 and 2 are off track
    assert t01["off_track_pct"] == pytest.approx(100 * 2 / 6)
    assert t01["intake_mean"] == pytest.approx(sum(15.0 + i for i in range(12)) / 12)


def test_dropout_counts_closed_episodes_that_ended_early_without_improvement(registry):
    summary = clinician_summary(_team(registry), registry["ORS"], min_n=5).set_index("clinician_id")
    # closed = odd i (6 episodes); i = 1 (improved, 2 sessions) is not a dropout, i = 3 (deteriorated, 2) is
    t01 = summary.loc["T01"]
    assert t01["closed_episodes"] == 6
    assert t01["dropout_pct"] == pytest.approx(100 / 6)
    assert (t01["inferred_unplanned"], t01["endings_not_recorded"], t01["planned_endings"]) == (1, 5, 0)
    assert (t01["dropout_good"], t01["dropout_not_good"]) == (1 - 1, 1)


def test_recorded_endings_decide_dropout_and_it_is_split_by_the_outcome_at_the_last_rating(registry):
    rows = []
    # Ten closed episodes: 4 planned (3 improved), 3 unplanned (1 improved), 3 not recorded (1 early, unchanged).
    plan = [
        ("planned", "recovered", 8),
        ("planned", "improved", 6),
        ("planned", "improved", 7),
        ("planned", "unchanged", 9),
        ("unplanned", "improved", 4),
        ("unplanned", "unchanged", 3),
        ("unplanned", "deteriorated", 2),
        (None, "unchanged", 2),
        (None, "improved", 5),
        (None, "unchanged", 6),
    ]
    for i, (ending, category, sessions) in enumerate(plan):
        rows.append(
            overview_row(
                f"C{i:02d}",
                episode_active=False,
                episode_ending=ending,
                change_category=category,
                sessions=sessions,
                days_since_last=90,
            )
        )
    rows.append(overview_row("OPEN", episode_active=True, change_category="unchanged", sessions=3))
    t01 = (
        clinician_summary(overview_frame(rows), registry["ORS"], min_n=10)
        .set_index("clinician_id")
        .loc["T01"]
    )
    assert t01["closed_episodes"] == 10
    assert (t01["planned_endings"], t01["unplanned_endings"], t01["inferred_unplanned"]) == (4, 3, 1)
    assert t01["endings_not_recorded"] == 2
    assert t01["dropout_pct"] == pytest.approx(40.0)  # 3 recorded + 1 inferred of 10 closed
    assert (t01["dropout_good"], t01["dropout_not_good"]) == (1, 3)
    assert t01["good_outcome_pct"] == pytest.approx(50.0)  # recovered + 3 improved + ... = 5 of 10
    assert t01["sessions_per_closed"] == pytest.approx(sum(p[2] for p in plan) / 10)
    # overview_row spaces ratings a week apart: sessions - 1 weeks from first to last rating
    assert t01["weeks_per_closed"] == pytest.approx(sum(p[2] - 1 for p in plan) / 10)
    table = summary_table(clinician_summary(overview_frame(rows), registry["ORS"], min_n=10)).iloc[0]
    assert table["Endings planned / unplanned / inferred unplanned / not recorded"] == "4 / 3 / 1 / 2"
    assert table["Dropouts good / not good at last rating"] == "1 / 3"
    assert table["% dropout"] == "40"


def test_closed_episode_shares_are_withheld_below_the_minimum_of_closed_episodes(registry):
    summary = clinician_summary(_team(registry), registry["ORS"], min_n=10).set_index("clinician_id")
    t01 = summary.loc["T01"]
    assert t01["comparable"] and t01["closed_episodes"] == 6
    assert math.isnan(t01["dropout_pct"]) and math.isnan(t01["good_outcome_pct"])
    assert "closed-episode shares withheld (n = 6 closed; minimum 10)" in t01["note"]


def test_small_groups_are_too_few_to_compare_and_withhold_their_shares(registry):
    summary = clinician_summary(_team(registry), registry["ORS"], min_n=10).set_index("clinician_id")
    small = summary.loc["T00"]
    assert not small["comparable"]
    assert TOO_FEW in small["note"] and "n = 3" in small["note"]
    for column in ("improved_pct", "recovered_pct", "effect_size", "off_track_pct", "dropout_pct"):
        assert math.isnan(small[column])
    assert small["clients"] == 3  # counts are still shown
    table = summary_table(summary.reset_index()).set_index("Clinician")
    assert table.loc["T00", "% reliably improved"] == TOO_FEW
    assert table.loc["T00", "Effect size (95% CI)"] == TOO_FEW


def test_effect_size_is_the_pre_post_d_of_caseload_change_with_its_interval(registry):
    frame = _team(registry)
    summary = clinician_summary(frame, registry["ORS"], min_n=10).set_index("clinician_id")
    rows = frame[(frame["clinician_id"] == "T01") & (frame["measure"] == "ORS")]
    expected = pre_post_effect_size(rows["first_score"].tolist(), rows["latest_score"].tolist(), True)
    assert summary.loc["T01", "effect_size"] == pytest.approx(expected.value)
    assert summary.loc["T01", "effect_size_low"] == pytest.approx(expected.ci_low)
    assert summary.loc["T01", "effect_size_high"] == pytest.approx(expected.ci_high)
    assert (
        summary.loc["T01", "effect_size_low"]
        < summary.loc["T01", "effect_size"]
        < summary.loc["T01", "effect_size_high"]
    )


def test_clinicians_are_listed_by_code_with_the_whole_team_last(registry):
    summary = clinician_summary(_team(registry), registry["ORS"], min_n=2)
    assert list(summary["clinician_id"]) == ["T00", "T01", TEAM]
    assert summary.iloc[-1]["episodes"] == 15


def test_a_measure_nobody_used_gives_an_empty_summary(registry):
    assert clinician_summary(_team(registry), registry["GAD7"]).empty


def test_clients_to_discuss_are_active_flagged_episodes_most_urgent_first():
    frame = overview_frame(
        [
            overview_row("C1", status="on_track"),
            overview_row("C2", status="at_risk"),
            overview_row("C3", status="off_track"),
            overview_row("C4", status="on_track", alliance_status="concern"),
            overview_row("C5", status="off_track", episode_active=False),
            overview_row(
                "C6",
                status="on_track",
                alerts=[{"rule": "risk_item", "severity": "critical", "message": "risk"}],
            ),
            overview_row(
                "C7", status="on_track", alerts=[{"rule": "long_gap", "severity": "info", "message": "gap"}]
            ),
        ]
    )
    assert list(clients_to_discuss(frame)["client_id"]) == ["C6", "C3", "C2", "C4"]
