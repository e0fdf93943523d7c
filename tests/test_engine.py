"""The engine: one row per client episode and outcome measure, the norms used, raters, bands and the client view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _engine_store import TODAY, put, series

from caseload.alerts import AlertConfig
from caseload.change import classify_change
from caseload.engine import OVERVIEW_COLUMNS, caseload_overview, client_detail, overview_records
from caseload.sample import simulate_caseload, store_rows
from caseload.store import set_setting
from caseload.trajectories import band_at, default_poor_probability


def overview(con, registry, **kw):
    kw.setdefault("trajectory", "default")
    return caseload_overview(con, registry, today=TODAY, **kw)


def test_an_empty_store_gives_an_empty_overview_with_the_documented_columns(con, registry):
    frame = overview(con, registry)
    assert frame.empty
    assert list(frame.columns) == OVERVIEW_COLUMNS
    assert client_detail(con, registry, "NOBODY", today=TODAY) is None


def test_one_row_per_client_episode_and_outcome_measure(con, registry):
    put(
        con,
        series("A", "ORS", [15, 18, 20])
        + series("A", "SRS", [37, 38, 38])
        + series("A", "PHQ9", [16, 14, 12]),
    )
    put(con, series("B", "ORS", [20, 22], end=TODAY - timedelta(days=400)))
    put(con, series("B", "ORS", [12, 14, 17], first_number=3))
    frame = overview(con, registry)
    assert list(zip(frame.client_id, frame.episode, frame.measure, strict=True)) == [
        ("A", 1, "ORS"),
        ("A", 1, "PHQ9"),
        ("B", 1, "ORS"),
        ("B", 2, "ORS"),
    ]
    assert list(frame.columns) == OVERVIEW_COLUMNS


def test_each_episode_is_judged_from_its_own_intake(con, registry):
    put(con, series("RET", "ORS", [20, 27], end=TODAY - timedelta(days=300)))
    put(con, series("RET", "ORS", [10, 12, 13], first_number=3))
    frame = overview(con, registry)
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first.first_score, first.latest_score, first.change_category) == (20, 27, "recovered")
    assert (second.first_score, second.latest_score, second.first_session, second.t) == (10, 13, 1, 3)
    assert second.change_category == "unchanged"
    assert not first.episode_active and second.episode_active
    assert second.episode_label.startswith("Episode 2 (")
    assert first.days_since_last == 300


def test_the_adolescent_cutoff_applies_to_adolescents_and_the_default_age_group_to_others(con, registry):
    put(con, series("TEEN", "ORS", [20, 27.5], age_group="adolescent"))
    put(con, series("ADULT", "ORS", [20, 27.5], age_group="adult"))
    put(con, series("UNKNOWN", "ORS", [20, 27.5]))
    frame = overview(con, registry).set_index("client_id")
    assert frame.loc["TEEN", ["population", "cutoff", "change_category"]].tolist() == [
        "adolescent",
        28,
        "improved",
    ]
    assert frame.loc["ADULT", ["population", "cutoff", "change_category"]].tolist() == [
        "adult",
        25,
        "recovered",
    ]
    assert frame.loc["UNKNOWN", ["age_group", "population"]].tolist() == ["adult", "adult"]
    set_setting(con, "default_age_group", "adolescent")
    again = overview(con, registry).set_index("client_id")
    assert again.loc["UNKNOWN", ["population", "change_category"]].tolist() == ["adolescent", "improved"]


def test_a_measure_without_age_norms_reports_default_norms(con, registry):
    put(con, series("TEENPHQ", "PHQ9", [15, 9], age_group="adolescent"))
    r = overview(con, registry).iloc[0]
    assert (r.population, r.cutoff, r.change_category) == ("default", 9.5, "recovered")


def test_the_clients_own_rating_drives_the_row_and_collateral_ratings_are_kept_apart(con, registry):
    put(con, series("FAM", "ORS", [20, 22, 23]) + series("FAM", "ORS", [10, 10, 30], rater="parent"))
    put(con, series("CHILD", "ORS", [15, 21], rater="parent"))
    frame = overview(con, registry).set_index("client_id")
    assert frame.loc["FAM", ["rater", "sessions", "latest_score"]].tolist() == ["self", 3, 23]
    assert frame.loc["CHILD", ["rater", "latest_score"]].tolist() == ["parent", 21]
    detail = client_detail(con, registry, "FAM", today=TODAY)
    raters = {
        (m["measure"], m["rater"]): [s["total"] for s in m["sessions"]]
        for m in detail["episodes"][0]["measures"]
    }
    assert raters == {("ORS", "parent"): [10, 10, 30], ("ORS", "self"): [20, 22, 23]}


def test_filters_keep_one_clinicians_clients_and_active_episodes(con, registry):
    put(con, series("MINE", "ORS", [20, 22], clinician_id="T01"))
    put(con, series("THEIRS", "ORS", [20, 22], clinician_id="T02"))
    put(con, series("OLD", "ORS", [20, 22], clinician_id="T01", end=TODAY - timedelta(days=61)))
    assert set(overview(con, registry, clinician_id="T01").client_id) == {"MINE", "OLD"}
    assert set(overview(con, registry, active_only=True).client_id) == {"MINE", "THEIRS"}
    assert set(overview(con, registry, clinician_id="T01", active_only=True).client_id) == {"MINE"}


def test_the_latest_clinician_of_an_episode_is_shown(con, registry):
    rows = series("MOVED", "ORS", [20, 22, 23])
    rows[-1]["clinician_id"] = "T07"
    put(con, rows)
    assert overview(con, registry).iloc[0].clinician_id == "T07"


@pytest.fixture
def big_history(con, registry):
    """120 synthetic clients with long courses, stored directly: enough history to calibrate ORS bands."""
    from caseload.sample import SampleConfig

    sim = simulate_caseload(160, 5, today=TODAY, config=SampleConfig(sessions_mean=12.0, active_share=0.3))
    rows = store_rows(sim.ratings, registry, 1)
    put(con, rows.drop(columns=["total_source", "import_id", "source_row"]).to_dict("records"))
    return sim


def test_bands_are_calibrated_from_the_caseload_once_it_has_enough_history(con, registry, big_history):
    auto = caseload_overview(con, registry, today=TODAY, trajectory="auto")
    ors = auto[(auto.measure == "ORS") & (auto.sessions >= 2) & (auto.population == "adult")]
    calibrated = ors[ors.expected_model == "calibrated"]
    early = ors[ors.t.between(2, 4) & ors.first_score.between(10, 24)]
    assert len(early) >= 10 and (early.expected_model == "calibrated").all()
    assert (calibrated.expected_n >= 30).all()
    default = caseload_overview(con, registry, today=TODAY, trajectory="default")
    assert set(default.expected_model.dropna()) == {"default"}
    assert default.expected_n.isna().all()
    teen = auto[(auto.measure == "ORS") & (auto.population == "adolescent") & (auto.sessions >= 2)]
    assert set(teen.expected_model) <= {"default", "calibrated"}


def test_change_categories_are_those_of_classify_change(con, registry, big_history):
    frame = overview(con, registry)
    for r in frame.itertuples():
        latest = None if r.sessions < 2 else r.latest_score
        age = None if r.population == "default" else r.population
        assert r.change_category == classify_change(registry[r.measure], r.first_score, latest, age).category


def test_the_status_follows_the_chance_of_a_poor_end_at_the_latest_session(con, registry, big_history):
    frame = overview(con, registry)
    config = AlertConfig()
    judged = frame[frame.sessions >= 2]
    assert set(judged.status) >= {"on_track", "at_risk", "off_track"}
    for r in judged.itertuples():
        m = registry[r.measure]
        pop = None if r.population == "default" else r.population
        assert r.expected_p25 == band_at(m, r.first_score, r.t, pop).p25
        p = default_poor_probability(m, [r.first_score], [r.t], [r.improvement], pop)[0]
        deteriorated = r.change_category in ("deteriorated", "harmed")
        healthy_intake = not m.is_clinical(r.first_score, pop)
        expected = (
            "off_track"
            if (p >= config.off_track_probability and not healthy_intake) or deteriorated
            else "at_risk"
            if p >= config.at_risk_probability
            else "on_track"
        )
        assert r.status == expected, (r.client_id, r.measure, p)


def test_a_healthy_intake_that_stays_flat_is_at_most_at_risk_and_the_message_says_why(con, registry):
    # ORS 30 at intake (adult cutoff 25) and 30.5 four sessions on: likely to end without reliable
    # improvement, but not a failing course.
    put(con, series("WELL", "ORS", [30, 29.5, 30, 30.5]))
    put(con, series("LOW", "ORS", [12, 12.5, 12, 12.5, 12]))  # the same story from a clinical intake
    frame = overview(con, registry).set_index("client_id")
    assert frame.loc["WELL", "status"] == "at_risk"
    assert frame.loc["LOW", "status"] == "off_track"
    (alert,) = [a for a in frame.loc["WELL", "alerts"] if a["rule"] == "at_risk"]
    assert alert["values"]["p_poor"] >= AlertConfig().off_track_probability
    assert alert["values"]["healthy_intake"] is True
    assert "already on the healthy side of the cutoff (25)" in alert["message"]
    # Reliably worse from a healthy intake is still off track.
    put(con, series("DROP", "ORS", [32, 30, 27, 24]))
    assert overview(con, registry).set_index("client_id").loc["DROP", "status"] == "off_track"


def test_client_detail_gives_sessions_bands_alerts_and_categories_per_episode(con, registry):
    put(con, series("D", "ORS", [20, 27], end=TODAY - timedelta(days=300)))
    put(
        con,
        series("D", "ORS", [12, 11, 9, 8], first_number=3)
        + series("D", "SRS", [38, 36, 34, 33], first_number=3),
    )
    detail = client_detail(con, registry, "D", today=TODAY)
    assert detail["client_id"] == "D"
    assert [e["episode"] for e in detail["episodes"]] == [1, 2]
    ep = detail["episodes"][1]
    assert ep["active"] and ep["population"] == ["adult"]
    assert ep["change_category"] == {"ORS": "unchanged"}
    assert ep["status"]["ORS"] in ("off_track", "at_risk")
    ors = next(m for m in ep["measures"] if m["measure"] == "ORS")
    assert [s["session"] for s in ors["sessions"]] == [1, 2, 3, 4]
    assert [s["session_number"] for s in ors["sessions"]] == [3, 4, 5, 6]
    assert ors["expected"]["model"] == "default" and ors["expected"]["n"] is None
    bands = ors["expected"]["bands"]
    assert bands[0]["session"] == 1 and bands[0]["p50"] == 12
    assert bands[3] == {**bands[3], "session": 4, "p25": band_at(registry["ORS"], 12, 4).p25}
    rules = [a["rule"] for a in ep["alerts"]]
    assert "alliance_below_cutoff" in rules and "alliance_drop" in rules
    assert detail["alerts"] == ep["alerts"]
    assert detail["episodes"][0]["change_category"] == {"ORS": "recovered"}
    srs = next(m for m in ep["measures"] if m["measure"] == "SRS")
    assert "status" not in srs


def test_overview_records_are_plain_json_values(con, registry):
    import json

    put(con, series("J", "ORS", [20, 14, 13]) + series("J", "SRS", [38, 36, 30]))
    records = overview_records(overview(con, registry))
    text = json.dumps(records, default=str)  # dates as datetime.date; no NaN, Timestamp or numpy value left
    assert "NaN" not in text
    assert records[0]["first_date"] == (TODAY - timedelta(days=14))
    assert records[0]["alerts"][0]["rule"] in ("off_track", "reliable_deterioration")


def test_undated_ratings_are_kept_and_ordered_by_session_number(con, registry):
    put(
        con,
        [
            {"client_id": "ND", "measure": "ORS", "session_number": n, "session_date": None, "total": t}
            for n, t in ((1, 12.0), (2, 14.0), (3, 11.0))
        ],
    )
    r = overview(con, registry).iloc[0]
    assert (r.sessions, r.first_score, r.latest_score, r.episode_active) == (3, 12, 11, True)
    assert r.episode_label == "Episode 1 (no dates, active)"


def test_a_success_referenced_calibration_uses_only_episodes_that_improved(con, registry, big_history):
    from caseload.engine import history_frame, store_calibrations
    from caseload.episodes import EpisodeRules
    from caseload.trajectories import CalibrationRules

    history = history_frame(con, registry, EpisodeRules(), max_session=500)  # every rating
    last = history.sort_values("session").groupby("episode_key").tail(1)
    ors = last[last.measure == "ORS"]
    assert (ors.loc[ors.improved, "improvement"] >= 5).all()
    assert not (ors.loc[~ors.improved, "improvement"] >= 5).any()
    everyone = store_calibrations(con, registry)[("ORS", "adult")]
    improved = store_calibrations(con, registry, calibration_rules=CalibrationRules(reference="improved"))
    improved = improved[("ORS", "adult")]
    assert improved.episodes < everyone.episodes
    a = band_at(registry["ORS"], 15.0, 3, calibration=everyone)
    b = band_at(registry["ORS"], 15.0, 3, calibration=improved)
    assert b.p50 > a.p50


def test_only_ended_episodes_count_toward_the_chance_of_a_poor_end(con, registry):
    from caseload.engine import history_frame
    from caseload.episodes import EpisodeRules

    newest = TODAY
    put(con, series("RECENT", "ORS", [15.0, 16.0, 17.0], end=newest - timedelta(days=60)))
    put(con, series("OLD", "ORS", [15.0, 16.0, 17.0], end=newest - timedelta(days=61)))
    put(
        con,
        series("SAID", "ORS", [15.0, 16.0], end=newest)
        + series("SAID", "ORS", [18.0], first_number=3, end=newest, ending="planned"),
    )
    put(con, series("NOW", "ORS", [15.0, 16.0], end=newest))
    put(con, series("TOLD", "ORS", [15.0, 16.0], end=newest))
    from caseload.client_settings import record_ending

    record_ending(con, "TOLD", newest, "unplanned")  # recorded in the app
    h = history_frame(con, registry, EpisodeRules(close_after_days=60))
    ended = h.groupby("episode_key")["ended"].first()
    ended.index = ended.index.str.split("#").str[0]
    assert ended.to_dict() == {"RECENT": False, "OLD": True, "SAID": True, "NOW": False, "TOLD": True}


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [([1, 2, 61, 62, 123], 5), ([1, 2, 3, 200], 4), ([5, 6, 130, 131], 4)],
)
def test_a_client_view_counts_each_session_number_of_the_episode_once(con, registry, numbers, expected):
    """Numbers up to 123 are counted with bit masks, larger ones with count(distinct): both give the same."""
    rows = []
    for k, number in enumerate(numbers):
        day = TODAY - timedelta(days=7 * (len(numbers) - k))
        for measure, total in (("ORS", 20 + k), ("SRS", 37)):
            rows.append(
                {
                    "client_id": "A",
                    "session_date": day,
                    "session_number": number,
                    "measure": measure,
                    "total": total,
                }
            )
    put(con, rows)
    detail = client_detail(con, registry, "A", today=TODAY, trajectory="default")
    assert [e["episode_sessions"] for e in detail["episodes"]] == [expected]


def test_the_overview_leaves_the_garbage_collector_as_it_found_it(con, registry):
    import gc

    put(con, series("A", "ORS", [15, 18, 20]) + series("A", "SRS", [37, 30, 38]))
    assert gc.isenabled()
    assert not overview(con, registry).empty
    assert gc.isenabled()
    gc.disable()
    try:
        overview(con, registry)
        assert not gc.isenabled()
    finally:
        gc.enable()
