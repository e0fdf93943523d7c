"""A second round of exports the examples do not show: workbooks, mapping files, import history, --strict.

Each file is built here (small, synthetic, invented codes); nothing is copied from ../shared/data.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, time

import openpyxl
import pytest
from _exports import import_export, stored_ratings

from caseload.cli import main
from caseload.ingest import ImportError_, undo_import
from caseload.store import connect, imports


def _problems(report) -> list[tuple]:
    return [(e.sheet, e.row, e.column, e.value, e.reason) for e in report.errors]


def _xlsx(wb: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _with_cached_errors(data: bytes, errors: dict[str, str]) -> bytes:
    """The workbook with formula cells given a cached error result, as Excel saves them: <c t="e"><f>..</f><v>#..</v>.

    openpyxl writes formulas without a result; ``errors`` maps a cell reference of the first sheet to its error.
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = body.decode()
                for ref, error in errors.items():
                    text, n = re.subn(
                        rf'<c r="{ref}"([^>]*)><f>([^<]*)</f><v\s*/?>(?:</v>)?',
                        rf'<c r="{ref}"\1 t="e"><f>\2</f><v>{error}</v>',
                        text,
                    )
                    assert n == 1, ref
                body = text.encode()
            dst.writestr(info, body)
    return out.getvalue()


# ----------------------------------------------------------------------------- workbooks


def test_formula_errors_in_score_cells_are_reported_by_their_error_not_taken_for_blanks(con, registry):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Scores"
    ws.append(["Client ID", "Session", "Date", "ORS Total", "SRS Total"])
    ws.append(["W1", 1, date(2026, 1, 5), 20, 36])
    ws.append(["W1", 2, date(2026, 1, 12), "=D2/0", 35])  # cached #DIV/0!
    ws.append(["W1", 3, date(2026, 1, 19), "#N/A", "#VALUE!"])  # error values typed in
    ws.append(["W1", 4, date(2026, 1, 26), "=D2+1", 34])  # cached #REF!
    data = _with_cached_errors(_xlsx(wb), {"D3": "#DIV/0!", "D5": "#REF!"})
    report = import_export(con, registry, data, "errors.xlsx")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (4, 3, 1)
    assert _problems(report) == [
        ("Scores", 2, "ORS Total", "#DIV/0!", "non_numeric"),
        ("Scores", 3, "ORS Total", "#N/A", "non_numeric"),
        ("Scores", 3, "SRS Total", "#VALUE!", "non_numeric"),
        ("Scores", 4, "ORS Total", "#REF!", "non_numeric"),
    ]
    assert "'#DIV/0!' in column 'ORS Total'" in report.errors[0].message
    assert [(c, m, s, t) for c, m, s, _d, t, _i in stored_ratings(con, with_import=True)] == [
        ("W1", "ORS", 1, 20.0),
        ("W1", "SRS", 1, 36.0),
        ("W1", "SRS", 2, 35.0),
        ("W1", "SRS", 4, 34.0),
    ]
    # --strict: a formula error is a problem to fix, not a row without scores.
    strict = import_export(connect(":memory:"), registry, data, "errors.xlsx", strict=True)
    assert strict.refused and len(strict.errors) == 4


def test_booleans_times_of_day_and_pre_1900_dates_are_each_reported_by_cell(con, registry):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Log"
    ws.append(["Client ID", "Session", "Date", "ORS Total"])
    ws.append(["B1", 1, date(2026, 1, 5), 20])
    ws.append(["B1", 2, date(2026, 1, 12), True])  # a checkbox column dragged into the scores
    ws.append(["B1", 3, time(10, 30), 22])  # a time typed where the date belongs
    ws.append(["B1", 4, "15/03/1899", 23])  # Excel keeps dates before 1900 as text
    report = import_export(con, registry, _xlsx(wb), "log.xlsx")
    assert (report.rows_imported, report.rows_rejected) == (1, 3)
    assert _problems(report) == [
        ("Log", 2, "ORS Total", "TRUE", "non_numeric"),
        ("Log", 3, "Date", "10:30:00", "invalid_date"),
        ("Log", 4, "Date", "15/03/1899", "invalid_date"),
    ]
    assert [e.line for e in report.errors] == [3, 4, 5]  # worksheet rows


def _three_layouts() -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    long = wb.active
    long.title = "ORS long"
    long.append(["Client ID", "Session", "Date", "Measure", "Total"])
    long.append(["L1", 1, date(2026, 1, 5), "ORS", 20])
    long.append(["L1", 1, date(2026, 1, 5), "SRS", 36])
    long.append(["L1", 2, date(2026, 1, 12), "ORS", 22])
    side = wb.create_sheet("PHQ GAD")
    side.append(["Client ID", "Date", "PHQ-9 Total", "GAD-7 Total"])
    side.append(["P1", date(2026, 1, 6), 12, 9])
    side.append(["P1", date(2026, 1, 13), 10, None])
    hidden = wb.create_sheet("Archive")
    hidden.sheet_state = "hidden"
    hidden.append(["Client ID", "Session", "Date", "Measure", "Total"])
    hidden.append(["H1", 1, date(2025, 11, 3), "ORS", 15])
    wb.create_sheet("Notes").append(["Scores are entered after each session."])
    return wb


def test_each_sheet_of_a_workbook_is_read_in_its_own_layout_and_a_hidden_sheet_is_not_lost(con, registry):
    report = import_export(con, registry, _xlsx(_three_layouts()), "clinic.xlsx")
    assert report.sheets == ["ORS long", "PHQ GAD", "Archive"]
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (6, 6, 0)
    assert report.records_by_measure == {"GAD7": 1, "ORS": 3, "PHQ9": 2, "SRS": 1}
    assert any("'Notes'" in w for w in report.warnings)  # the text-only sheet is named as skipped
    stored = {(c, m, s, t) for c, m, s, _d, t, _i in stored_ratings(con, with_import=True)}
    assert ("H1", "ORS", 1, 15.0) in stored  # the hidden sheet's row is stored, and the report says so
    assert "sheet 'Archive' is hidden in the workbook; its rows were read like the others" in report.warnings
    assert {("P1", "PHQ9", 1, 12.0), ("P1", "PHQ9", 2, 10.0), ("P1", "GAD7", 1, 9.0)} <= stored


def test_a_chosen_sheet_is_the_only_one_read_and_a_wrong_name_lists_the_sheets(con, registry):
    data = _xlsx(_three_layouts())
    report = import_export(con, registry, data, "clinic.xlsx", sheet="PHQ GAD")
    assert report.sheets == ["PHQ GAD"] and report.rows_read == 2
    assert {c for c, *_ in stored_ratings(con, with_import=True)} == {"P1"}
    with pytest.raises(ImportError_) as exc:
        import_export(con, registry, data, "clinic.xlsx", sheet="phq gad")
    assert str(exc.value) == (
        "clinic.xlsx: there is no sheet 'phq gad' (sheets: ORS long, PHQ GAD, Archive, Notes)"
    )


def test_caseload_import_reads_one_sheet_of_an_xlsm_and_stops_on_a_missing_sheet(tmp_path, capsys):
    path = tmp_path / "tracker.xlsm"
    path.write_bytes(_xlsx(_three_layouts()))
    db = tmp_path / "s.duckdb"
    assert main(["import", "--db", str(db), "--json", "--sheet", "ORS long", str(path)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert (report["rows_read"], report["rows_imported"], report["records_by_measure"]) == (
        3,
        3,
        {"ORS": 2, "SRS": 1},
    )
    assert main(["import", "--db", str(db), "--json", "--sheet", "Sheet1", str(path)]) == 2
    err = capsys.readouterr().err
    assert "tracker.xlsm: there is no sheet 'Sheet1'" in err and "Traceback" not in err


def test_a_client_code_in_a_merged_cell_leaves_the_lower_rows_reported_not_dropped(con, registry):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Tracker"
    ws.append(["ORS tracker 2026"])
    ws.merge_cells("A1:D1")
    ws.append(["Client ID", "Session", "Date", "ORS Total"])
    ws.append(["M1", 1, date(2026, 1, 7), 25])
    ws.append([None, 2, date(2026, 1, 14), 27])
    ws.merge_cells("A3:A4")
    report = import_export(con, registry, _xlsx(wb), "tracker.xlsx")
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (2, 1, 1)
    assert _problems(report) == [("Tracker", 2, "Client ID", "", "missing_client_id")]
    assert report.errors[0].line == 4


def test_a_very_wide_per_client_sheet_reads_every_session(con, registry):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Wide"
    ws.append(["Client ID"] + [h for k in range(1, 41) for h in (f"Date_{k}", f"ORS_{k}")])
    dates = [date(2025, 1, 6).fromordinal(date(2025, 1, 6).toordinal() + 7 * k) for k in range(40)]
    ws.append(["V1"] + [v for k in range(40) for v in (dates[k], 10 + k * 0.5)])
    ws.append(["V2"] + [v for k in range(3) for v in (dates[k], 30)])
    report = import_export(con, registry, _xlsx(wb), "wide.xlsx")
    assert (report.rows_read, report.rows_imported, report.records_added) == (2, 2, 43)
    v1 = [(s, d, t) for c, _m, s, d, t, _i in stored_ratings(con, with_import=True) if c == "V1"]
    assert v1[0] == (1, "2025-01-06", 10.0) and v1[-1] == (40, dates[39].isoformat(), 29.5)


# ----------------------------------------------------------------------------- mapping files

ODD = "Kennung,Tag,Punkte\nX1,05.01.2026,20\nX1,12.01.2026,22.5\n"
GOOD = {"client_id": "Kennung", "session_date": "Tag", "measures": [{"measure": "ORS", "total": "Punkte"}]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"session_date": "Datum"}, "the mapping names column(s) 'Datum' that odd.csv does not have"),
        ({"measures": [{"measure": "BDI", "total": "Punkte"}]}, "the mapping names measure 'BDI'"),
        (
            {"measures": [{"measure": "ORS", "items": ["Punkte", "Tag", "Kennung"]}]},
            "ORS has 4 items but the mapping names 3 item columns",
        ),
        ({"measures": {"measure": "ORS", "total": "Punkte"}}, "the mapping's measures cannot be read"),
        ({"measures": ["ORS"]}, "the mapping's measures cannot be read"),
        ({"measures": [{"measure": "ORS", "items": "Punkte"}]}, "the mapping's measures cannot be read"),
        ({"client_id": ["Kennung"]}, "the mapping's client_id cannot be read"),
    ],
)
def test_a_wrong_mapping_file_stops_the_import_with_one_message_naming_the_problem(
    change, message, tmp_path, capsys
):
    export = tmp_path / "odd.csv"
    export.write_text(ODD, encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({**GOOD, **change}))
    db = tmp_path / "s.duckdb"
    assert main(["import", "--db", str(db), "--json", "--mapping", str(mapping), str(export)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    con = connect(db, read_only=True)
    assert con.execute("select count(*) from ratings").fetchall() == [(0,)]
    assert con.execute("select count(*) from mappings").fetchall() == [(0,)]  # a refused mapping is not kept
    con.close()


LONG = (
    "Code,Termin,Nr,Bogen,Summe\n"
    "K1,05.01.2026,1,Ergebnis,20\n"
    "K1,05.01.2026,1,Sitzung,36\n"
    "K1,05.01.2026,1,Depression,12\n"
    "K1,12.01.2026,2,Ergebnis,22\n"
    "K1,12.01.2026,2,Fragebogen X,5\n"
)
LONG_MAP = {
    "client_id": "Code",
    "session_date": "Termin",
    "session_number": "Nr",
    "measure_column": "Bogen",
    "total": "Summe",
    "measure_values": {"Ergebnis": "ORS", "sitzung": "SRS", "Depression": "PHQ-9"},
}


def test_measure_values_name_a_long_files_own_measure_words_and_other_words_are_rejected_by_row(
    con, registry
):
    report = import_export(con, registry, LONG, "long.csv", mapping=LONG_MAP)
    assert (report.rows_imported, report.rows_rejected) == (4, 1)
    assert _problems(report) == [(None, 5, "Bogen", "Fragebogen X", "unknown_measure")]
    assert [(m, s, t) for _c, m, s, _d, t, _i in stored_ratings(con, with_import=True)] == [
        ("ORS", 1, 20.0),
        ("ORS", 2, 22.0),
        ("PHQ9", 1, 12.0),
        ("SRS", 1, 36.0),
    ]


def test_measure_values_naming_a_measure_not_in_the_registry_stop_the_import(con, registry):
    wrong = {**LONG_MAP, "measure_values": {"Ergebnis": "OSR", "Sitzung": "SRS"}}
    with pytest.raises(ImportError_, match="'Ergebnis' in column 'Bogen' as measure 'OSR', which is not in"):
        import_export(con, registry, LONG, "long.csv", mapping=wrong)
    assert stored_ratings(con, with_import=True) == []


def test_a_saved_mapping_reads_the_next_file_with_the_same_columns_in_any_order_only(con, registry):
    import_export(con, registry, ODD, "jan.csv", mapping=GOOD)
    same = import_export(con, registry, "Kennung,Tag,Punkte\nX2,19.01.2026,30\n", "feb.csv")
    assert same.rows_imported == 1 and same.mapping["sources"] == {"": "saved"}
    moved = import_export(con, registry, "Tag,Punkte,kennung\n19.01.2026,31,X3\n", "mar.csv")
    assert moved.rows_imported == 1 and moved.mapping["sources"] == {"": "saved"}
    # One more column is not the same columns: it may hold a measure the saved mapping does not know, so the
    # file is refused with the columns named rather than read without it.
    with pytest.raises(ImportError_, match="the layout was not recognised.*Kennung"):
        import_export(con, registry, "Kennung,Tag,Punkte,Notiz\nX4,19.01.2026,30,ok\n", "apr.csv")
    assert [(c, t) for c, _m, _s, _d, t, _i in stored_ratings(con, with_import=True)] == [
        ("X1", 20.0),
        ("X1", 22.5),
        ("X2", 30.0),
        ("X3", 31.0),
    ]


def test_a_mapping_saved_under_the_ordered_signature_of_earlier_versions_still_applies(con, registry):
    from caseload.ingest.load import save_mapping
    from caseload.ingest.pipeline import _ordered_signature

    save_mapping(con, _ordered_signature(["Kennung", "Tag", "Punkte"]), GOOD)
    same = import_export(con, registry, "Kennung,Tag,Punkte\nX2,19.01.2026,30\n", "feb.csv")
    assert same.rows_imported == 1 and same.mapping["sources"] == {"": "saved"}


# ----------------------------------------------------------------------------- history

HEAD = "Client ID,Session,Date,ORS Total,SRS Total\n"
JAN = HEAD + "A1,1,2026-01-05,20,36\nA1,2,2026-01-12,22,37\n"


def test_reimporting_the_same_export_adds_nothing(con, registry):
    first = import_export(con, registry, JAN, "jan.csv")
    again = import_export(con, registry, JAN, "jan.csv")
    assert (first.records_added, again.records_added) == (4, 0)
    assert (again.rows_imported, again.rows_duplicate, again.rows_rejected, again.errors) == (0, 2, 0, [])
    assert {i for *_, i in stored_ratings(con, with_import=True)} == {first.import_id}


def test_a_later_export_with_a_changed_score_and_a_deleted_session_changes_nothing_stored(con, registry):
    first = import_export(con, registry, JAN, "jan.csv")
    later = import_export(con, registry, HEAD + "A1,1,2026-01-05,21,36\nA1,3,2026-01-19,24,38\n", "feb.csv")
    assert (later.rows_imported, later.rows_duplicate, later.rows_rejected) == (1, 1, 0)
    (conflict,) = later.conflicts
    assert (
        conflict["measure"],
        conflict["session_number"],
        conflict["stored_total"],
        conflict["new_total"],
    ) == (
        "ORS",
        1,
        20.0,
        21.0,
    )
    (error,) = later.errors
    assert (error.row, error.column, error.value, error.reason) == (1, "ORS Total", "21", "conflict")
    assert "stored total 20" in error.message
    assert [(m, s, t, i) for _c, m, s, _d, t, i in stored_ratings(con, with_import=True)] == [
        ("ORS", 1, 20.0, first.import_id),  # kept, not overwritten
        ("ORS", 2, 22.0, first.import_id),  # missing from the later export, not deleted
        ("ORS", 3, 24.0, later.import_id),
        ("SRS", 1, 36.0, first.import_id),
        ("SRS", 2, 37.0, first.import_id),
        ("SRS", 3, 38.0, later.import_id),
    ]


def test_undoing_the_first_of_two_overlapping_imports_keeps_what_the_second_also_held(con, registry):
    jan = import_export(con, registry, JAN, "jan.csv")
    feb = import_export(con, registry, JAN + "A1,3,2026-01-19,24,38\n", "feb.csv")
    assert (feb.records_added, feb.rows_duplicate) == (2, 2)
    assert undo_import(con, jan.import_id) == 0  # every rating of jan.csv is in feb.csv too
    assert [(m, s, t, i) for _c, m, s, _d, t, i in stored_ratings(con, with_import=True)] == [
        (m, s, t, feb.import_id)
        for m, s, t in [("ORS", 1, 20.0), ("ORS", 2, 22.0), ("ORS", 3, 24.0)]
        + [("SRS", 1, 36.0), ("SRS", 2, 37.0), ("SRS", 3, 38.0)]
    ]
    # The store is as if only feb.csv had been imported: undoing it too leaves nothing, and a re-import of
    # jan.csv then stores its ratings again.
    assert undo_import(con, feb.import_id) == 6
    assert stored_ratings(con, with_import=True) == []
    assert import_export(con, registry, JAN, "jan.csv").records_added == 4


def test_the_import_history_shows_the_ratings_each_import_holds_after_an_undo_hands_them_on(con, registry):
    jan = import_export(con, registry, JAN, "jan.csv")
    feb = import_export(con, registry, JAN + "A1,3,2026-01-19,24,38\n", "feb.csv")

    def held() -> dict[int, int]:
        history = imports(con)
        return dict(zip(history["import_id"], history["ratings_held"], strict=True))

    assert held() == {jan.import_id: 4, feb.import_id: 2}
    undo_import(con, jan.import_id)
    assert held() == {jan.import_id: 0, feb.import_id: 6}
    history = imports(con).set_index("import_id")
    assert history.loc[feb.import_id, "records_added"] == 2  # what the file added when it was imported


def test_undoing_the_first_import_removes_only_the_ratings_no_later_import_held(con, registry):
    jan = import_export(con, registry, JAN, "jan.csv")
    feb = import_export(con, registry, HEAD + "A1,2,2026-01-12,22,37\nA1,3,2026-01-19,24,38\n", "feb.csv")
    assert undo_import(con, jan.import_id) == 2  # session 1 was only in jan.csv
    assert [(m, s, i) for _c, m, s, _d, _t, i in stored_ratings(con, with_import=True)] == [
        ("ORS", 2, feb.import_id),
        ("ORS", 3, feb.import_id),
        ("SRS", 2, feb.import_id),
        ("SRS", 3, feb.import_id),
    ]


def test_undoing_the_earlier_of_two_date_numbered_imports_keeps_the_shared_date_and_renumbers(con, registry):
    head = "Client ID,Date,PHQ-9 Total\n"
    feb = import_export(con, registry, head + "D1,2026-02-02,14\nD1,2026-02-09,12\n", "feb.csv")
    jan = import_export(con, registry, head + "D1,2026-01-26,16\nD1,2026-02-02,14\n", "jan.csv")
    assert [(s, d, i) for _c, _m, s, d, _t, i in stored_ratings(con, with_import=True)] == [
        (1, "2026-01-26", jan.import_id),
        (2, "2026-02-02", feb.import_id),
        (3, "2026-02-09", feb.import_id),
    ]
    undo_import(con, feb.import_id)
    assert [(s, d, t, i) for _c, _m, s, d, t, i in stored_ratings(con, with_import=True)] == [
        (1, "2026-01-26", 16.0, jan.import_id),
        (2, "2026-02-02", 14.0, jan.import_id),  # jan.csv held it too
    ]


def test_a_rating_handed_to_a_later_import_keeps_the_ending_that_import_gave_it(con, registry):
    head = "Client ID,Session,Date,ORS Total,Ending\n"
    jan = import_export(con, registry, head + "E1,1,2026-01-05,20,\nE1,2,2026-01-12,30,\n", "jan.csv")
    feb = import_export(con, registry, head + "E1,2,2026-01-12,30,planned\n", "feb.csv")
    assert feb.endings_added == 1
    undo_import(con, jan.import_id)
    rows = con.execute("select session_number, ending, ending_import_id, import_id from ratings").fetchall()
    assert rows == [(2, "planned", None, feb.import_id)]
    undo_import(con, feb.import_id)
    assert stored_ratings(con, with_import=True) == []


# ----------------------------------------------------------------------------- --strict


def test_strict_writes_nothing_and_lists_every_problem_of_a_file(con, registry):
    text = (
        HEAD
        + "S1,1,2026-01-05,20,36\n"
        + "S1,2,2026-01-12,45,37\n"  # ORS total out of range
        + "S1,3,2026-01-19,,\n"  # no scores: informational
        + "S1,4,2026-02-30,22,38\n"  # no such day
        + "S1,5,2026-02-02,23,abc\n"  # text in the SRS total
    )
    report = import_export(con, registry, text, "s.csv", strict=True)
    assert report.refused and "--strict: 3 problem(s) in 5 rows" in report.refused_reason
    assert (report.rows_imported, report.rows_rejected) == (0, 5)
    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (2, "ORS Total", "out_of_range"),
        (3, None, "no_scores"),
        (4, "Date", "invalid_date"),
        (5, "SRS Total", "non_numeric"),
    ]
    assert stored_ratings(con, with_import=True) == [] and con.execute(
        "select count(*) from imports"
    ).fetchall() == [(0,)]


def test_strict_imports_a_workbook_whose_only_remarks_are_rows_without_scores(con, registry):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Client ID", "Session", "Date", "ORS Total", "SRS Total"])
    ws.append(["N1", 1, date(2026, 1, 5), 20, 36])
    ws.append(["N1", 2, date(2026, 1, 12), None, None])  # attended, not rated
    report = import_export(con, registry, _xlsx(wb), "n.xlsx", strict=True)
    assert not report.refused and (report.rows_imported, report.rows_rejected) == (1, 1)
    assert [e.reason for e in report.errors] == ["no_scores"]


# ----------------------------------------------------------------------------- session numbers


def test_two_ratings_on_one_day_without_session_numbers_keep_the_first_and_report_the_second(con, registry):
    report = import_export(con, registry, "Client ID,Date,ORS Total\nT1,2026-01-05,18\nT1,2026-01-05,21\n")
    assert (report.rows_imported, report.rows_rejected) == (1, 1)
    (error,) = report.errors
    assert (error.row, error.column, error.value, error.reason) == (
        2,
        "ORS Total",
        "21",
        "conflicting_duplicate",
    )
    assert [(s, t) for _c, _m, s, _d, t, _i in stored_ratings(con, with_import=True)] == [(1, 18.0)]
