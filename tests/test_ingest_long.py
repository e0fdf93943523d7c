"""The canonical long layout, from CSV and XLSX, through the library and the `caseload import` command."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date

import openpyxl
import pytest

from caseload.ingest import import_file
from caseload.store import ratings

CANONICAL = (
    "client_id,clinician_id,session_date,session_number,measure,total\n"
    "C1,T1,2026-01-05,1,ORS,18.5\n"
    "C1,T1,2026-01-05,1,SRS,36.0\n"
    "C1,T1,2026-01-12,2,ORS,22.1\n"
    "C2,T2,2026-01-07,1,PHQ-9,14\n"
    "C2,T2,2026-01-14,2,phq9,11\n"
)

ITEMS = (
    "client_id,clinician_id,session_date,session_number,measure,item1,item2,item3,item4\n"
    "C1,T1,2026-01-05,1,ORS,4.5,5.0,4.0,5.0\n"
    "C1,T1,2026-01-05,1,SRS,9.0,9.5,8.5,9.0\n"
)


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_canonical_long_csv_is_stored_as_it_was_written(con, registry):
    report = import_file(
        con, CANONICAL.encode(), file_name="export.csv", registry=registry, today=date(2026, 6, 1)
    )
    assert (report.rows_read, report.rows_imported, report.rows_duplicate, report.rows_rejected) == (
        5,
        5,
        0,
        0,
    )
    stored = ratings(con)
    assert sorted(stored.measure.unique()) == ["ORS", "PHQ9", "SRS"]
    c1 = stored[(stored.client_id == "C1") & (stored.measure == "ORS")]
    assert list(c1.total) == [18.5, 22.1]
    assert list(c1.session_number) == [1, 2]
    assert set(c1.total_source) == {"total"}
    assert c1["items"].isna().all()  # a total alone never invents items
    assert list(stored[stored.client_id == "C2"].clinician_id.unique()) == ["T2"]


def test_generic_item_columns_give_items_and_a_summed_total(con, registry):
    report = import_file(
        con, ITEMS.encode(), file_name="items.csv", registry=registry, today=date(2026, 6, 1)
    )
    assert report.rows_imported == 2
    stored = ratings(con)
    ors = stored[stored.measure == "ORS"].iloc[0]
    assert list(ors["items"]) == [4.5, 5.0, 4.0, 5.0]
    assert ors.total == 18.5
    assert ors.total_source == "items"


def test_an_xlsx_workbook_in_the_canonical_layout_imports_like_the_csv(con, registry):
    rows = [["client_id", "clinician_id", "session_date", "session_number", "measure", "total"]]
    rows += [[3105, "T1", date(2026, 1, 5), 1, "ORS", 18.5], [3105, "T1", date(2026, 1, 12), 2.0, "ORS", 21]]
    report = import_file(con, _xlsx(rows), file_name="export.xlsx", registry=registry, today=date(2026, 6, 1))
    assert report.rows_imported == 2
    stored = ratings(con)
    assert list(stored.client_id) == ["3105", "3105"]  # numeric cells without '.0'
    assert [d.date().isoformat() for d in stored.session_date] == ["2026-01-05", "2026-01-12"]
    assert list(stored.session_number) == [1, 2]


def test_the_import_command_prints_a_json_report_per_file(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(CANONICAL, encoding="utf-8")
    db = tmp_path / "store.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "caseload.cli", "import", "--db", str(db), "--json", str(export)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    assert report["file"] == "export.csv"
    assert report["rows_read"] == 5
    assert report["rows_imported"] + report["rows_duplicate"] + report["rows_rejected"] == 5
    assert len(report["sha256"]) == 64


@pytest.mark.parametrize("junk", [b"", b"   \n\n", b"\x00\x01\x02binary\x00" * 50])
def test_the_import_command_refuses_unreadable_input_with_exit_code_2(tmp_path, junk):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(junk)
    result = subprocess.run(
        [sys.executable, "-m", "caseload.cli", "import", "--db", str(tmp_path / "s.duckdb"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "bad.csv" in result.stderr
    assert "Traceback" not in result.stderr


MIXED = (
    "client_id,session_date,session_number,measure,item1,item2,item3,item4,item5,item6,item7,item8,item9,total\n"
    "C1,2026-01-05,1,ORS,9.5,8.0,7.5,9.0,,,,,,\n"  # ORS items run 0-10
    "C1,2026-01-05,1,PHQ-9,1,2,3,0,1,2,3,0,1,\n"  # PHQ-9 items run 0-3
    "C1,2026-01-12,2,PHQ-9,1,2,5,0,1,2,3,0,1,\n"  # 5 is above a PHQ-9 item's 3
    "C1,2026-01-12,2,ORS,4,11,4,4,,,,,,\n"  # 11 is above an ORS item's 10
    "C1,2026-01-12,2,GAD-7,1,1,1,1,1,1,,,,\n"  # GAD-7 has seven items: the seventh is missing
    "C1,2026-01-12,2,GAD-7,1,1,1,1,1,1,2,,,\n"
    "C1,2026-01-19,3,WHO-5,,,,,,,,,,52\n"  # not in the registry
)


def test_each_measure_of_a_long_file_is_checked_against_its_own_items_and_ranges(con, registry):
    report = import_file(
        con, MIXED.encode(), file_name="mixed.csv", registry=registry, today=date(2026, 6, 1)
    )
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (7, 3, 4)
    assert report.records_by_measure == {"GAD7": 1, "ORS": 1, "PHQ9": 1}
    problems = {e.row: (e.reason, e.column, e.value) for e in report.errors}
    assert problems == {
        3: ("out_of_range", "item3", "5"),
        4: ("out_of_range", "item2", "11"),
        5: ("partial_items", "item7", ""),
        7: ("unknown_measure", "measure", "WHO-5"),
    }
    stored = ratings(con)
    totals = dict(zip(stored.measure, stored.total, strict=True))
    assert totals == {"ORS": 34.0, "PHQ9": 13.0, "GAD7": 8.0}
    assert [len(v) for v in stored.sort_values("measure")["items"]] == [7, 4, 9]
