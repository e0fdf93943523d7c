"""The Excel export: formatted, complete, and safe to open (no formula injection)."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pandas as pd
from _frames import overview_frame, overview_row

from caseload.reports.excel import caseload_workbook
from caseload.supervision import TOO_FEW, clients_to_discuss, clinician_summary


def _book(frame, registry, min_n=2):
    summary = clinician_summary(frame, registry["ORS"], min_n=min_n)
    data = caseload_workbook(
        frame,
        summary,
        clients_to_discuss(frame),
        measure_code="ORS",
        min_n=min_n,
        generated_at=datetime(2026, 11, 20, 9, 30),
    )
    return data, openpyxl.load_workbook(io.BytesIO(data))


def _frame():
    return overview_frame(
        [
            overview_row(
                "C01", status="off_track", first_score=12.3, latest_score=10.1, change_category="deteriorated"
            ),
            overview_row(
                "C02", clinician_id="T02", first_score=20, latest_score=31.5, change_category="recovered"
            ),
            overview_row("C03", status="at_risk", alliance_status="concern"),
        ]
    )


def test_workbook_has_the_four_sheets_with_every_row(registry):
    data, wb = _book(_frame(), registry)
    assert wb.sheetnames == ["Caseload", "Supervision", "Clients to discuss", "About"]
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="calamine")
    assert len(sheets["Caseload"]) == 3
    assert list(sheets["Caseload"]["Client"]) == ["C01", "C03", "C02"]  # most urgent first
    assert list(sheets["Clients to discuss"]["Client"]) == ["C01", "C03"]
    assert sheets["Caseload"].loc[0, "Status"] == "▼ Off track"


def test_headers_are_bold_frozen_filtered_and_columns_fitted(registry):
    _, wb = _book(_frame(), registry)
    ws = wb["Caseload"]
    assert all(cell.font.bold for cell in ws[1])
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref == "A1:O4"
    widths = {
        ws.cell(1, j).value: ws.column_dimensions[openpyxl.utils.get_column_letter(j)].width
        for j in range(1, 16)
    }
    assert widths["Top alert"] >= len("Top alert") + 2
    assert widths["Status"] >= len("▼ Off track")


def test_scores_changes_and_percentages_carry_number_formats(registry):
    _, wb = _book(_frame(), registry)
    ws = wb["Caseload"]
    header = {c.value: c.column for c in ws[1]}
    first = ws.cell(2, header["First score"])
    change = ws.cell(2, header["Change"])
    assert (first.value, first.number_format) == (12.3, "0.0")
    assert change.number_format == "+0.0;-0.0;0.0" and round(change.value, 1) == -2.2
    assert ws.cell(2, header["Last session"]).number_format == "yyyy-mm-dd"
    sup = wb["Supervision"]
    sheader = {c.value: c.column for c in sup[1]}
    assert sup.cell(2, sheader["% reliably improved"]).number_format == '0"%"'
    assert sup.cell(2, sheader["Effect size"]).number_format == "0.00"


def test_small_groups_read_too_few_to_compare_in_the_workbook(registry):
    _, wb = _book(_frame(), registry, min_n=10)
    sup = wb["Supervision"]
    header = {c.value: c.column for c in sup[1]}
    assert sup.cell(2, header["% reliably improved"]).value == TOO_FEW
    assert sup.cell(2, header["Clients"]).value == 2


def test_text_that_a_spreadsheet_would_run_is_stored_as_quoted_text(registry):
    evil = ['=HYPERLINK("http://x.example","click")', "+1+2", "-3+4", "@SUM(A1)", "\t=1"]
    frame = overview_frame([overview_row(code, clinician_id="=cmd|' /C calc'!A0") for code in evil])
    data, wb = _book(frame, registry)
    ws = wb["Caseload"]
    header = {c.value: c.column for c in ws[1]}
    cells = [ws.cell(i, header["Client"]) for i in range(2, 2 + len(evil))]
    assert sorted(c.value for c in cells) == sorted(evil)
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert all(ws.cell(i, header["Clinician"]).quotePrefix for i in range(2, 2 + len(evil)))
    with io.BytesIO(data) as f, __import__("zipfile").ZipFile(f) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no cell is a formula


def test_ordinary_text_is_not_quote_prefixed(registry):
    _, wb = _book(_frame(), registry)
    ws = wb["Caseload"]
    assert ws.cell(2, 2).value == "C01" and not ws.cell(2, 2).quotePrefix


def test_an_empty_caseload_still_gives_a_valid_workbook(registry):
    data, wb = _book(overview_frame([]), registry)
    assert wb["Caseload"].max_row == 1
    assert [c.value for c in wb["Caseload"][1]][:3] == ["Status", "Client", "Top alert"]
    assert wb["About"].cell(3, 2).value == "0"
