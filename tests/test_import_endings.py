"""A later export that records how an episode ended, for ratings Caseload already holds.

The rows are duplicates (the ratings are stored), but the ending they add is applied, counted, shown as a
note and undone with the import that added it; an ending that contradicts the stored one is a conflict.
"""

from __future__ import annotations

import json
from datetime import date

from caseload.cli import main
from caseload.episodes import episodes
from caseload.ingest import import_file, undo_import
from caseload.store import connect

TODAY = date(2026, 6, 1)
HEADER = "client_id,clinician_id,session_date,session_number,measure,total"
EARLIER = (
    HEADER + "\n"
    "C1,T1,2026-01-05,1,ORS,18.0\n"
    "C1,T1,2026-01-12,2,ORS,24.5\n"
    "C1,T1,2026-01-19,3,ORS,29.0\n"
    "C2,T1,2026-01-06,1,ORS,20.0\n"
)


def _with_endings(endings: dict[tuple[str, int], str], extra: str = "") -> str:
    """EARLIER with an ending column, filled for the given (client, session)."""
    lines = EARLIER.strip().splitlines()
    out = [lines[0] + ",ending"]
    for line in lines[1:]:
        cells = line.split(",")
        out.append(line + "," + endings.get((cells[0], int(cells[3])), ""))
    return "\n".join(out) + "\n" + extra


def _import(con, registry, text: str, name: str):
    return import_file(con, text.encode(), file_name=name, registry=registry, today=TODAY)


def _stored_endings(con) -> dict[tuple[str, int], str | None]:
    rows = con.execute(
        "select client_id, session_number, ending from ratings where measure = 'ORS'"
    ).fetchall()
    return {(c, s): e for c, s, e in rows}


def test_a_later_export_gives_a_rating_stored_without_an_ending_its_ending(con, registry):
    _import(con, registry, EARLIER, "march.csv")
    report = _import(con, registry, _with_endings({("C1", 3): "planned"}), "june.csv")

    assert (report.rows_read, report.rows_imported, report.rows_duplicate, report.rows_rejected) == (
        4,
        0,
        4,
        0,
    )
    assert report.endings_added == 1 and report.records_added == 0
    assert report.errors == [] and report.conflicts == []
    assert any("got the episode ending" in w for w in report.warnings)
    assert "1 gave a stored rating its ending" in report.summary()
    assert _stored_endings(con)[("C1", 3)] == "planned"
    assert con.execute(
        "select endings_added from imports where import_id = ?", [report.import_id]
    ).fetchall() == [(1,)]
    episode = episodes(con, today=TODAY, client_id="C1").iloc[0]
    assert (episode["ending"], episode["ending_source"], bool(episode["active"])) == (
        "planned",
        "export",
        False,
    )


def test_undoing_the_import_that_added_an_ending_removes_only_that_ending(con, registry):
    first = _import(con, registry, EARLIER, "march.csv")
    later = _import(con, registry, _with_endings({("C1", 3): "unplanned"}), "june.csv")
    assert later.endings_added == 1

    assert undo_import(con, later.import_id) == 0  # it added no rating, only the ending
    assert _stored_endings(con) == {("C1", 1): None, ("C1", 2): None, ("C1", 3): None, ("C2", 1): None}
    assert undo_import(con, first.import_id) == 4


def test_an_ending_that_contradicts_the_stored_one_is_a_conflict_and_the_stored_ending_is_kept(con, registry):
    _import(con, registry, _with_endings({("C1", 3): "planned"}), "march.csv")
    report = _import(con, registry, _with_endings({("C1", 3): "unplanned"}), "june.csv")

    assert (report.rows_imported, report.rows_duplicate, report.rows_rejected) == (0, 3, 1)
    assert report.endings_added == 0
    (error,) = report.errors
    assert (error.row, error.line, error.column, error.value, error.reason) == (
        3,
        4,
        "ending",
        "unplanned",
        "conflict",
    )
    assert "'unplanned'" in error.message and "'planned'" in error.message
    (conflict,) = report.conflicts
    assert (conflict["client_id"], conflict["new_ending"], conflict["stored_ending"]) == (
        "C1",
        "unplanned",
        "planned",
    )
    assert _stored_endings(con)[("C1", 3)] == "planned"


def test_an_export_without_an_ending_leaves_the_stored_ending_alone(con, registry):
    _import(con, registry, _with_endings({("C1", 3): "planned"}), "march.csv")
    again = _import(con, registry, _with_endings({("C1", 3): "planned"}), "april.csv")
    silent = _import(con, registry, EARLIER, "june.csv")

    for report in (again, silent):
        assert (report.rows_duplicate, report.rows_rejected, report.endings_added) == (4, 0, 0)
        assert report.conflicts == []
    assert _stored_endings(con)[("C1", 3)] == "planned"


def test_a_changed_score_with_an_ending_is_still_a_score_conflict(con, registry):
    _import(con, registry, EARLIER, "march.csv")
    text = _with_endings({("C1", 3): "planned"}).replace("2026-01-19,3,ORS,29.0", "2026-01-19,3,ORS,31.0")
    report = _import(con, registry, text, "june.csv")

    assert (report.rows_duplicate, report.rows_rejected, report.endings_added) == (3, 1, 0)
    (error,) = report.errors
    assert error.reason == "conflict" and "stored total 29" in error.message
    assert _stored_endings(con)[("C1", 3)] is None


def test_the_import_command_reports_the_endings_it_added_in_its_json(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    march, june = tmp_path / "march.csv", tmp_path / "june.csv"
    march.write_text(EARLIER, encoding="utf-8")
    june.write_text(_with_endings({("C1", 3): "ended", ("C2", 1): "planned"}), encoding="utf-8")
    assert main(["import", "--db", str(db), "--json", str(march)]) == 0
    capsys.readouterr()
    assert main(["import", "--db", str(db), "--json", str(june)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert (report["rows_read"], report["rows_duplicate"], report["endings_added"]) == (4, 4, 2)
    con = connect(db)
    assert _stored_endings(con)[("C2", 1)] == "planned"
    con.close()


def test_a_session_repeated_in_one_file_keeps_the_ending_only_the_later_copy_gives(con, registry):
    # An export with the closing session twice, the ending filled on the second copy only.
    text = _with_endings({}, extra="C1,T1,2026-01-19,3,ORS,29.0,planned\n")
    report = _import(con, registry, text, "june.csv")
    assert (report.rows_read, report.rows_imported, report.rows_duplicate, report.rows_rejected) == (
        5,
        4,
        1,
        0,
    )
    assert _stored_endings(con)[("C1", 3)] == "planned"
    assert report.records_added == 4
    undo_import(con, report.import_id)
    assert not con.execute("select count(*) from ratings").fetchall()[0][0]


def test_a_later_copy_in_the_same_file_with_another_ending_is_reported_not_dropped(con, registry):
    text = _with_endings({("C1", 3): "planned"}, extra="C1,T1,2026-01-19,3,ORS,29.0,unplanned\n")
    report = _import(con, registry, text, "june.csv")
    assert (report.rows_imported, report.rows_duplicate, report.rows_rejected) == (4, 0, 1)
    assert _stored_endings(con)[("C1", 3)] == "planned"
    (error,) = report.errors
    assert (error.row, error.reason, error.value) == (5, "conflicting_duplicate", "unplanned")
    assert "planned" in error.message and "row 3" in error.message


def test_a_repeated_session_whose_later_copy_ends_a_stored_rating_gives_it_that_ending(con, registry):
    _import(con, registry, EARLIER, "march.csv")
    text = _with_endings({}, extra="C1,T1,2026-01-19,3,ORS,29.0,planned\n")
    report = _import(con, registry, text, "june.csv")
    assert (report.rows_imported, report.rows_duplicate, report.endings_added) == (0, 5, 1)
    assert _stored_endings(con)[("C1", 3)] == "planned"
