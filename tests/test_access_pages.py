"""No page, table, chart or download reaches a client the signed-in user may not see.

Every page the app offers is run as a clinician and as a supervisor, also with another clinician's client
typed into the URL (``?client=``) and another clinician typed into ``?clinician=``. Everything the server
sends for the page (every element's protobuf: text, tables as Arrow bytes, chart specs with their data,
widget options) and every file offered for download is searched for the codes of clients the user may
not see. The admin's run of the same pages finds them, so the search itself can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe

from caseload import auth
from caseload.measures import load_measures
from caseload.sample import load_sample
from caseload.store import connect

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TOKEN_KEY = "caseload_session_token"  # views/_auth.py
PAGES = sorted(p.name for p in (ROOT / "views").glob("*.py") if not p.name.startswith("_"))
ADMIN_ONLY = {"import_data.py", "audit.py"}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def practice(tmp_path_factory):
    """The synthetic sample (clinicians T01-T03) with an admin, clinician ann (T01), supervisor sue (T02)."""
    db = tmp_path_factory.mktemp("practice") / "practice.duckdb"
    hasher, auth._HASHER = auth._HASHER, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        con = connect(db)
        load_sample(con, load_measures())
        auth.add_user(con, "admin", PASSWORD, "admin")
        auth.add_user(con, "ann", PASSWORD, "clinician", clinician_id="T01")
        auth.add_user(con, "sue", PASSWORD, "supervisor", supervises=["T02"])
        rows = con.execute("select clinician_id, client_id from ratings group by all").fetchall()
        con.close()
    finally:
        auth._HASHER = hasher
    clients: dict[str, set[str]] = {}
    for code, client in rows:
        clients.setdefault(code, set()).add(client)
    assert set(clients) == {"T01", "T02", "T03"}
    return db, clients


@pytest.fixture
def downloads(monkeypatch):
    """Every file a page offers for download, as bytes."""
    captured: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, *args, **kwargs):
        if isinstance(path_or_data, bytes):
            captured.append(path_or_data)
        return original(self, path_or_data, *args, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return captured


def _session(db: Path, username: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    con = connect(db)
    token = auth.start_session(con, auth.get_user(con, username))
    con.close()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[TOKEN_KEY] = token
    return at


def _everything_sent(at: AppTest, downloads: list[bytes]) -> str:
    """All element protobufs of the page plus the downloads, as one searchable text."""
    parts = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        if isinstance(node, Dataframe):  # table rows can be served lazily, apart from the element
            parts.append(node.value.to_csv())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    parts += [d.decode("latin-1") for d in downloads]
    return "\n".join(parts)


def _found(text: str, codes: set[str]) -> set[str]:
    return {c for c in codes if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w])", text)}


def _open(at: AppTest, page: str, query: dict[str, str]) -> AppTest:
    at.run()  # the app's navigation for this user is built on the first run
    at.switch_page(f"views/{page}")
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


USERS = {"ann": {"T01"}, "sue": {"T02"}}


@pytest.mark.parametrize("username", sorted(USERS))
@pytest.mark.parametrize("page", [p for p in PAGES if p not in ADMIN_ONLY])
def test_no_page_reaches_a_client_the_user_may_not_see_even_by_url(
    practice, monkeypatch, downloads, username, page
):
    db, clients = practice
    mine = set().union(*(clients[c] for c in USERS[username]))
    forbidden = set().union(*clients.values()) - mine
    other_client = sorted(forbidden)[0]
    other_clinician = sorted(set(clients) - USERS[username])[0]
    for query in ({}, {"clinician": other_clinician}):
        downloads.clear()
        at = _open(_session(db, username, monkeypatch), page, query)
        assert not at.exception, (page, query, at.exception)
        assert not _found(_everything_sent(at, downloads), forbidden), (page, query)

    # Another clinician's client typed into the URL: the page may echo what was typed, but must show
    # exactly what it shows for a code that does not exist (no data, and no hint that the client exists).
    sent = {}
    for typed in (other_client, "ZZ-NO-SUCH-CLIENT"):
        downloads.clear()
        at = _open(_session(db, username, monkeypatch), page, {"client": typed})
        assert not at.exception, (page, typed, at.exception)
        text = _everything_sent(at, downloads).replace(typed, "<typed>")
        sent[typed] = re.sub(r"[0-9a-f]{32}", "<random id>", text)  # media/file ids differ per run
    assert not _found(sent[other_client], forbidden), page
    assert sent[other_client] == sent["ZZ-NO-SUCH-CLIENT"], page


@pytest.mark.parametrize("page", sorted(ADMIN_ONLY & set(PAGES)))
def test_import_and_audit_pages_are_not_reachable_for_clinicians(practice, monkeypatch, page):
    db, _ = practice
    at = _session(db, "ann", monkeypatch).run()
    with pytest.raises(ValueError):
        at.switch_page(f"views/{page}")


def test_the_search_finds_other_clinicians_clients_when_the_admin_looks(practice, monkeypatch, downloads):
    db, clients = practice
    at = _open(_session(db, "admin", monkeypatch), "caseload.py", {})
    assert not at.exception
    assert _found(_everything_sent(at, downloads), clients["T02"] | clients["T03"])
    at = _open(_session(db, "admin", monkeypatch), "client.py", {"client": sorted(clients["T03"])[0]})
    assert sorted(clients["T03"])[0] in _found(_everything_sent(at, downloads), clients["T03"])


def test_a_clinician_does_see_their_own_clients(practice, monkeypatch, downloads):
    db, clients = practice
    at = _open(_session(db, "ann", monkeypatch), "caseload.py", {})
    assert _found(_everything_sent(at, downloads), clients["T01"]) == clients["T01"]


def test_an_expired_or_forged_session_shows_only_the_sign_in_form(practice, monkeypatch, downloads):
    db, clients = practice
    monkeypatch.setenv("CASELOAD_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[TOKEN_KEY] = "forged-token"
    at.query_params["client"] = sorted(clients["T01"])[0]
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to Caseload"]
    assert not _found(_everything_sent(at, downloads), set().union(*clients.values()))


def test_the_sweep_covers_the_client_data_pages():
    assert {"caseload.py", "client.py", "supervision.py"} <= set(PAGES)  # a moved folder must not empty it
