"""Property tests: random and corrupted files never raise anything but ImportError_, and never lose a row."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload.ingest import ImportError_, import_file, read
from caseload.ingest.read import read_grids
from caseload.measures import load_measures
from caseload.store import connect

REGISTRY = load_measures()
TODAY = date(2026, 6, 1)
EXPORTS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "exports"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Cell text without control characters other than tab/newline: a NUL byte makes a file binary, refused whole.
printable = st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\t\n")
cells = st.one_of(
    st.text(printable, max_size=12),
    st.sampled_from(
        ["", " ", "ORS", "SRS", "PHQ9", "12.5", "7,4", "-3", "41", "N/A", '"', "a;b", "x\ny", "2026-02-30"]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def _check(report, con) -> None:
    """Every data row is stored, a duplicate, or reported: nothing vanishes."""
    assert report.rows_read == report.rows_imported + report.rows_duplicate + report.rows_rejected
    if report.refused:  # identifiers or --strict: the whole file is rejected, with the reason
        assert report.refused_reason and report.rows_rejected == report.rows_read
        return
    rejected = {(e.sheet, e.row) for e in report.errors if e.row_outcome == "rejected"}
    assert len(rejected) == report.rows_rejected
    if report.import_id is not None and not report.refused:
        stored_rows = con.execute(
            "select count(distinct source_row) from ratings where import_id = ?", [report.import_id]
        ).fetchall()[0][0]
        if not report.sheets or len(report.sheets) == 1:
            assert stored_rows == report.rows_imported


def _attempt(data: bytes, name: str) -> None:
    con = connect(":memory:")
    try:
        report = import_file(con, data, file_name=name, registry=REGISTRY, today=TODAY)
    except ImportError_ as exc:
        assert str(exc)  # one clear message
        return
    finally:
        pass
    _check(report, con)
    con.close()


@SETTINGS
@given(st.binary(max_size=3000), st.sampled_from(["f.csv", "f.xlsx", "f.ods", "f.xls", "f.txt"]))
def test_random_bytes_give_a_report_or_one_clear_message(data, name):
    _attempt(data, name)


@SETTINGS
@given(st.text(max_size=2000), st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_random_text_gives_a_report_or_one_clear_message(text, encoding):
    data = text.encode(encoding, errors="replace")
    _attempt(data, "text.csv")


@SETTINGS
@given(
    st.lists(st.lists(cells, min_size=0, max_size=9), min_size=0, max_size=30),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_every_non_blank_row_under_a_known_header_is_counted(rows, delimiter, newline):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["client_id", "session_date", "session_number", "measure", "total", "note"])
    for row in rows:
        writer.writerow(row)
    data = buf.getvalue().encode("utf-8")
    non_blank = sum(1 for r in rows if any(str(c).strip(" \t\r\n\u00a0") for c in r))
    for fast_from in (read.FAST_MIN_BYTES, 0):  # the csv module, then pyarrow's reader on the same bytes
        saved, read.FAST_MIN_BYTES = read.FAST_MIN_BYTES, fast_from
        con = connect(":memory:")
        try:
            report = import_file(con, data, file_name="rows.csv", registry=REGISTRY, today=TODAY)
        except ImportError_ as exc:
            pytest.fail(f"a file with a known header was refused: {exc}")
        finally:
            read.FAST_MIN_BYTES = saved
        assert report.rows_read == non_blank
        _check(report, con)
        con.close()


def _mutations():
    files = sorted(
        p.name
        for p in EXPORTS.glob("*")
        if p.suffix in (".csv", ".xlsx") and p.name != "expected_records.csv"
    )
    return st.tuples(
        st.sampled_from(files or ["missing"]),
        st.lists(st.tuples(st.integers(0, 20000), st.binary(min_size=0, max_size=8)), min_size=1, max_size=6),
        st.one_of(st.none(), st.integers(0, 20000)),
    )


@SETTINGS
@given(_mutations())
def test_corrupted_real_exports_never_crash_and_never_lose_a_row(mutation):
    if not EXPORTS.is_dir():
        pytest.skip("../shared/data is not beside the project")
    name, edits, cut = mutation
    data = bytearray((EXPORTS / name).read_bytes())
    for pos, junk in edits:
        pos %= max(len(data), 1)
        data[pos : pos + len(junk)] = junk
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _attempt(bytes(data), name)


def test_a_row_of_a_million_columns_is_refused_without_reading_it_into_a_table():
    data = b"client_id," + b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"
    with pytest.raises(ImportError_, match="columns"):
        read_grids(data, "wide.csv")


def test_a_zip_bomb_posing_as_a_workbook_is_refused_before_unpacking():
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 2**20))
    with pytest.raises(ImportError_, match="zip bomb"):
        read_grids(buf.getvalue(), "bomb.xlsx")
