"""Importing synthetic exports written in a test, with the row count checked, and the ratings read back."""

from __future__ import annotations

from datetime import date

from caseload.ingest import ImportReport, import_file

TODAY = date(2026, 6, 1)  # the day future dates are judged against


def import_export(con, registry, data: str | bytes, name: str = "export.csv", **kw) -> ImportReport:  # noqa: ANN001
    """Import ``data`` as the file ``name``; every row is stored, a duplicate or rejected."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    report = import_file(con, raw, file_name=name, registry=registry, today=TODAY, **kw)
    assert report.rows_read == report.rows_imported + report.rows_duplicate + report.rows_rejected
    return report


def stored_ratings(con, with_import: bool = False) -> list[tuple]:  # noqa: ANN001
    """(client, measure, session, date, total[, import]) of every stored rating, sorted."""
    extra = ", import_id" if with_import else ""
    rows = con.execute(
        "select client_id, measure, session_number, strftime(session_date, '%Y-%m-%d'), total"
        f"{extra} from ratings order by all"
    ).fetchall()
    return [tuple(r) for r in rows]
