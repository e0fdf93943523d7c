"""`caseload overview` and `caseload client`: the JSON contract of issues 4 and 8, and readable text."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from _engine_store import TODAY, put, series

from caseload.cli import main
from caseload.store import connect

OVERVIEW_KEYS = {
    "client_id",
    "clinician_id",
    "episode",
    "episode_active",
    "episode_ending",
    "episode_closed_by",
    "age_group",
    "age_group_source",
    "population",
    "measure",
    "sessions",
    "first_score",
    "latest_score",
    "change",
    "change_category",
    "status",
    "alliance_status",
    "alerts",
}


@pytest.fixture
def store_file(db_path):
    con = connect(db_path)
    put(con, series("C1", "ORS", [18, 16, 14, 13]) + series("C1", "SRS", [38, 37, 35, 33]))
    put(con, series("C1", "ORS", [22, 29], end=TODAY - timedelta(days=400), first_number=10))
    put(con, series("C2", "ORS", [20, 26], clinician_id="T02", age_group="adolescent"))
    con.close()
    return db_path


def run(capsys, *args):
    code = main([*args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_overview_json_has_one_object_per_client_episode_and_measure(store_file, capsys):
    code, out, _ = run(capsys, "overview", "--json", "--db", str(store_file), "--today", TODAY.isoformat())
    assert code == 0
    data = json.loads(out)
    assert [(d["client_id"], d["episode"], d["measure"]) for d in data] == [
        ("C1", 1, "ORS"),
        ("C1", 2, "ORS"),
        ("C2", 1, "ORS"),
    ]
    for d in data:
        assert OVERVIEW_KEYS <= set(d)
        for a in d["alerts"]:
            assert {"rule", "severity", "message", "session"} <= set(a)
    c1 = data[1]
    assert (c1["sessions"], c1["first_score"], c1["latest_score"], c1["change"]) == (4, 18, 13, -5)
    assert (c1["change_category"], c1["status"], c1["alliance_status"]) == (
        "deteriorated",
        "off_track",
        "concern",
    )
    assert c1["population"] == "adult" and data[2]["population"] == "adolescent"
    assert data[0]["episode_active"] is False and c1["episode_active"] is True
    assert c1["first_date"] == (TODAY - timedelta(days=21)).isoformat()


def test_overview_filters_by_clinician_and_active_episodes(store_file, capsys):
    _, out, _ = run(
        capsys, "overview", "--json", "--db", str(store_file), "--today", TODAY.isoformat(), "--active"
    )
    assert {(d["client_id"], d["episode"]) for d in json.loads(out)} == {("C1", 2), ("C2", 1)}
    _, out, _ = run(capsys, "overview", "--json", "--db", str(store_file), "--clinician", "T02")
    assert {d["client_id"] for d in json.loads(out)} == {"C2"}


def test_overview_text_and_csv_show_the_same_rows(store_file, capsys):
    _, text, _ = run(capsys, "overview", "--db", str(store_file), "--today", TODAY.isoformat())
    assert "deteriorated" in text and "off_track" in text
    _, csv, _ = run(capsys, "overview", "--csv", "--db", str(store_file), "--today", TODAY.isoformat())
    lines = csv.strip().splitlines()
    assert lines[0].startswith("client_id,clinician_id,episode,")
    assert len(lines) == 4


def test_client_json_carries_sessions_band_alerts_categories_episode_and_population(store_file, capsys):
    code, out, _ = run(
        capsys, "client", "C1", "--json", "--db", str(store_file), "--today", TODAY.isoformat()
    )
    assert code == 0
    detail = json.loads(out)
    assert [e["episode"] for e in detail["episodes"]] == [1, 2]
    ep = detail["episodes"][1]
    assert ep["population"] == ["adult"]
    assert ep["change_category"] == {"ORS": "deteriorated"}
    ors = next(m for m in ep["measures"] if m["measure"] == "ORS")
    assert [s["total"] for s in ors["sessions"]] == [18, 16, 14, 13]
    assert ors["expected"]["model"] == "default"
    assert [b["session"] for b in ors["expected"]["bands"]][:4] == [1, 2, 3, 4]
    assert {"reliable_deterioration", "off_track"} <= {a["rule"] for a in ep["alerts"]}
    assert detail["episodes"][0]["change_category"] == {"ORS": "recovered"}


def test_client_text_names_the_model_behind_the_band(store_file, capsys):
    _, out, _ = run(capsys, "client", "C1", "--db", str(store_file), "--today", TODAY.isoformat())
    assert "Episode 2" in out and "default model" in out and "[high]" in out


def test_an_unknown_client_is_a_one_line_error(store_file, capsys):
    code, out, err = run(capsys, "client", "NOPE", "--json", "--db", str(store_file))
    assert code == 2 and out == ""
    assert err.strip() == "caseload: No client 'NOPE' in the store."


def test_a_bad_today_is_a_one_line_error(store_file, capsys):
    code, _, err = run(capsys, "overview", "--db", str(store_file), "--today", "22/11/2026")
    assert code == 2 and "--today must be a date" in err


def test_settings_show_and_change_the_episode_rules_which_the_overview_then_follows(store_file, capsys):
    code, out, _ = run(capsys, "settings", "--json", "--db", str(store_file))
    assert code == 0
    assert json.loads(out) == {
        "episode_gap_days": 90,
        "episode_close_after_days": 60,
        "default_age_group": "adult",
    }
    # C1's two courses lie about 380 days apart: with a 500-day gap they are one episode.
    code, out, _ = run(capsys, "settings", "--gap-days", "500", "--db", str(store_file))
    assert code == 0 and "more than 500 days" in out
    code, out, _ = run(capsys, "overview", "--json", "--db", str(store_file), "--today", TODAY.isoformat())
    assert [(d["client_id"], d["episode"]) for d in json.loads(out)] == [("C1", 1), ("C2", 1)]
    code, _, err = run(capsys, "settings", "--default-age-group", "senior", "--db", str(store_file))
    assert code != 0 and "adult, adolescent, child" in err


def test_dates_that_are_missing_print_as_null_not_nat(store_file, capsys):
    code, out, _ = run(
        capsys, "client", "C2", "--json", "--db", str(store_file), "--today", TODAY.isoformat()
    )
    assert code == 0 and "NaT" not in out
    data = json.loads(out)
    assert data["episodes"][0]["ended_on"] is None  # no ending recorded
    code, out, _ = run(capsys, "overview", "--json", "--db", str(store_file), "--today", TODAY.isoformat())
    assert "NaT" not in out and all(d["episode_ended_on"] is None for d in json.loads(out))
