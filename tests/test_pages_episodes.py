"""The Client page's episode panel: the list of episodes, recording how one ended, the client's own gap and
age group (issue 8). Each test writes to its own copy of the odd store."""

from __future__ import annotations

from pathlib import Path

import pytest
from _stores import odd_store
from streamlit.testing.v1 import AppTest

from caseload.store import connect

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def odd_db(tmp_path) -> Path:
    return odd_store(tmp_path / "odd.duckdb")


def _open(db: Path, monkeypatch, client: str) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/client.py")
    at.query_params["client"] = client
    return at.run()


def _texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.success])


def _episodes(at: AppTest):
    """The panel's episode table (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if "Ending" in d.value.columns)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_panel_lists_every_episode_of_the_client(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-TWOEP")
    assert not at.exception
    table = _episodes(at)
    assert table["Episode"].tolist() == ["Episode 1", "Episode 2"]
    assert table["State"].tolist()[0].startswith("closed")
    assert "more than 90 days without a rating" in _texts(at)


def test_recording_an_unplanned_ending_closes_the_episode_and_is_audited(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-NOSRS")
    assert "active" in _texts(at)
    at.radio(key="ending_choice_C-NOSRS_1").set_value("unplanned")
    _button(at, "Save ending").click().run()
    assert not at.exception
    assert "ended unplanned" in _texts(at)
    assert _episodes(at)["Ending"].tolist() == ["ended unplanned (recorded here)"]
    con = connect(odd_db)
    try:
        assert con.execute("select client_id, ending from episode_endings").fetchall() == [
            ("C-NOSRS", "unplanned")
        ]
        actions = [
            r[0] for r in con.execute("select action from audit_log where client_id = 'C-NOSRS'").fetchall()
        ]
        assert "record_ending" in actions
    finally:
        con.close()
    # Taking it back makes the episode active again.
    at.radio(key="ending_choice_C-NOSRS_1").set_value("not recorded")
    _button(at, "Save ending").click().run()
    assert _episodes(at)["State"].tolist() == ["active"]


def test_a_longer_gap_for_one_client_joins_its_two_episodes(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-TWOEP")
    assert at.selectbox(key="episode").value == "2"
    at.checkbox(key="own_gap_C-TWOEP").check()
    at.number_input(key="gap_days_C-TWOEP").set_value(500)
    _button(at, "Save settings").click().run()
    assert not at.exception
    assert len(_episodes(at)) == 1
    assert not [s for s in at.selectbox if s.key == "episode"]
    assert "more than 500 days without a rating" in _texts(at)


def test_an_age_group_set_for_the_client_changes_the_norms_used(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-NOSRS")
    assert "age group **adult** (default setting)" in _texts(at)
    at.selectbox(key="age_group_C-NOSRS").set_value("adolescent")
    _button(at, "Save settings").click().run()
    assert not at.exception
    assert "age group **adolescent** (client setting)" in _texts(at)


def test_an_episode_without_dates_says_its_ending_cannot_be_recorded(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-NODATE")
    assert not at.exception
    assert "has no dated rating, so its ending cannot be recorded" in _texts(at)
    assert not [b for b in at.button if b.label == "Save ending"]
