"""With sign-in on, the dashboard pages show a clinician only their own clients, a supervisor their team."""

from __future__ import annotations

from pathlib import Path

import pytest
from _stores import sample_store
from _team import PASSWORD, fast_hashing  # noqa: F401 - fixture
from streamlit.testing.v1 import AppTest

from caseload import auth
from caseload.store import connect

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TOKEN_KEY = "caseload_session_token"


@pytest.fixture
def team_db(tmp_path, fast_hashing):  # noqa: F811 - the fixture above
    """The sample store with an admin, a clinician (T01) and a supervisor of T01 and T02."""
    db = sample_store(tmp_path / "team.duckdb")
    con = connect(db)
    auth.add_user(con, "admin", PASSWORD, "admin")
    auth.add_user(con, "ann", PASSWORD, "clinician", clinician_id="T01")
    auth.add_user(con, "sue", PASSWORD, "supervisor", supervises=["T01", "T02"])
    con.close()
    return db


def _signed_in(db: Path, username: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    con = connect(db)
    token = auth.start_session(con, auth.get_user(con, username))
    con.close()
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[TOKEN_KEY] = token
    return at


def _clients_of(db: Path, clinician: str) -> set[str]:
    con = connect(db)
    try:
        rows = con.execute(
            "select distinct client_id from ratings where clinician_id = ?", [clinician]
        ).fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


def test_without_a_session_only_the_sign_in_form_is_shown(team_db, monkeypatch):
    monkeypatch.setenv("CASELOAD_DB", str(team_db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to Caseload"
    assert len(at.dataframe) == 0


def test_a_clinician_sees_only_their_own_caseload(team_db, monkeypatch):
    at = _signed_in(team_db, "ann", monkeypatch).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["Clinician"]) == {"T01"}
    assert at.selectbox(key="clinician").options == ["All clinicians", "T01"]


def test_a_clinician_cannot_open_another_clinicians_client(team_db, monkeypatch):
    other = sorted(_clients_of(team_db, "T02") - _clients_of(team_db, "T01"))[0]
    at = _signed_in(team_db, "ann", monkeypatch)
    at.switch_page("views/client.py")
    at.query_params["client"] = other
    at.run()
    assert not at.exception
    assert f"no client “{other}”" in at.warning[0].value
    assert not at.get("vega_lite_chart")
    assert other not in at.selectbox(key="client").options


def test_a_supervisor_compares_only_the_clinicians_they_supervise(team_db, monkeypatch):
    at = _signed_in(team_db, "sue", monkeypatch)
    at.switch_page("views/supervision.py").run()
    assert not at.exception
    clinicians = set(at.dataframe[0].value["Clinician"]) - {"Whole team"}
    assert clinicians == {"T01", "T02"}


def test_viewing_a_client_is_recorded_in_the_audit_trail(team_db, monkeypatch):
    mine = sorted(_clients_of(team_db, "T01"))[0]
    at = _signed_in(team_db, "ann", monkeypatch)
    at.switch_page("views/client.py")
    at.query_params["client"] = mine
    at.run()
    assert not at.exception
    con = connect(team_db)
    try:
        rows = con.execute(
            "select username, action, client_id from audit_log where action = 'view_client'"
        ).fetchall()
    finally:
        con.close()
    assert ("ann", "view_client", mine) in rows
