"""A file's report and its stored ratings do not depend on what else the store holds.

A file that shares no client with the store is stored straight from its checks; one that does is matched
against the stored ratings first. Both must give the same counts, the same problems and the same ratings.
"""

from __future__ import annotations

from datetime import date

import pytest
from _stores import ratings_indexes

from caseload import audit
from caseload.ingest import import_file, load
from caseload.store import connect

TODAY = date(2026, 6, 1)
HEADER = (
    "client_id,clinician_id,session_date,session_number,measure,rater,ending,item1,item2,item3,item4,total\n"
)
FILE = (
    HEADER
    + "C1,T1,2026-01-05,1,ORS,,,4.5,5.0,4.0,5.0,18.5\n"
    + "C1,T1,2026-01-05,1,SRS,,,9.0,9.5,8.5,9.0,36.0\n"
    + "C1,T1,2026-01-12,2,ORS,,,4.5,5.0,4.0,5.0,19.0\n"  # items add up to 18.5
    + "C1,T1,2026-02-30,3,ORS,,,,,,,20.0\n"  # no such day
    + "C2,T1,2026-01-07,1,ORS,parent,,3.0,3.0,3.0,3.0,12.0\n"
    + "C2,T1,2026-01-14,2.5,ORS,,,3.0,3.0,3.0,3.0,12.0\n"  # not a session number
    + "C2,T1,2026-01-21,3,ORS,,planned,5.0,5.0,5.0,5.0,20.0\n"
    + "C2,T1,2026-01-28,4,XYZ,,,1,1,1,1,4\n"  # measure not in the registry
    + "C2,T1,2026-02-04,5,ORS,,,,,,,\n"  # no scores
    + "C3,T2,2026-01-09,1,SRS,,,11.0,9.0,9.0,9.0,38.0\n"  # an item above 10
    + ",T2,2026-01-09,1,ORS,,,5.0,5.0,5.0,5.0,20.0\n"  # no client
)
# A rating of C1 that no row of FILE repeats: it only makes C1 a client the store already knows.
OTHER = HEADER + "C1,T1,2025-06-02,50,ORS,,,1.0,1.0,1.0,1.0,4.0\n"


def _import(con, registry, text: str, name: str):
    return import_file(con, text.encode(), file_name=name, registry=registry, today=TODAY)


def _stored(con, import_id: int) -> list[tuple]:
    return con.execute(
        """select client_id, clinician_id, session_date, session_number, measure, rater, items, total,
                  total_source, source_row, ending
           from ratings where import_id = ? order by source_row""",
        [import_id],
    ).fetchall()


def _problems(con, import_id: int) -> list[tuple]:
    return con.execute(
        """select "row", line, "column", value, reason, message from rejected_rows
           where import_id = ? order by "row", reason""",
        [import_id],
    ).fetchall()


def test_a_file_is_reported_and_stored_alike_whether_or_not_the_store_knows_its_clients(registry):
    fresh = connect(":memory:")
    alone = _import(fresh, registry, FILE, "export.csv")
    known = connect(":memory:")
    _import(known, registry, OTHER, "earlier.csv")
    beside = _import(known, registry, FILE, "export.csv")

    counts = ("rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "records_added")
    assert [getattr(alone, c) for c in counts] == [11, 4, 0, 7, 4]
    assert [getattr(beside, c) for c in counts] == [getattr(alone, c) for c in counts]
    assert beside.records_by_measure == alone.records_by_measure == {"ORS": 3, "SRS": 1}
    assert [e.to_dict() for e in beside.errors] == [e.to_dict() for e in alone.errors]
    assert {e.reason for e in alone.errors} == {
        "items_total_mismatch",
        "invalid_date",
        "invalid_session",
        "unknown_measure",
        "no_scores",
        "out_of_range",
        "missing_client_id",
    }
    assert _stored(known, beside.import_id) == _stored(fresh, alone.import_id)
    assert _problems(known, beside.import_id) == _problems(fresh, alone.import_id)
    assert len(_problems(fresh, alone.import_id)) == 7


def test_a_file_that_repeats_a_session_keeps_the_first_rating_and_reports_the_repeat(con, registry):
    text = (
        HEADER
        + "C1,T1,2026-01-05,1,ORS,,,,,,,18.5\n"
        + "C1,T1,2026-01-12,2,ORS,,,,,,,20.0\n"
        + "C1,T1,2026-01-12,2,ORS,,,,,,,20.0\n"  # the same rating again
        + "C1,T1,2026-01-12,2,ORS,,,,,,,24.0\n"  # the same session, other scores
    )
    report = _import(con, registry, text, "repeats.csv")
    assert (report.rows_imported, report.rows_duplicate, report.rows_rejected) == (2, 1, 1)
    assert [e.reason for e in report.errors] == ["conflicting_duplicate"]
    assert [r[7] for r in _stored(con, report.import_id)] == [18.5, 20.0]
    assert con.execute("select count(*) from imports").fetchall()[0][0] == 1


def test_a_bulk_import_into_an_empty_store_leaves_the_client_index_in_place(con, registry, monkeypatch):
    monkeypatch.setattr(load, "BULK_RATINGS", 2)  # the 100,000-rating threshold, scaled to this file
    report = _import(con, registry, FILE, "export.csv")
    assert report.rows_imported == 4
    assert ratings_indexes(con) == ["ratings_client"]
    plan = con.execute("explain analyze select * from ratings where client_id = 'C2'").fetchall()[0][1]
    assert "Index Scan" in plan


def test_an_import_that_fails_while_storing_stores_nothing_and_keeps_the_client_index(
    con, registry, monkeypatch
):
    monkeypatch.setattr(load, "BULK_RATINGS", 2)

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _import(con, registry, FILE, "export.csv")
    assert con.execute("select count(*) from ratings").fetchall()[0][0] == 0
    assert con.execute("select count(*) from imports").fetchall()[0][0] == 0
    assert ratings_indexes(con) == ["ratings_client"]
