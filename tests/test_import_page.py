"""The Import page in AppTest: real export bytes uploaded, preview, mapping, identifiers, report, undo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _import_page import import_page, map_by_hand, metrics, page_text, widget
from streamlit.testing.v1 import AppTest


@pytest.fixture
def page(monkeypatch, tmp_path):
    """The Import page of app.py on a fresh store file of its own."""
    db = tmp_path / "store.duckdb"
    return import_page(monkeypatch, db), db


def _upload(at: AppTest, path: Path, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload").upload(path.name, path.read_bytes(), mime).run()
    assert not at.exception, at.exception
    return at


def _frame_with(at: AppTest, column: str):
    """The first table on the page that has this column (tables carry no key in AppTest)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def _ratings_shown(at: AppTest) -> int:
    """Ratings in the store, read through the page's own cached connection (the file is locked by it)."""
    from views._shared import get_connection

    return get_connection().execute("select count(*) from ratings").fetchall()[0][0]


def test_an_uploaded_export_is_previewed_imported_and_listed(page, shared_data):
    at, db = page
    _upload(at, shared_data / "exports" / "caseload_export_2026-03.csv")
    assert "long: one row per client, session and measure" in page_text(at)
    preview = at.dataframe[0].value
    assert list(preview.columns[:3]) == ["client_id", "clinician_id", "session_date"]
    assert widget(at, "__client_id").value == "client_id"
    at.button(key="do_import").click().run()
    assert not at.exception
    assert metrics(at) == {"Rows read": "245", "Imported": "245", "Duplicate": "0", "Rejected": "0"}
    assert "245 = 245 + 0 + 0" in page_text(at)
    past = _frame_with(at, "Ratings added")
    assert list(past["File"]) == ["caseload_export_2026-03.csv"]
    assert list(past["Ratings added"]) == [245]
    assert _ratings_shown(at) == 245


def test_rejected_rows_are_listed_with_their_reason_and_downloadable(page, shared_data):
    at, _db = page
    _upload(at, shared_data / "exports" / "ors_manual_entry_with_errors.csv")
    at.button(key="do_import").click().run()
    assert metrics(at) == {"Rows read": "140", "Imported": "127", "Duplicate": "3", "Rejected": "10"}
    errors = _frame_with(at, "Message")
    assert len(errors) == 10
    row = errors.set_index("Row").loc[106]
    assert (row["Column"], row["Value"], row["Reason"]) == ("ORS Total", "31.5", "items_total_mismatch")
    assert "25.8" in row["Message"]
    assert at.get("download_button")[0].proto.label == "Download rejected rows (CSV)"


def test_a_file_with_identifiers_is_refused_until_the_user_drops_those_columns(
    page, shared_data, exports_manifest
):
    at, db = page
    _upload(at, shared_data / "exports" / "client_list_with_identifiers.csv")
    text = page_text(at)
    for column in ("Client Name", "Email", "DOB", "Notes"):
        assert f"**{column}**" in text
    assert at.button(key="do_import").disabled
    at.checkbox(key="drop_identifiers").check().run()
    at.button(key="do_import").click().run()
    assert not at.exception
    assert metrics(at)["Imported"] == "69"
    text = page_text(at)
    for forbidden in exports_manifest["client_list_with_identifiers.csv"]:
        assert forbidden not in text
    # done: the refusal no longer stands as an error, now or on the page's next run
    for _ in range(2):
        assert not any("refused" in str(e.value) for e in at.error)
        assert any("Imported without the identifier columns" in str(i.value) for i in at.info)
        at.run()


def test_every_sheet_of_a_workbook_with_a_title_row_is_read(page, shared_data):
    at, _db = page
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    _upload(at, shared_data / "exports" / "ors_srs_workbook.xlsx", mime)
    assert [t.label for t in at.tabs] == ["ORS", "SRS"]
    assert "Read me" in page_text(at)  # named as not imported
    at.button(key="do_import").click().run()
    assert metrics(at) == {"Rows read": "225", "Imported": "225", "Duplicate": "0", "Rejected": "0"}


def test_an_unrecognised_layout_is_mapped_by_hand_and_the_mapping_is_remembered(page, tmp_path):
    at, db = page
    odd = tmp_path / "odd.csv"
    odd.write_text("Kennung,Tag,Punkte\nX1,05.01.2026,20\nX1,12.01.2026,22.5\n", encoding="utf-8")
    _upload(at, odd)
    assert at.warning, "the missing client column is pointed out"
    map_by_hand(at, "Kennung", "Tag", "ORS", "Punkte")
    at.button(key="do_import").click().run()
    assert not at.exception
    assert metrics(at)["Imported"] == "2"
    # The same columns again: recognised from the saved mapping, no hand work.
    again = tmp_path / "odd2.csv"
    again.write_text("Kennung,Tag,Punkte\nX2,19.01.2026,30\n", encoding="utf-8")
    _upload(at, again)
    assert not at.warning
    assert widget(at, "__client_id").value == "Kennung"


def test_an_import_can_be_undone_from_the_history(page, shared_data):
    at, db = page
    _upload(at, shared_data / "exports" / "caseload_export_2026-03.csv")
    at.button(key="do_import").click().run()
    assert list(_frame_with(at, "Ratings added")["Held now"]) == [245]
    assert at.selectbox(key="undo_choice").options == ["#1 caseload_export_2026-03.csv (245 ratings now)"]
    at.button(key="undo").click().run()
    assert not at.exception
    past = _frame_with(at, "Ratings added")
    assert list(past["Status"]) == ["undone"]
    assert (list(past["Ratings added"]), list(past["Held now"])) == ([245], [0])
    assert all(s.key != "undo_choice" for s in at.selectbox)  # nothing active is left to undo
    assert _ratings_shown(at) == 0


def test_an_unreadable_upload_gets_one_clear_message(page, tmp_path):
    at, _db = page
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02\x03" * 1000)
    _upload(at, junk)
    assert "junk.csv" in at.error[0].value and "binary" in at.error[0].value


@pytest.fixture(scope="module")
def exports_manifest(shared_data) -> dict[str, list[str]]:
    manifest = json.loads((shared_data / "exports" / "manifest.json").read_text())
    return {f["file"]: f.get("forbidden_strings", []) for f in manifest["files"]}


def _settle(page, quiet_checks: int = 4) -> None:
    """Wait until Streamlit has finished running the script (its running indicator stays away)."""
    page.wait_for_timeout(600)
    calm = 0
    for _ in range(600):
        running = page.locator('[data-testid="stStatusWidget"]').count()
        calm = 0 if running else calm + 1
        if calm >= quiet_checks:
            return
        page.wait_for_timeout(250)


@pytest.mark.browser
def test_every_example_export_imports_through_the_page_in_a_real_browser(chromium, shared_data, tmp_path):
    """Each file of ../shared/data/exports uploaded in Chromium: the page shows the manifest's row counts."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from _browser import ARTIFACTS, CHROMIUM_ARGS, caseload_server

    manifest = json.loads((shared_data / "exports" / "manifest.json").read_text())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with caseload_server(tmp_path / "store.duckdb") as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url)
        page.get_by_role("link", name="Import", exact=True).click(timeout=60_000)
        page.get_by_role("heading", name="Import", exact=True).wait_for(timeout=60_000)
        for entry in manifest["files"]:
            exp = entry["expected"]
            path = shared_data / "exports" / entry["file"]
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
            _settle(page)  # the upload reruns the page: click only once the new preview is drawn
            button = page.get_by_role("button", name="Import", exact=True)
            button.wait_for(timeout=60_000)
            if any(
                f["kind"] in ("name", "email", "date_of_birth")
                for f in entry.get("should_refuse_or_flag", [])
            ):
                page.get_by_text("This file contains direct identifiers").wait_for(timeout=60_000)
                page.get_by_text("Drop these columns and import the rest").click()
                _settle(page)
                for _ in range(240):
                    if page.get_by_role("button", name="Import", exact=True).is_enabled():
                        break
                    page.wait_for_timeout(250)
            button.click()
            done = re.compile(re.escape(entry["file"]) + r": [\d,]+ ratings stored")
            counts = re.compile(
                r"Rows read = imported \+ duplicate \+ rejected: ([\d,]+) = ([\d,]+) \+ ([\d,]+) \+ ([\d,]+)"
            )
            for _ in range(480):  # poll the page's text: Streamlit redraws elements while a run is going on
                body = page.evaluate("document.body.innerText")
                if done.search(body) and counts.search(body.split(entry["file"] + ":", 1)[-1]):
                    # read again once the run is over: the previous file's counts may still have been on screen
                    _settle(page)
                    body = page.evaluate("document.body.innerText")
                    break
                page.wait_for_timeout(250)
            else:
                page.screenshot(path=str(ARTIFACTS / f"import_failed_{path.stem}.png"), full_page=True)
                raise AssertionError(f"no import report for {entry['file']}")
            found = counts.search(body.split(entry["file"] + ":", 1)[-1])
            read, imported, duplicate, rejected = (int(g.replace(",", "")) for g in found.groups())
            assert read == exp["data_rows"], entry["file"]
            assert read == imported + duplicate + rejected
            ambiguous = len(exp["ambiguous_rows"])
            if entry["file"] == "caseload_export_2026-06.csv":  # imported after its source file
                after = exp["after_importing_source_file"]
                assert (imported, duplicate) == (after["rows_imported"], after["rows_duplicate"])
            else:
                assert duplicate == exp["rows_duplicate"], entry["file"]
                assert exp["rows_rejected"] <= rejected <= exp["rows_rejected"] + ambiguous, entry["file"]
                assert imported == exp["rows_imported"] + ambiguous - (rejected - exp["rows_rejected"])
            page.screenshot(path=str(ARTIFACTS / f"import_{path.stem}.png"))
        browser.close()


def test_every_stored_rating_can_be_exported_from_the_page_and_reimported(page, shared_data, registry):
    from caseload.ingest import import_file
    from caseload.store import connect

    at, _db = page
    _upload(at, shared_data / "exports" / "caseload_export_2026-03.csv")
    at.button(key="do_import").click().run()
    at.button(key="export_prepare").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download 245 ratings (CSV)" in labels
    payload, suffix, n = at.session_state["export_file"]
    assert (suffix, n) == ("csv", 245)
    fresh = connect(":memory:")
    report = import_file(fresh, payload, file_name="caseload_ratings.csv", registry=registry)
    assert (report.rows_imported, report.rows_rejected) == (245, 0)


def test_a_later_export_that_only_adds_an_ending_says_so_in_its_report(page, tmp_path):
    at, _db = page
    header = "client_id,clinician_id,session_date,session_number,measure,total,ending\n"
    rows = ["C1,T1,2026-01-05,1,ORS,18,", "C1,T1,2026-01-12,2,ORS,24,"]
    march, april = tmp_path / "march.csv", tmp_path / "april.csv"
    march.write_text(header + "\n".join(rows) + "\n")
    april.write_text(header + rows[0] + "\n" + rows[1] + "planned\n")
    _upload(at, march)
    at.button(key="do_import").click().run()
    _upload(at, april)
    at.button(key="do_import").click().run()
    assert not at.exception
    assert metrics(at) == {"Rows read": "2", "Imported": "0", "Duplicate": "2", "Rejected": "0"}
    success = [str(s.value) for s in at.success]
    assert any(
        "april.csv: 0 ratings stored. 1 stored rating took the episode ending this file gives." in s
        for s in success
    ), success
