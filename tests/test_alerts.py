"""Alert rules at their boundaries, as a therapist sees them in the caseload overview."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from _engine_store import TODAY, put, series

from caseload.alerts import RULES, AlertConfig, change_categories, fmt, num
from caseload.change import classify_change
from caseload.engine import caseload_overview
from caseload.gains import sudden_losses
from caseload.measures import load_measures
from caseload.trajectories import band_at, calibrate, default_poor_probability


def overview(con, registry, **kw):
    return caseload_overview(con, registry, today=TODAY, trajectory="default", **kw)


def row(frame, client, measure="ORS"):
    hit = frame[(frame.client_id == client) & (frame.measure == measure)]
    assert len(hit) == 1, f"{client} {measure}: {len(hit)} rows"
    return hit.iloc[0]


def rules(r) -> list[str]:
    return [a["rule"] for a in r["alerts"]]


def srs(client, totals, **kw):
    return series(client, "SRS", totals, **kw)


# --- the chance of ending without reliable improvement -------------------------------------------------------


def crossing(measure, intake: float, session: int, threshold: float) -> tuple[float, float]:
    """(worst score still under the threshold, next score down at the measure's precision, at or over it)."""
    step = 10.0**-measure.decimals
    sign = 1.0 if measure.higher_is_better else -1.0
    scores = intake + sign * np.arange(20, -20, -step)  # from much better to much worse
    p = default_poor_probability(
        measure, [intake] * len(scores), [session] * len(scores), sign * (scores - intake)
    )
    k = int(np.argmax(p >= threshold))
    assert k > 0 and p[k - 1] < threshold <= p[k]
    return round(float(scores[k - 1]), measure.decimals), round(float(scores[k]), measure.decimals)


def test_a_client_becomes_at_risk_when_two_in_three_like_them_end_without_reliable_improvement(con, registry):
    ors = registry["ORS"]
    under, at = crossing(ors, 18.0, 4, AlertConfig().at_risk_probability)
    put(con, series("UNDER", "ORS", [18.0, 18.5, 19.0, under]) + srs("UNDER", [38] * 4))
    put(con, series("AT", "ORS", [18.0, 18.5, 19.0, at]) + srs("AT", [38] * 4))
    frame = overview(con, registry)
    ok, risky = row(frame, "UNDER"), row(frame, "AT")
    assert ok["status"] == "on_track" and "at_risk" not in rules(ok)
    assert risky["status"] == "at_risk"
    alert = next(a for a in risky["alerts"] if a["rule"] == "at_risk")
    assert (alert["severity"], alert["session"]) == ("medium", 4)
    p = alert["values"]["p_poor"]
    assert 2 / 3 <= p < 0.8 and alert["values"]["model"] == "default"
    band = band_at(ors, 18.0, 4)
    change = at - 18.0
    assert alert["message"] == (
        f"ORS {fmt(at)} at session 4 (intake 18, {'+' if round(change, 1) > 0 else ''}{fmt(change)}): "
        f"Caseload's default model puts the chance of ending without reliable improvement (5 points) at "
        f"{round(100 * p)}%; at risk from 67%. The middle half of similar clients were at "
        f"{fmt(band.p25)}–{fmt(band.p75)} by this session."
    )


def test_a_client_is_off_track_when_four_in_five_like_them_end_without_reliable_improvement(con, registry):
    under, at = crossing(registry["ORS"], 22.0, 3, AlertConfig().off_track_probability)
    put(con, series("U80", "ORS", [22.0, 21.0, under]) + srs("U80", [38] * 3))
    put(con, series("A80", "ORS", [22.0, 21.0, at]) + srs("A80", [38] * 3))
    frame = overview(con, registry)
    assert row(frame, "U80")["status"] == "at_risk"
    off = row(frame, "A80")
    assert off["status"] == "off_track"
    alert = next(a for a in off["alerts"] if a["rule"] == "off_track")
    assert alert["severity"] == "high" and alert["values"]["p_poor"] >= 0.8
    assert "; off track from 80%." in alert["message"]
    assert "at_risk" not in rules(off)  # one alert, the worse one


def test_the_thresholds_are_configurable(con, registry):
    under, _ = crossing(registry["ORS"], 18.0, 4, 2 / 3)
    put(con, series("CFG", "ORS", [18.0, 18.5, 19.0, under]) + srs("CFG", [38] * 4))
    assert row(overview(con, registry), "CFG")["status"] == "on_track"
    stricter = AlertConfig(at_risk_probability=0.5)
    assert row(overview(con, registry, alert_config=stricter), "CFG")["status"] == "at_risk"


def test_for_a_measure_where_higher_is_worse_a_higher_score_is_at_risk(con, registry):
    phq = registry["PHQ9"]
    under, at = crossing(phq, 16.0, 4, AlertConfig().at_risk_probability)
    assert at > under  # worse = higher
    put(con, series("P-OK", "PHQ9", [16, 15, 15, under]))
    put(con, series("P-RISK", "PHQ9", [16, 15, 15, at]))
    frame = overview(con, registry)
    assert row(frame, "P-OK", "PHQ9")["status"] == "on_track"
    assert row(frame, "P-RISK", "PHQ9")["status"] in ("at_risk", "off_track")


def test_calibrated_odds_count_the_similar_clients_who_ended_poorly(con, registry):
    ors = registry["ORS"]
    # 40 past episodes that started at 18 and stood at 19 at session 4: 30 ended without reliable improvement.
    history = pd.DataFrame(
        [(f"h{i}", 18.0, t, 1.0, i >= 30) for i in range(40) for t in (2, 3, 4)],
        columns=["episode_key", "intake", "session", "improvement", "improved"],
    )
    cal = calibrate(ors, history, "adult")
    put(con, series("CAL", "ORS", [18.0, 18.5, 19.0, 19.0]) + srs("CAL", [38] * 4))
    frame = caseload_overview(con, registry, today=TODAY, calibrations={("ORS", "adult"): cal})
    r = row(frame, "CAL")
    assert r["status"] == "at_risk"
    alert = next(a for a in r["alerts"] if a["rule"] == "at_risk")
    assert alert["values"]["model"] == "calibrated"
    assert (alert["values"]["n"], alert["values"]["poor"], alert["values"]["p_poor"]) == (40, 30, 0.75)
    assert (
        "ORS 19 at session 4 (intake 18, +1): 30 of 40 clients in this caseload with a similar intake and a "
        "similar change by session 4 (each within 1 point) ended without reliable improvement (75%); at risk "
        "from 67%." in alert["message"]
    )


def test_a_measure_without_a_reliable_change_threshold_falls_back_on_the_band(con, registry):
    plain = dataclasses.replace(registry["ORS"], reliable_change=None, reliability=None, sd=None)
    reg = {**registry, "ORS": plain}
    band = band_at(plain, 18.0, 4)
    put(con, series("EXACT", "ORS", [18.0, 18.5, 19.0, band.p25]) + srs("EXACT", [38, 38, 38, 38]))
    put(con, series("BELOW", "ORS", [18.0, 18.5, 19.0, round(band.p25 - 0.1, 1)]) + srs("BELOW", [38] * 4))
    frame = overview(con, reg)
    assert row(frame, "EXACT")["status"] == "on_track"
    below = row(frame, "BELOW")
    assert below["status"] == "at_risk"
    alert = next(a for a in below["alerts"] if a["rule"] == "at_risk")
    assert alert["message"] == (
        f"ORS {fmt(band.p25 - 0.1)} at session 4 is below the range 75% of similar clients had reached "
        f"({fmt(band.p25)}–{fmt(band.p75)}; expected band from Caseload's default model, intake 18)."
    )


def test_a_single_rating_is_not_enough_data_and_has_no_band_alert(con, registry):
    put(con, series("ONE", "ORS", [5.0]) + srs("ONE", [39]))
    r = row(overview(con, registry), "ONE")
    assert (r["status"], r["change_category"]) == ("not_enough_data", "not_enough_data")
    assert not {"at_risk", "off_track", "reliable_deterioration"} & set(rules(r))


# --- reliable deterioration and no reliable change --------------------------------------------------------


def test_a_fall_of_exactly_the_reliable_change_is_reliable_deterioration(con, registry):
    put(con, series("FALL5", "ORS", [30.0, 28.0, 25.0]) + srs("FALL5", [38] * 3))  # 5 points: ORS uses ">= 5"
    put(con, series("FALL49", "ORS", [30.0, 28.0, 25.1]) + srs("FALL49", [38] * 3))
    frame = overview(con, registry)
    fall = row(frame, "FALL5")
    assert fall["status"] == "off_track" and fall["change_category"] == "deteriorated"
    alert = next(a for a in fall["alerts"] if a["rule"] == "reliable_deterioration")
    assert alert["message"].startswith("ORS fell from 30 at intake to 25 at session 3: 5 points worse")
    assert "reliable_deterioration" not in rules(row(frame, "FALL49"))


def test_a_change_of_exactly_five_ors_points_is_reliable_whatever_the_float_arithmetic(registry):
    ors = registry["ORS"]
    assert 8.2 - 3.2 < 5  # binary floating point
    assert classify_change(ors, 3.2, 8.2).reliable_improvement
    assert (
        change_categories(ors, np.array([3.2]), np.array([8.2]), np.array([25.0]))["change_category"][0]
        == "improved"
    )


def test_a_threshold_from_reliability_and_sd_must_be_strictly_exceeded(registry):
    from dataclasses import replace

    ham = replace(registry["PHQ9"], code="HAM", reliable_change=None, reliability=0.8, sd=5.0)
    threshold, strict = ham.reliable_change_threshold()
    assert strict
    cats = change_categories(
        ham, np.array([20.0, 20.0]), np.array([20 + threshold, 20 + threshold + 0.01]), np.array([9.5, 9.5])
    )
    assert list(cats["reliable_deterioration"]) == [False, True]


def test_no_reliable_change_fires_from_the_configured_session_on(con, registry):
    put(con, series("FLAT3", "ORS", [20.0, 21.0, 22.0]) + srs("FLAT3", [38] * 3))
    put(con, series("FLAT4", "ORS", [20.0, 21.0, 22.0, 24.9]) + srs("FLAT4", [38] * 4))
    put(con, series("UP4", "ORS", [20.0, 21.0, 22.0, 25.0]) + srs("UP4", [38] * 4))  # exactly 5: reliable
    frame = overview(con, registry)
    assert "no_reliable_change" not in rules(row(frame, "FLAT3"))
    flat = next(a for a in row(frame, "FLAT4")["alerts"] if a["rule"] == "no_reliable_change")
    assert flat["message"].startswith("ORS has moved +4.9 points since intake (20 → 24.9) by session 4")
    assert "no_reliable_change" not in rules(row(frame, "UP4"))
    later = caseload_overview(
        con, registry, today=TODAY, trajectory="default", alert_config=AlertConfig(no_change_session=5)
    )
    assert "no_reliable_change" not in rules(row(later, "FLAT4"))


def test_the_session_count_starts_at_the_measures_intake_not_the_export_numbering(con, registry):
    put(
        con,
        series("LATE", "ORS", [20.0, 21.0, 22.0, 22.5], first_number=11)
        + srs("LATE", [38] * 4, first_number=11),
    )
    r = row(overview(con, registry), "LATE")
    assert (r["first_session"], r["latest_session"], r["t"]) == (1, 4, 4)
    assert "no_reliable_change" in rules(r)


# --- sudden loss --------------------------------------------------------------------------------------------


def test_a_sudden_loss_fires_with_the_sessions_where_it_happened(con, registry):
    scores = [20.0, 26.0, 27.0, 27.0, 19.0, 18.5, 18.0]
    put(con, series("LOSS", "ORS", scores) + srs("LOSS", [38] * len(scores)))
    found = sudden_losses(scores, 5.0, higher_is_better=True)
    assert len(found) == 1
    r = row(overview(con, registry), "LOSS")
    loss = next(a for a in r["alerts"] if a["rule"] == "sudden_loss")
    assert loss["session"] == found[0].pregain + 2
    assert loss["message"].startswith(
        "ORS went from 27 at session 4 to 19 at session 5: a sudden loss of 8 points"
    )


def test_a_drop_just_under_the_reliable_change_is_not_a_sudden_loss(con, registry):
    scores = [20.0, 26.0, 27.0, 27.0, 22.1, 21.5, 21.0]  # 4.9 points
    put(con, series("NEAR", "ORS", scores) + srs("NEAR", [38] * len(scores)))
    assert sudden_losses(scores, 5.0, higher_is_better=True) == []
    assert "sudden_loss" not in rules(row(overview(con, registry), "NEAR"))


def test_the_engine_finds_every_sudden_loss_gains_finds(con, registry):
    from caseload.episodes import episode_ratings
    from caseload.sample import SampleConfig, simulate_caseload, store_rows

    sim = simulate_caseload(250, 21, today=TODAY, config=SampleConfig(sessions_mean=12.0))
    rows = store_rows(sim.ratings, registry, 1)
    put(con, rows.drop(columns=["total_source", "import_id", "source_row"]).to_dict("records"))
    frame = caseload_overview(con, registry, today=TODAY, trajectory="default")
    by_engine = {
        (r.client_id, r.episode, r.measure, a["session"])
        for r in frame.itertuples()
        for a in r.alerts
        if a["rule"] == "sudden_loss"
    }
    expected = set()
    rated = episode_ratings(con)
    for (client, episode, code), g in rated[rated.rater == "self"].groupby(
        ["client_id", "episode", "measure"]
    ):
        m = registry[code]
        if m.kind != "outcome":
            continue
        sessions = g["episode_session"].tolist()
        positional = [None] * (max(sessions) - min(sessions) + 1)
        for s_, v in zip(sessions, g["total"], strict=True):
            positional[s_ - min(sessions)] = v
        for loss in sudden_losses(
            positional, m.reliable_change_threshold()[0], higher_is_better=m.higher_is_better
        ):
            expected.add((client, int(episode), code, min(sessions) + loss.pregain + 1))
    assert len(expected) >= 3, "the sample should hold some sudden losses"
    assert by_engine == expected


# --- alliance ---------------------------------------------------------------------------------------------


def test_an_srs_of_36_is_ok_and_35_9_is_below_the_cutoff(con, registry):
    put(con, series("S36", "ORS", [20, 22]) + srs("S36", [36.0, 36.0]))
    put(con, series("S359", "ORS", [20, 22]) + srs("S359", [36.0, 35.9]))
    frame = overview(con, registry)
    assert row(frame, "S36")["alliance_status"] == "ok"
    low = row(frame, "S359")
    assert low["alliance_status"] == "concern"
    alert = next(a for a in low["alerts"] if a["rule"] == "alliance_below_cutoff")
    assert alert["message"] == "SRS 35.9 at session 2 is below the alliance cutoff of 36."


def test_a_drop_of_exactly_one_point_is_an_alliance_drop_and_0_9_is_not(con, registry):
    put(con, series("D10", "ORS", [20, 22]) + srs("D10", [38.3, 37.3]))
    put(con, series("D09", "ORS", [20, 22]) + srs("D09", [38.3, 37.4]))
    frame = overview(con, registry)
    drop = row(frame, "D10")
    assert drop["alliance_status"] == "concern"
    alert = next(a for a in drop["alerts"] if a["rule"] == "alliance_drop")
    assert alert["message"] == "SRS fell 1 points from the previous rating (38.3 → 37.3) at session 2."
    assert row(frame, "D09")["alliance_status"] == "ok"


def test_an_alliance_item_below_9_is_flagged_and_9_is_not(con, registry):
    rows = series("ITEM", "ORS", [20, 22])
    rows += [
        {
            "client_id": "ITEM",
            "measure": "SRS",
            "session_number": 1,
            "session_date": TODAY - timedelta(days=7),
            "total": 39.0,
            "items": [9.0, 10.0, 10.0, 10.0],
        },
        {
            "client_id": "ITEM",
            "measure": "SRS",
            "session_number": 2,
            "session_date": TODAY,
            "total": 38.9,
            "items": [9.0, 8.9, 10.0, 10.0],
        },
    ]
    put(con, rows)
    r = row(overview(con, registry), "ITEM")
    alert = next(a for a in r["alerts"] if a["rule"] == "low_alliance_item")
    assert alert["values"]["items"] == {"Goals and topics": 8.9}
    assert "Relationship" not in alert["message"]
    assert alert["severity"] == "low"
    assert r["alliance_status"] == "ok"  # a single low item is worth a question, not a concern


def test_an_episode_without_alliance_ratings_is_not_rated(con, registry):
    put(con, series("NOSRS", "PHQ9", [15, 14]))
    r = row(overview(con, registry), "NOSRS", "PHQ9")
    assert r["alliance_status"] == "not_rated"
    assert "missing_alliance" not in rules(r)  # a PHQ-9-only clinic does not use the SRS


def test_an_ors_session_without_an_srs_is_flagged_as_missing_alliance(con, registry):
    put(con, series("MISS", "ORS", [20, 21, 22]) + srs("MISS", [38, 38, None]))
    put(con, series("NONE", "ORS", [20, 21]))
    frame = overview(con, registry)
    miss = next(a for a in row(frame, "MISS")["alerts"] if a["rule"] == "missing_alliance")
    assert miss["message"] == "No SRS rating at the latest session (session 3)."
    assert "missing_alliance" in rules(row(frame, "NONE"))


# --- risk ---------------------------------------------------------------------------------------------------


def phq(client, item9_values, session_start=1):
    rows = []
    for k, v in enumerate(item9_values):
        items = [2, 2, 2, 2, 1, 1, 1, 1, v]
        rows.append(
            {
                "client_id": client,
                "measure": "PHQ9",
                "session_number": session_start + k,
                "session_date": TODAY - timedelta(days=7 * (len(item9_values) - 1 - k)),
                "total": sum(items),
                "items": items,
            }
        )
    return rows


def test_phq9_item_9_above_zero_is_a_critical_alert_that_comes_first(con, registry):
    put(con, phq("RISK", [0, 1, 0]) + series("RISK", "ORS", [10, 5, 4]) + srs("RISK", [30, 28, 27]))
    put(con, phq("SAFE", [0, 0, 0]))
    frame = overview(con, registry)
    for measure in ("ORS", "PHQ9"):
        r = row(frame, "RISK", measure)
        assert r["alerts"][0]["rule"] == "risk_item"
        assert r["top_severity"] == "critical"
        assert r["top_alert"] == (
            "PHQ9 risk item 'Thoughts of self-harm' scored 1 at session 2: follow up on risk before anything else."
        )
    assert "risk_item" not in rules(row(frame, "SAFE", "PHQ9"))


def test_the_core10_risk_item_fires_too(con, registry):
    items = [2, 2, 2, 2, 2, 1, 2, 2, 2, 2]  # q06 = 1
    put(
        con,
        [
            {
                "client_id": "CORE",
                "measure": "CORE10",
                "session_number": 1,
                "session_date": TODAY,
                "total": sum(items),
                "items": items,
            }
        ],
    )
    r = row(overview(con, registry), "CORE", "CORE10")
    assert r["alerts"][0]["rule"] == "risk_item"
    assert "'Item 6 (risk)' scored 1" in r["alerts"][0]["message"]


# --- data quality -------------------------------------------------------------------------------------------


def test_a_gap_of_35_days_is_fine_and_36_is_a_long_gap(con, registry):
    put(con, series("G35", "ORS", [20, 21], every=35) + srs("G35", [38, 38], every=35))
    put(con, series("G36", "ORS", [20, 21], every=36) + srs("G36", [38, 38], every=36))
    frame = overview(con, registry)
    assert "long_gap" not in rules(row(frame, "G35"))
    gap = next(a for a in row(frame, "G36")["alerts"] if a["rule"] == "long_gap")
    assert gap["message"].startswith("36 days passed between ORS ratings before session 2")
    assert gap["severity"] == "info"


def test_an_intake_at_the_cutoff_is_on_the_non_clinical_side_and_flagged(con, registry):
    put(con, series("AT25", "ORS", [25.0, 25.0]) + srs("AT25", [38, 38]))
    put(con, series("UNDER25", "ORS", [24.9, 25.0]) + srs("UNDER25", [38, 38]))
    put(con, series("TOP", "ORS", [36.0, 36.0]) + srs("TOP", [38, 38]))
    put(con, series("TEEN", "ORS", [27.0, 27.0], age_group="adolescent") + srs("TEEN", [38, 38]))
    frame = overview(con, registry)
    assert next(a for a in row(frame, "AT25")["alerts"] if a["rule"] == "suspicious_intake")[
        "message"
    ].startswith("ORS intake 25 is above the clinical cutoff of 25 for adults")
    assert "suspicious_intake" not in rules(row(frame, "UNDER25"))
    top = next(a for a in row(frame, "TOP")["alerts"] if a["rule"] == "suspicious_intake")
    assert "near the top of the scale (40)" in top["message"]
    assert "suspicious_intake" not in rules(row(frame, "TEEN"))  # 27 is clinical for adolescents (cutoff 28)


# --- shared behaviour ----------------------------------------------------------------------------------------


def test_alerts_are_sorted_most_severe_first():
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    assert [
        RULES[r].severity for r in ("risk_item", "off_track", "at_risk", "low_alliance_item", "long_gap")
    ] == ["critical", "high", "medium", "low", "info"]
    assert sorted(order, key=order.get)[0] == "critical"


def test_every_rule_names_its_source():
    for rule in RULES.values():
        assert rule.source and rule.checks and rule.severity in ("critical", "high", "medium", "low", "info")


def test_the_vectorised_category_matches_classify_change():
    registry = load_measures()
    rng = np.random.default_rng(3)
    for code in ("ORS", "PHQ9", "GAD7", "CORE10"):
        m = registry[code]
        first = np.round(rng.uniform(m.min, m.max, 400), m.decimals)
        latest = np.round(first + rng.normal(0, 6, 400), m.decimals).clip(m.min, m.max)
        cut = np.full(400, m.cutoff)
        cats = change_categories(m, first, latest, cut)["change_category"].tolist()
        assert cats == [classify_change(m, a, b).category for a, b in zip(first, latest, strict=True)]


def test_numbers_are_written_the_same_way_one_by_one_and_in_bulk():
    values = [18.0, 18.25, 0.04, -0.04, 7.5, float("nan"), 33.333]
    assert num(values, 1).tolist() == [fmt(v, 1) for v in values]
    assert num(values, 0).tolist() == [fmt(v, 0) for v in values]


def test_band_percentiles_in_the_config_must_exist():
    with pytest.raises(ValueError):
        AlertConfig(at_risk_percentile=20)


@pytest.mark.parametrize("at_risk, off_track", [(0.0, 0.8), (0.9, 0.8), (0.5, 1.2)])
def test_the_probability_thresholds_must_be_ordered_chances(at_risk, off_track):
    with pytest.raises(ValueError):
        AlertConfig(at_risk_probability=at_risk, off_track_probability=off_track)
