"""The Caseload page with the sample caseload and with odd data: tiles, every filter, order, opening a client."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from _stores import odd_store, sample_store
from streamlit.testing.v1 import AppTest

from caseload.engine import caseload_overview
from caseload.labels import STATUS, status_label
from caseload.measures import load_measures
from caseload.store import connect
from caseload.views import caseload_tiles, most_urgent_first

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return sample_store(tmp_path_factory.mktemp("sample") / "sample.duckdb")


@pytest.fixture(scope="module")
def expected(sample_db) -> pd.DataFrame:
    """The engine's overview of the sample store: what the page must show."""
    con = connect(sample_db)
    try:
        return caseload_overview(con, load_measures())
    finally:
        con.close()


@pytest.fixture
def app(sample_db, monkeypatch):
    monkeypatch.setenv("CASELOAD_DB", str(sample_db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    return AppTest.from_file(APP, default_timeout=60)


def _table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def _tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_caseload_lists_every_client_and_measure_with_first_and_latest_score(app, expected):
    at = app.run()
    assert not at.exception
    table = _table(at)
    assert len(table) == len(expected)
    shown = table.set_index(["Client", "Episode", "Measure"]).sort_index()
    engine = expected.set_index(["client_id", "episode", "measure"]).sort_index()
    assert list(shown.index) == list(engine.index)
    assert shown["First score"].tolist() == engine["first_score"].tolist()
    assert shown["Latest score"].fillna(-1).tolist() == engine["latest_score"].fillna(-1).tolist()
    assert shown["Sessions"].tolist() == engine["sessions"].tolist()


def test_statuses_are_shown_with_symbol_and_word_most_urgent_first(app, expected):
    table = _table(app.run())
    assert set(table["Status"]) <= {s.label for s in STATUS.values()}
    ordered = most_urgent_first(expected)
    assert list(zip(table["Client"], table["Measure"], strict=True)) == list(
        zip(ordered["client_id"], ordered["measure"], strict=True)
    )
    assert table["Status"].iloc[0] == status_label(ordered["status"].iloc[0])


def test_tiles_match_the_engine(app, expected):
    tiles = caseload_tiles(expected)
    shown = _tiles(app.run())
    assert shown["Active clients"] == str(tiles.active_clients)
    assert shown["▼ Off track"] == str(tiles.off_track)
    assert shown["⚠ At risk"] == str(tiles.at_risk)
    assert shown["⚑ Alliance concerns"] == str(tiles.alliance_concerns)
    assert shown["Improved"] == f"{tiles.improved_share:.0%}"


def test_choosing_a_clinician_shows_only_their_clients_and_their_tiles(app, expected):
    clinician = sorted(expected["clinician_id"].unique())[1]
    at = app.run()
    at.selectbox(key="clinician").select(clinician).run()
    assert not at.exception
    table = _table(at)
    assert set(table["Clinician"]) == {clinician}
    assert len(table) == int((expected["clinician_id"] == clinician).sum())
    mine = caseload_tiles(expected[expected["clinician_id"] == clinician])
    assert _tiles(at)["Active clients"] == str(mine.active_clients)


def test_the_clinician_comes_from_the_url(app, expected):
    clinician = sorted(expected["clinician_id"].unique())[0]
    app.query_params["clinician"] = clinician
    at = app.run()
    assert set(_table(at)["Clinician"]) == {clinician}


def test_an_unknown_clinician_in_the_url_falls_back_to_everyone(app, expected):
    app.query_params["clinician"] = "NOBODY"
    at = app.run()
    assert not at.exception
    assert len(_table(at)) == len(expected)


@pytest.mark.parametrize("status", ["off_track", "at_risk", "on_track", "not_enough_data"])
def test_status_filter_keeps_only_that_status(app, expected, status):
    at = app.run()
    at.multiselect(key="status_filter").select(status).run()
    assert not at.exception
    n = int((expected["status"] == status).sum())
    if n == 0:
        assert "No client matches these filters" in at.info[0].value
    else:
        assert set(_table(at)["Status"]) == {status_label(status)}
        assert len(_table(at)) == n


def test_alliance_concern_filter_keeps_rows_with_an_alliance_concern(app, expected):
    at = app.run()
    at.multiselect(key="status_filter").select("alliance_concern").run()
    table = _table(at)
    assert len(table) == int((expected["alliance_status"] == "concern").sum())
    assert set(table["Alliance"]) == {"⚑ Alliance concern"}


def test_measure_filter(app, expected):
    at = app.run()
    at.multiselect(key="measure_filter").select("PHQ9").run()
    table = _table(at)
    assert set(table["Measure"]) == {"PHQ9"}
    assert len(table) == int((expected["measure"] == "PHQ9").sum())


def test_client_search_matches_part_of_the_code(app, expected):
    code = sorted(expected["client_id"].unique())[3]
    at = app.run()
    at.text_input(key="client_search").input(code[-3:].lower()).run()
    table = _table(at)
    assert code in set(table["Client"])
    assert all(code[-3:].lower() in c.lower() for c in table["Client"])


def test_seen_in_the_last_n_days(app, expected):
    at = app.run()
    at.number_input(key="active_days").set_value(14).run()
    table = _table(at)
    assert len(table) == int((expected["days_since_last"] <= 14).sum())
    assert table["Days since last"].max() <= 14


def test_date_range_keeps_clients_seen_in_it(app, expected):
    at = app.run()
    latest = pd.to_datetime(expected["latest_date"]).max().date()
    start = latest - timedelta(days=30)
    widget = next(w for w in at.date_input if w.key.startswith("date_range"))
    widget.set_value((start, latest)).run()
    table = _table(at)
    keep = pd.to_datetime(expected["latest_date"]).dt.date >= start
    assert len(table) == int(keep.sum())


def test_closed_episodes_can_be_hidden(app, expected):
    at = app.run()
    at.toggle(key="include_closed").set_value(False).run()
    assert len(_table(at)) == int(expected["episode_active"].sum())


def test_filters_that_match_nothing_say_so_instead_of_showing_an_empty_table(app):
    at = app.run()
    at.text_input(key="client_search").input("no-such-client").run()
    assert not at.exception
    assert "No client matches these filters" in at.info[0].value
    assert len(at.dataframe) == 0


def test_selecting_a_row_opens_that_client_with_a_shareable_url(app):
    at = app.run()
    first = _table(at).iloc[0]["Client"]
    at.session_state["caseload_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.title[0].value == "Client"
    assert at.query_params["client"] in (first, [first])


def test_the_sample_caseload_is_labelled_synthetic(app):
    at = app.run()
    assert any("synthetic sample caseload" in c.value for c in at.caption)


def test_odd_data_never_raises_and_lists_what_can_be_listed(monkeypatch, tmp_path):
    monkeypatch.setenv("CASELOAD_DB", str(odd_store(tmp_path / "odd.duckdb")))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = _table(at)
    assert {"C-ONE", "C-NOSRS", "C-NODATE", "C-TWOEP", "C-PHQ"} <= set(table["Client"])
    one = table[table["Client"] == "C-ONE"].iloc[0]
    assert one["Status"] == status_label("not_enough_data") and pd.isna(one["Latest score"])
    nosrs = table[table["Client"] == "C-NOSRS"].iloc[0]
    assert nosrs["Alliance"] == "– Alliance not rated" or "not rated" in nosrs["Alliance"]
    assert len(table[table["Client"] == "C-TWOEP"]) == 2  # one row per episode


def test_loading_the_sample_from_the_start_screen_fills_the_caseload(monkeypatch, tmp_path):
    monkeypatch.setenv("CASELOAD_DB", str(tmp_path / "new.duckdb"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="load_sample").click().run()
    assert not at.exception
    assert len(_table(at)) > 0
    assert any("synthetic sample caseload" in c.value for c in at.caption)
    assert int(_tiles(at)["Active clients"]) > 0


def test_an_ending_that_a_later_export_adds_shows_on_the_caseload_at_once(tmp_path, monkeypatch):
    """A later export that only adds an ending (no new rating) still changes what the page shows."""
    from datetime import date

    from caseload.ingest import import_file

    db = tmp_path / "store.duckdb"
    day = [(date.today() - timedelta(days=n)).isoformat() for n in (14, 7)]
    header = "client_id,clinician_id,session_date,session_number,measure,total,ending\n"
    first = header + f"C1,T1,{day[0]},1,ORS,18,\nC1,T1,{day[1]},2,ORS,24,\n"
    later = header + f"C1,T1,{day[0]},1,ORS,18,\nC1,T1,{day[1]},2,ORS,24,planned\n"
    registry = load_measures()
    con = connect(db)
    import_file(con, first.encode(), file_name="march.csv", registry=registry)
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert _tiles(at)["Active clients"] == "1"
    report = import_file(con, later.encode(), file_name="april.csv", registry=registry)
    assert (report.records_added, report.endings_added) == (0, 1)
    at.run()
    assert not at.exception
    assert _tiles(at)["Active clients"] == "0"
    con.close()
