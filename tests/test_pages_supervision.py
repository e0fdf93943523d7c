"""The Supervision page: per-clinician figures with the minimum-n rule, clients to discuss, the Excel export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _stores import odd_store, sample_store
from streamlit.testing.v1 import AppTest

from caseload.engine import caseload_overview
from caseload.ingest import import_file
from caseload.measures import load_measures
from caseload.store import connect
from caseload.supervision import (
    CLOSED_TABLE_COLUMNS,
    OUTCOME_TABLE_COLUMNS,
    TOO_FEW,
    clients_to_discuss,
    clinician_summary,
    summary_table,
)

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return sample_store(tmp_path_factory.mktemp("sample") / "sample.duckdb")


@pytest.fixture(scope="module")
def expected(sample_db) -> pd.DataFrame:
    con = connect(sample_db)
    try:
        return caseload_overview(con, load_measures())
    finally:
        con.close()


def _open(db: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/supervision.py")
    return at.run()


def test_the_clinician_table_shows_the_figures_supervision_computes(sample_db, expected, monkeypatch):
    at = _open(sample_db, monkeypatch)
    assert not at.exception
    assert at.selectbox(key="supervision_measure").value == expected["measure"].value_counts().index[0]
    shown, closed = at.dataframe[0].value, at.dataframe[1].value
    want = summary_table(clinician_summary(expected, load_measures()["ORS"], min_n=10))
    assert set(OUTCOME_TABLE_COLUMNS) | set(CLOSED_TABLE_COLUMNS) == set(want.columns)  # nothing left out
    pd.testing.assert_frame_equal(
        shown.reset_index(drop=True), want[OUTCOME_TABLE_COLUMNS], check_dtype=False
    )
    pd.testing.assert_frame_equal(
        closed.reset_index(drop=True), want[CLOSED_TABLE_COLUMNS], check_dtype=False
    )
    assert shown["Clinician"].iloc[-1] == closed["Clinician"].iloc[-1] == "Whole team"
    assert "Clinicians on ORS" in [h.value for h in at.subheader]


def test_another_measure_gives_that_measures_figures(sample_db, expected, monkeypatch):
    at = _open(sample_db, monkeypatch)
    at.selectbox(key="supervision_measure").select("PHQ9").run()
    assert not at.exception
    shown = at.dataframe[0].value
    want = summary_table(clinician_summary(expected, load_measures()["PHQ9"], min_n=10))
    assert list(shown["Episodes"]) == list(want["Episodes"])
    assert "Clinicians on PHQ9" in [h.value for h in at.subheader]


def test_raising_the_minimum_turns_small_groups_into_too_few_to_compare(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch)
    at.number_input(key="min_n").set_value(200).run()
    shown = at.dataframe[0].value
    assert set(shown["% reliably improved"]) == {TOO_FEW}
    assert set(shown["Effect size (95% CI)"]) == {TOO_FEW}
    assert any(f"below the minimum of 200 are shown as “{TOO_FEW}”" in c.value for c in at.caption)


def test_clients_to_discuss_are_the_flagged_active_episodes(sample_db, expected, monkeypatch):
    at = _open(sample_db, monkeypatch)
    discuss = at.dataframe[2].value
    want = clients_to_discuss(expected)
    assert list(discuss["Client"]) == list(want["client_id"])
    assert f"{want['client_id'].nunique():,} active clients" in " ".join(c.value for c in at.caption)


def test_a_client_to_discuss_opens_from_the_list(sample_db, expected, monkeypatch):
    at = _open(sample_db, monkeypatch)
    first = at.dataframe[2].value.iloc[0]["Client"]
    at.session_state["discuss_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.title[0].value == "Client"
    assert at.query_params["client"] in (first, [first])


def test_the_excel_export_is_offered(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch)
    button = at.get("download_button")[0]
    assert button.proto.label == "Download Excel workbook"


def test_a_small_team_is_too_few_to_compare_everywhere(tmp_path, monkeypatch):
    at = _open(odd_store(tmp_path / "odd.duckdb"), monkeypatch)
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["% reliably improved"]) == {TOO_FEW}


def test_a_store_with_only_alliance_ratings_explains_there_is_nothing_to_compare(tmp_path, monkeypatch):
    db = tmp_path / "srs.duckdb"
    con = connect(db)
    report = import_file(
        con,
        b"client_id,clinician_id,session_date,session_number,measure,total\nA1,T1,2026-01-05,1,SRS,36.5\n",
        file_name="srs.csv",
        registry=load_measures(),
    )
    assert report.rows_imported == 1
    con.close()
    at = _open(db, monkeypatch)
    assert not at.exception
    assert "none on an outcome measure" in at.info[0].value
    assert not at.dataframe
