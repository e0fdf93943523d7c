"""What a therapist sees when rows are wrong, and what --strict, conflicts, undo and mappings do."""

from __future__ import annotations

import json
from datetime import date

import pytest

from caseload.cli import main
from caseload.ingest import (
    ImportError_,
    import_file,
    rejected_rows_csv,
    saved_mapping,
    signature,
    undo_import,
)
from caseload.store import connect, ratings

TODAY = date(2026, 6, 1)
HEADER = "Client ID,Session #,Date,Individually,Interpersonally,Socially,Overall,ORS Total\n"


def _import(con, registry, text: str, name: str = "f.csv", **kw):
    return import_file(con, text.encode("utf-8"), file_name=name, registry=registry, today=TODAY, **kw)


def test_each_bad_cell_is_reported_with_row_line_column_value_and_a_plain_message(con, registry):
    text = (
        HEADER
        + "A1,1,2026-01-05,4.0,5.0,6.0,5.0,20.0\n"  # good
        + "A1,2,2026-01-12,4.0,5.0,6.0,5.0,25.0\n"  # items say 20.0
        + "A1,3,2026-02-30,,,,,22.0\n"  # no such day
        + "A1,4,2026-01-19,,,,,-1\n"  # negative total
        + "A1,5,2026-01-26,4.0,x,6.0,5.0,\n"  # text in an item
        + ",6,2026-02-02,,,,,20.0\n"  # no client
        + "A1,7,2027-01-01,,,,,20.0\n"  # after 'today'
    )
    report = _import(con, registry, text)
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (7, 1, 6)
    by_row = {e.row: e for e in report.errors}
    assert by_row[2].reason == "items_total_mismatch" and by_row[2].column == "ORS Total"
    assert "20.0" in by_row[2].message and "25.0" in by_row[2].message  # both values named
    assert (by_row[3].reason, by_row[3].column, by_row[3].value, by_row[3].line) == (
        "invalid_date",
        "Date",
        "2026-02-30",
        4,
    )
    assert by_row[4].reason == "out_of_range" and by_row[4].value == "-1"
    assert (by_row[5].reason, by_row[5].column, by_row[5].value) == ("non_numeric", "Interpersonally", "x")
    assert by_row[6].reason == "missing_client_id" and by_row[6].column == "Client ID"
    assert by_row[7].reason == "future_date"
    assert len(ratings(con)) == 1
    csv_text = rejected_rows_csv(con, report.import_id).decode()
    assert csv_text.splitlines()[0].startswith("file,import_id,row,line,column,value,reason,message")
    assert len(csv_text.strip().splitlines()) == 1 + 6


def test_strict_writes_nothing_when_any_row_is_bad(con, registry):
    text = HEADER + "A1,1,2026-01-05,,,,,20.0\nA1,2,2026-01-12,,,,,45\n"
    report = _import(con, registry, text, strict=True)
    assert report.refused and "--strict" in report.refused_reason
    assert report.rows_imported == 0 and report.rows_rejected == 2
    assert [e.reason for e in report.errors] == ["out_of_range"]
    assert ratings(con).empty
    assert con.execute("select count(*) from imports").fetchall()[0][0] == 0


def test_strict_accepts_rows_that_simply_hold_no_scores(con, registry):
    text = (
        "Case_ID,Session_ID,Session_Date,ORS_Skip,Total_ORS,SRS_Skip,Total_SRS\n"
        "K1,1,2026-01-05,N,20.0,N,36.0\n"
        "K1,2,2026-01-12,Y,,Y,\n"
    )
    report = _import(con, registry, text, strict=True)
    assert not report.refused
    assert (report.rows_imported, report.rows_rejected) == (1, 1)
    assert report.errors[0].reason == "no_scores"


def test_the_strict_command_exits_1_and_the_store_stays_empty(tmp_path, capsys):
    f = tmp_path / "bad.csv"
    f.write_text(HEADER + "A1,1,2026-01-05,,,,,45\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    assert main(["import", "--db", str(db), "--strict", "--json", str(f)]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["refused"] and report["errors"][0]["column"] == "ORS Total"
    con = connect(db, read_only=True)
    assert con.execute("select count(*) from ratings").fetchall()[0][0] == 0
    con.close()


def test_a_changed_rating_is_a_conflict_and_the_stored_one_is_kept(con, registry):
    first = HEADER + "A1,1,2026-01-05,,,,,20.0\nA1,2,2026-01-12,,,,,22.0\n"
    _import(con, registry, first, "jan.csv")
    changed = HEADER + "A1,1,2026-01-05,,,,,21.0\nA1,2,2026-01-12,,,,,22.0\nA1,3,2026-01-19,,,,,24.0\n"
    report = _import(con, registry, changed, "feb.csv")
    assert (report.rows_imported, report.rows_duplicate, report.rows_rejected) == (1, 1, 1)
    (conflict,) = report.conflicts
    assert (conflict["client_id"], conflict["stored_total"], conflict["new_total"]) == ("A1", 20.0, 21.0)
    assert report.errors[0].reason == "conflict" and "20" in report.errors[0].message
    stored = ratings(con)
    assert list(stored.total) == [20.0, 22.0, 24.0]


def test_the_same_session_twice_in_one_file_with_different_scores_keeps_the_first(con, registry):
    text = HEADER + "A1,1,2026-01-05,,,,,20.0\nA1,1,2026-01-05,,,,,20.0\nA1,1,2026-01-05,,,,,23.0\n"
    report = _import(con, registry, text)
    assert (report.rows_imported, report.rows_duplicate, report.rows_rejected) == (1, 1, 1)
    assert report.errors[0].reason == "conflicting_duplicate" and "row 1" in report.errors[0].message
    assert list(ratings(con).total) == [20.0]


def test_undo_removes_exactly_the_ratings_of_that_import(con, registry):
    a = _import(con, registry, HEADER + "A1,1,2026-01-05,,,,,20.0\n", "a.csv")
    b = _import(con, registry, HEADER + "B1,1,2026-01-05,,,,,30.0\nB1,2,2026-01-12,,,,,31.0\n", "b.csv")
    assert undo_import(con, b.import_id) == 2
    assert list(ratings(con).client_id) == ["A1"]
    undone = con.execute(
        "select undone_at is not null from imports where import_id = ?", [b.import_id]
    ).fetchall()
    assert undone == [(True,)]
    with pytest.raises(ValueError, match="already undone"):
        undo_import(con, b.import_id)
    again = _import(con, registry, HEADER + "B1,1,2026-01-05,,,,,30.0\nB1,2,2026-01-12,,,,,31.0\n", "b.csv")
    assert again.records_added == 2  # after an undo the same file imports again
    assert a.import_id < b.import_id < again.import_id


def test_sessions_without_numbers_are_numbered_by_date_across_imports_and_undo(con, registry):
    head = "Client ID,Appointment Date,PHQ-9 Total\n"
    later = _import(con, registry, head + "P1,02/10/2026,12\nP1,02/17/2026,10\n", "feb.csv")
    earlier = _import(con, registry, head + "P1,01/13/2026,15\nP1,02/10/2026,12\n", "jan.csv")
    assert earlier.rows_duplicate == 1 and earlier.records_added == 1
    stored = ratings(con)
    assert [d.date().isoformat() for d in stored.session_date] == ["2026-01-13", "2026-02-10", "2026-02-17"]
    assert list(stored.session_number) == [1, 2, 3]
    undo_import(con, earlier.import_id)
    assert list(ratings(con).session_number) == [1, 2]
    assert later.mapping["session_rule"] == "date_rank"


def test_an_unrecognised_layout_names_what_is_missing(con, registry):
    with pytest.raises(ImportError_, match="no column with the client code"):
        _import(con, registry, "Kennung,Tag,Punkte\nX1,2026-01-05,20\n")


def test_a_mapping_reads_an_unknown_layout_and_is_reused_for_the_same_columns(con, registry):
    text = "Kennung,Tag,Punkte\nX1,05.01.2026,20\nX1,12.01.2026,22.5\n"
    mapping = {
        "client_id": "Kennung",
        "session_date": "Tag",
        "measures": [{"measure": "ORS", "items": [], "total": "Punkte"}],
    }
    report = _import(con, registry, text, mapping=mapping)
    assert report.rows_imported == 2
    assert saved_mapping(con, signature(["Kennung", "Tag", "Punkte"]))["client_id"] == "Kennung"
    # The next file with the same columns needs no mapping.
    report = _import(con, registry, "Kennung,Tag,Punkte\nX2,19.01.2026,30\n", "next.csv")
    assert report.rows_imported == 1 and report.mapping["sources"] == {"": "saved"}
    assert sorted(ratings(con).client_id) == ["X1", "X1", "X2"]


def test_the_mapping_file_option_of_the_command(tmp_path, capsys):
    export = tmp_path / "odd.csv"
    export.write_text("Kennung;Tag;Punkte\nX1;05.01.2026;20,5\n", encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "client_id": "Kennung",
                "session_date": "Tag",
                "measures": [{"measure": "SRS", "total": "Punkte"}],
            }
        )
    )
    db = tmp_path / "s.duckdb"
    assert main(["import", "--db", str(db), "--json", "--mapping", str(mapping), str(export)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["records_by_measure"] == {"SRS": 1}
    con = connect(db, read_only=True)
    assert con.execute("select total from ratings").fetchall() == [(20.5,)]
    con.close()


def test_a_mapping_naming_missing_columns_is_refused_with_the_columns_listed(con, registry):
    mapping = {"client_id": "Nope", "measures": [{"measure": "ORS", "total": "ORS Total"}]}
    with pytest.raises(ImportError_, match="'Nope'"):
        _import(con, registry, HEADER + "A1,1,2026-01-05,,,,,20.0\n", mapping=mapping)


def test_an_email_used_as_client_code_is_refused_and_never_echoed(con, registry):
    text = "client_id,session_date,session_number,measure,total\nann@example.org,2026-01-05,1,ORS,20\n"
    report = _import(con, registry, text)
    assert report.refused and "'client_id'" in report.refused_reason
    assert "ann@example.org" not in json.dumps(report.to_dict())
    dropped = _import(con, registry, text, drop_identifiers=True)
    assert dropped.refused and "client code" in dropped.refused_reason
    assert ratings(con).empty


def test_a_bad_value_that_holds_an_email_is_masked_in_the_report(con, registry):
    text = HEADER + "A1,1,2026-01-05,,,,,call ann@example.org\n"
    report = _import(con, registry, text)
    assert report.rows_rejected == 1
    assert "ann@example.org" not in json.dumps(report.to_dict())
    assert "ann@example.org" not in rejected_rows_csv(con).decode()


def test_unknown_measures_in_a_long_file_are_rejected_by_name(con, registry):
    text = "client_id,session_date,session_number,measure,total\nC1,2026-01-05,1,ORS,20\nC1,2026-01-05,1,PCL-5,40\n"
    report = _import(con, registry, text)
    assert report.rows_imported == 1 and report.rows_rejected == 1
    (err,) = report.errors
    assert (err.reason, err.column, err.value) == ("unknown_measure", "measure", "PCL-5")


def test_ambiguous_day_month_dates_are_read_day_first_with_a_warning(con, registry):
    report = _import(con, registry, "Client,Date,ORS\nA,03/04/2026,20\nA,05/04/2026,22\n")
    assert any("day-first" in w for w in report.warnings)
    assert [d.date().isoformat() for d in ratings(con).session_date] == ["2026-04-03", "2026-04-05"]
    con.execute("delete from ratings")
    forced = _import(
        con,
        registry,
        "Client,Date,ORS\nB,03/04/2026,20\n",
        mapping={
            "client_id": "Client",
            "session_date": "Date",
            "date_format": "mdy",
            "measures": [{"measure": "ORS", "total": "ORS"}],
        },
    )
    assert forced.rows_imported == 1
    assert ratings(con).session_date[0].date().isoformat() == "2026-03-04"


def test_an_ending_column_is_read_as_planned_unplanned_or_ended_and_an_unknown_word_is_reported(
    con, registry
):
    from caseload.ingest import import_file

    csv = (
        b"client_id,session_date,session_number,measure,total,Discharge type\n"
        b"A,2026-01-05,1,ORS,18,\n"
        b"A,2026-01-12,2,ORS,27,Mutual\n"
        b"B,2026-01-05,1,ORS,18,\n"
        b"B,2026-01-12,2,ORS,16,Dropped out\n"
        b"C,2026-01-12,1,ORS,16,Closed\n"
        b"D,2026-01-12,1,ORS,16,moved away\n"
    )
    report = import_file(con, csv, file_name="endings.csv", registry=registry, today=date(2026, 6, 1))
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (6, 5, 1)
    (error,) = report.errors
    assert (error.row, error.column, error.value) == (6, "Discharge type", "moved away")
    assert "not an ending Caseload understands" in error.message
    stored = con.execute(
        "select client_id, ending from ratings where ending is not null order by 1"
    ).fetchall()
    assert stored == [("A", "planned"), ("B", "unplanned"), ("C", "ended")]


def test_a_discharge_column_of_dates_is_not_taken_for_the_ending(con, registry):
    from caseload.ingest import import_file

    csv = b"client_id,session_date,session_number,measure,total,Discharge\nA,2026-01-05,1,ORS,18,2026-02-01\n"
    report = import_file(con, csv, file_name="dates.csv", registry=registry, today=date(2026, 6, 1))
    assert report.rows_imported == 1 and report.rows_rejected == 0
    assert con.execute("select ending from ratings").fetchall() == [(None,)]
