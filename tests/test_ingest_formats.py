"""Real .ods and .xls files import exactly like the CSV or .xlsx they were made from.

The files are written in tmp_path (never committed): .ods by pandas through odfpy, legacy .xls by xlwt,
from the committed sample caseload (long layout, date cells, numbers, blanks, endings) and from the shared
example workbooks (title row, several sheets, numbers stored as text, formula totals, date cells).
"""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import python_calamine
import xlwt

from caseload.cli import main
from caseload.ingest import ImportError_, import_file
from caseload.ingest.read import read_grids
from caseload.measures import load_measures
from caseload.store import connect

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "sample_caseload.csv"
REGISTRY = load_measures()
TODAY = date(2027, 6, 1)  # after every date in the sample and the examples: no row is a future date
FORMATS = ("ods", "xls")
ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"

Sheets = dict[str, list[list[object]]]


# ---------------------------------------------------------------- writing the files


def sample_cells() -> Sheets:
    """The sample caseload as typed cells: real dates, whole session numbers, float scores, blanks as None."""
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]

    def typed(column: str, text: str) -> object:
        if text == "":
            return None
        if column == "session_date":
            return datetime.fromisoformat(text)
        if column == "session_number":
            return int(text)
        if column.startswith("item_") or column == "total":
            return float(text)
        return text

    return {
        "Ratings": [header] + [[typed(c, v) for c, v in zip(header, row, strict=True)] for row in rows[1:]]
    }


def workbook_cells(path: Path) -> Sheets:
    """Every sheet's cells as Excel last saved them (formula cells as their cached values)."""
    wb = openpyxl.load_workbook(path, data_only=True)
    return {ws.title: [[cell.value for cell in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def write_ods(sheets: Sheets, path: Path) -> Path:
    with pd.ExcelWriter(path, engine="odf") as writer:
        for name, rows in sheets.items():
            pd.DataFrame(rows).to_excel(writer, sheet_name=name, header=False, index=False)
    return path


def write_xls(sheets: Sheets, path: Path) -> Path:
    """A BIFF8 workbook: dates as date-formatted numbers (Excel's date cells), blanks left empty."""
    book = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for name, rows in sheets.items():
        ws = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, date):
                    ws.write(r, c, value, date_style)
                else:
                    ws.write(r, c, value)
    book.save(str(path))
    return path


def write_as(fmt: str, sheets: Sheets, path: Path) -> Path:
    return (write_ods if fmt == "ods" else write_xls)(sheets, path.with_suffix(f".{fmt}"))


def cells_read_back(path: Path, sheet: str) -> list[list[object]]:
    """The raw cells the reader's engine sees, to prove the file holds date cells and text numbers."""
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


# ---------------------------------------------------------------- importing


def imported(path: Path):
    """The report and every stored rating (import id aside) as a sorted frame."""
    con = connect(":memory:")
    try:
        report = import_file(con, path, registry=REGISTRY, today=TODAY)
        ratings = con.execute("select * exclude (import_id) from ratings order by all").df()
    finally:
        con.close()
    assert report.rows_read == report.rows_imported + report.rows_duplicate + report.rows_rejected
    return report, ratings


def assert_same_import(got, expected) -> None:
    (report, ratings), (want_report, want_ratings) = got, expected
    counts = ("rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "records_added")
    assert {k: getattr(report, k) for k in counts} == {k: getattr(want_report, k) for k in counts}
    assert report.records_by_measure == want_report.records_by_measure
    if want_report.sheets:  # a CSV has no sheets; a workbook's must all be read, in order
        assert report.sheets == want_report.sheets
    assert [(e.row, e.reason) for e in report.errors] == [(e.row, e.reason) for e in want_report.errors]
    assert sorted(ratings.client_id.unique()) == sorted(want_ratings.client_id.unique())
    assert ratings.groupby("measure").total.sum().round(6).to_dict() == (
        want_ratings.groupby("measure").total.sum().round(6).to_dict()
    )
    pd.testing.assert_frame_equal(ratings, want_ratings)


def read_in_child(path, name: str) -> subprocess.CompletedProcess:
    """Read ``path`` as ``name`` in a child process (a reader abort must not take pytest down); the child
    prints the ImportError_ message, and must itself exit cleanly."""
    script = (
        "import sys; from caseload.ingest import ImportError_; from caseload.ingest.read import read_grids\n"
        "try: read_grids(open(sys.argv[1], 'rb').read(), sys.argv[2])\n"
        "except ImportError_ as exc: print(exc)"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(path), name], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr[-500:]
    return child


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_sample_caseload_as_ods_or_xls_imports_exactly_like_the_csv(fmt, tmp_path):
    path = write_as(fmt, sample_cells(), tmp_path / "sample_caseload")
    first = cells_read_back(path, "Ratings")[1]
    assert isinstance(first[2], date) and isinstance(first[7], float)  # real date and number cells

    expected = imported(SAMPLE)
    got = imported(path)
    assert_same_import(got, expected)
    report, ratings = got
    assert report.rows_imported == 404 and report.rows_rejected == 0
    assert ratings.ending.notna().sum() == expected[1].ending.notna().sum() > 0
    scored = ratings.dropna(subset=["items"])
    lengths = scored.groupby("measure")["items"].agg(lambda s: set(map(len, s))).to_dict()
    assert lengths == {"GAD7": {7}, "ORS": {4}, "PHQ9": {9}, "SRS": {4}}  # blank item cells are not scores
    total_only = ratings["items"].isna()
    assert total_only.sum() > 0 and (ratings.total_source[total_only] == "total").all()  # never invented


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("example", ["ors_srs_workbook.xlsx", "ors_srs_scoring_sheet.xlsx"])
def test_a_messy_workbook_as_ods_or_xls_imports_exactly_like_the_xlsx(example, fmt, shared_data, tmp_path):
    original = shared_data / "exports" / example
    manifest = {f["file"]: f for f in json.loads((original.parent / "manifest.json").read_text())["files"]}
    sheets = workbook_cells(original)
    path = write_as(fmt, sheets, tmp_path / original.stem)

    expected = imported(original)
    got = imported(path)
    assert_same_import(got, expected)
    report, ratings = got
    want = manifest[example]["expected"]
    assert (report.rows_imported, report.rows_rejected) == (want["rows_imported"], want["rows_rejected"])
    assert ratings.client_id.nunique() == want["n_clients"]
    if example == "ors_srs_scoring_sheet.xlsx":  # item scores stored as text stay text in the new file
        assert cells_read_back(path, "Scores")[3][2] == "0.6"
    else:
        assert list(sheets) == ["Read me", "ORS", "SRS"]
        assert set(ratings.measure) == {"ORS", "SRS"}
        assert isinstance(cells_read_back(path, "ORS")[2][2], date)


def run_cli(capsys, db: Path, *args: str) -> tuple[int, list[dict], str]:
    code = main(["import", "--db", str(db), "--json", *map(str, args)])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else []), out.err


def test_caseload_import_json_reads_an_ods_and_an_xls_like_the_csv(capsys, tmp_path):
    cells = sample_cells()
    code, [want], _ = run_cli(capsys, tmp_path / "csv.duckdb", SAMPLE)
    assert code == 0
    for fmt in FORMATS:
        path = write_as(fmt, cells, tmp_path / "sample_caseload")
        code, [report], err = run_cli(capsys, tmp_path / f"{fmt}.duckdb", path)
        assert code == 0, err
        for key in ("rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "records_by_measure"):
            assert report[key] == want[key], key
        assert report["rows_imported"] > 0


# ---------------------------------------------------------------- damaged and unsafe files


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_truncation_of_an_ods_or_xls_gives_one_message_naming_the_file(fmt, capfd, tmp_path):
    path = write_as(fmt, sample_cells(), tmp_path / "sample_caseload")
    data = path.read_bytes()
    # Every 512-byte boundary (where .xls sectors end) and odd offsets between them, from the first 8 bytes
    # on (a shorter stump is not recognisable as a spreadsheet at all).
    cuts = sorted({*range(512, len(data), 512), *range(8, len(data), 389), len(data) - 1})
    messages = set()
    for cut in cuts:
        with pytest.raises(ImportError_) as caught:
            read_grids(data[:cut], path.name)
        messages.add(str(caught.value))
    assert all(m.startswith(f"{path.name}: ") for m in messages)
    assert "panicked" not in capfd.readouterr().err  # no Rust panic from the spreadsheet engine


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_ods_or_xls_stops_caseload_import_with_exit_code_2(fmt, capsys, tmp_path):
    path = write_as(fmt, sample_cells(), tmp_path / "sample_caseload")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 2 // 3])
    db = tmp_path / "store.duckdb"
    code, reports, err = run_cli(capsys, db, path)
    assert code == 2 and reports == []
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert path.name in err and ("incomplete" in err or "damaged" in err)
    con = connect(db)  # read-write: the same configuration as the CLI's connection in this process
    try:
        assert con.execute("select count(*) from ratings").fetchall() == [(0,)]
    finally:
        con.close()


def test_an_xls_with_a_cell_past_the_last_column_is_refused_without_killing_the_process(tmp_path):
    """A damaged column number made calamine allocate 65,536 x 60,001 cells and abort the interpreter:
    checked in a child process, so a regression fails this test instead of killing pytest."""
    rows: list[list[object]] = [["client_id", "session_date", "measure", "total"]]
    rows += [[None] * 4] * 65534 + [["A-1", None, "ORS", 12345.678]]
    path = write_xls({"Ratings": rows}, tmp_path / "damaged.xls")
    data = bytearray(path.read_bytes())
    at = data.index(struct.pack("<d", 12345.678)) - 4  # NUMBER record body: row, column, format, value
    assert struct.unpack_from("<HH", data, at - 2) == (65535, 3)
    struct.pack_into("<H", data, at, 60_000)
    path.write_bytes(bytes(data))
    child = read_in_child(path, "damaged.xls")
    assert child.stdout.startswith("damaged.xls: ") and "256 columns" in child.stdout


def test_an_xls_with_an_email_column_is_refused_like_the_csv(tmp_path):
    cells = sample_cells()["Ratings"]
    rows = [cells[0] + ["Email"]] + [row + [f"{row[0].lower()}@example.org"] for row in cells[1:]]
    xls = write_xls({"Ratings": rows}, tmp_path / "with_email.xls")
    csv_path = tmp_path / "with_email.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for row in rows:
            writer.writerow(["" if v is None else v.date() if isinstance(v, datetime) else v for v in row])

    for path in (csv_path, xls):
        con = connect(":memory:")
        try:
            report = import_file(con, path, registry=REGISTRY, today=TODAY)
            assert report.refused and "Email" in report.refused_reason
            assert [c["column"] for c in report.identifier_columns] == ["Email"]
            assert report.rows_rejected == report.rows_read == 404
            assert con.execute("select count(*) from ratings").fetchall() == [(0,)]
            stored = con.execute("select * from rejected_rows").df().to_csv()
            assert "@example.org" not in stored
        finally:
            con.close()


# ---------------------------------------------------------------- the Import page


def test_an_ods_workbook_uploaded_on_the_import_page_imports_every_sheet(monkeypatch, shared_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    path = write_ods(workbook_cells(shared_data / "exports" / "ors_srs_workbook.xlsx"), tmp_path / "book.ods")
    monkeypatch.setenv("CASELOAD_DB", str(tmp_path / "store.duckdb"))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("views/import_data.py").run()
    at.file_uploader(key="upload").upload(path.name, path.read_bytes(), ODS_MIME).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == ["ORS", "SRS"]
    at.button(key="do_import").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Rows read": "225", "Imported": "225", "Duplicate": "0", "Rejected": "0"}


# ---------------------------------------------------------------- sheets that reach too far

ODS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content'
    ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:spreadsheet><table:table table:name="Ratings">'
)
ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"
ODS_EMPTY = '<table:table-cell table:number-columns-repeated="{}"/>'


def ods_row(cells: list[object], repeated: int = 1) -> str:
    """One content.xml row: text cells as strings, numbers as floats, raw '<' strings as written."""
    parts = []
    for value in cells:
        if isinstance(value, str) and value.startswith("<"):
            parts.append(value)
        elif isinstance(value, str):
            parts.append(
                f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'
            )
        else:
            parts.append(
                f'<table:table-cell office:value-type="float" office:value="{value}"><text:p>{value}</text:p>'
                "</table:table-cell>"
            )
    attr = f' table:number-rows-repeated="{repeated}"' if repeated > 1 else ""
    return f"<table:table-row{attr}>{''.join(parts)}</table:table-row>"


def write_raw_ods(path: Path, rows_xml: str) -> Path:
    """An .ods whose content.xml is written by hand, as LibreOffice (or a hostile tool) would."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), ODS_MIME)
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODS_MIME}"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        zf.writestr("content.xml", ODS_HEAD + rows_xml + ODS_TAIL)
    return path


SMALL_TABLE = [["client_id", "session_date", "measure", "total"]] + [
    [f"A-{i}", f"2026-01-0{i + 1}", "ORS", 20.0 + i] for i in range(3)
]


def write_xlsx_with(path: Path, extra_rows_xml: str) -> Path:
    """A small real .xlsx (openpyxl) with raw rows appended to its sheetData."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ratings"
    for row in SMALL_TABLE:
        ws.append(row)
    plain = path.with_name("plain.xlsx")
    wb.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", extra_rows_xml.encode() + b"</sheetData>")
            out.writestr(info, data)
    return path


# Each of these made calamine (0.37, in python-calamine 0.9.1) allocate the whole block from A1 to the
# furthest cell, 32 bytes a cell, and abort the interpreter (the .xlsx ones), or is the .ods form of such a
# block (calamine caps .ods repeats at 16,384 x 1,048,576, which still asks for 549 GB). Raw rows -> what
# the refusal names.
HOSTILE_XLSX = {
    "corner": ('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "A1:XFD1048576"),  # 549 GB
    "wide_and_deep": ('<row r="1048576"><c r="ZZ1048576"><v>1</v></c></row>', "A1:ZZ1048576"),  # 23 GB
    "far_right": ('<row r="5"><c r="XFD5"><v>1</v></c></row>', "A1:XFD5"),
    "empty_text_far_out": (
        '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t></t></is></c></row>',
        "A1:XFD1048576",
    ),
    "huge_row_number": ('<row r="4000000000"><c r="A4000000000"><v>1</v></c></row>', "A1:D4000000000"),
    "no_reference": (  # placed after the previous cell: the last one lands in column XFE
        '<row r="1048576"><c><v>1</v></c></row><row r="5"><c r="XFD5"><v>1</v></c><c><v>2</v></c></row>',
        "A1:XFE1048576",
    ),
    "prefixed": (
        '<row r="1048576"><x:c xmlns:x="urn:x" r="XFD1048576"><x:v>1</x:v></x:c></row>',
        "A1:XFD1048576",
    ),
}
HOSTILE_ODS = {
    "repeated_value_columns": (
        ods_row(
            [
                1,
                '<table:table-cell office:value-type="float" office:value="1" '
                'table:number-columns-repeated="1000000000"/>',
            ]
        ),
        "(5 rows x 1,000,000,001 columns)",
    ),
    "repeated_value_rows": (ods_row([1], repeated=1_000_000_000), "(1,000,000,004 rows x 4 columns)"),
    "far_corner": (ods_row([ODS_EMPTY.format(16383), 1]) + ods_row([1], repeated=1_048_000), "A1:XFD1048005"),
    "empty_cells_kept_per_row": (  # an empty run before another cell is kept, even in an empty row
        "".join(ods_row([ODS_EMPTY.format(100_000_000), ODS_EMPTY.format(5)]) for _ in range(3)),
        "repeats cells 300,000,016 times",
    ),
    "space_run": (
        ods_row(
            [
                '<table:table-cell office:value-type="string"><text:p>a<text:s text:c="3000000000"/>'
                "</text:p></table:table-cell>"
            ]
        ),
        "a run of more than 1,048,576 spaces",
    ),
}


def hostile_file(kind: str, name: str, tmp_path: Path) -> tuple[Path, str]:
    """The file and the words its refusal must hold."""
    if kind == "xlsx":
        xml, expected = HOSTILE_XLSX[name]
        return write_xlsx_with(tmp_path / f"{name}.xlsx", xml), expected
    xml, expected = HOSTILE_ODS[name]
    rows = "".join(ods_row(r) for r in SMALL_TABLE) + xml
    return write_raw_ods(tmp_path / f"{name}.ods", rows), expected


@pytest.mark.parametrize("kind,name", [("xlsx", n) for n in HOSTILE_XLSX] + [("ods", n) for n in HOSTILE_ODS])
def test_a_sheet_reaching_past_the_limits_stops_caseload_import_with_one_line_and_exit_code_2(
    kind, name, tmp_path
):
    """Run in a child process: a regression aborts the child (and fails here), not pytest."""
    path, expected = hostile_file(kind, name, tmp_path)
    db = tmp_path / "store.duckdb"
    child = subprocess.run(
        [sys.executable, "-m", "caseload.cli", "import", "--db", str(db), "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 2, (child.returncode, child.stderr[-800:])
    lines = child.stderr.strip().splitlines()
    assert len(lines) == 1, child.stderr[-800:]
    assert lines[0].startswith(f"caseload: {path.name}: ") and expected in lines[0], lines[0]
    assert child.stdout.strip() in ("", "[]")
    if db.exists():
        con = connect(db)
        try:
            assert con.execute("select count(*) from ratings").fetchall() == [(0,)]
        finally:
            con.close()


def test_the_refusal_names_the_file_the_sheet_and_the_block_it_would_need(tmp_path):
    path, _ = hostile_file("xlsx", "corner", tmp_path)
    child = read_in_child(path, "corner.xlsx")
    assert child.stdout.strip() == (
        "corner.xlsx: sheet 'Ratings' spans A1:XFD1048576 (1,048,576 rows x 16,384 columns); "
        "Caseload reads at most 2,000 columns and 200,000,000 cells per sheet"
    )


def test_empty_formatted_cells_far_out_do_not_stop_an_xlsx(tmp_path):
    """Excel keeps formatting of empty cells as <c r=".." s=".."/>; calamine skips them, and so does the check."""
    path = write_xlsx_with(
        tmp_path / "formatted.xlsx",
        '<row r="1048576"><c r="XFD1048576" s="0"/></row><row r="20"><c r="A20" s="0"/><c s="0"/></row>',
    )
    [grid] = read_grids(path.read_bytes(), path.name)
    assert grid.head(10)[1:] == [
        (i + 2, [f"A-{i}", f"2026-01-0{i + 1}", "ORS", str(20 + i)]) for i in range(3)
    ]
    assert grid.n_columns == 4


def test_an_ods_with_libreoffices_trailing_empty_repeats_imports_like_the_csv(capsys, tmp_path):
    """LibreOffice ends rows with an empty cell repeated to column 1024 and the table with ~1,048,000 empty
    rows; calamine drops those, and the extent check must not count them either."""
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    width = len(rows[0])
    body = "".join(
        ods_row(
            [v.replace("&", "&amp;").replace("<", "&lt;") for v in row] + [ODS_EMPTY.format(1024 - width)]
        )
        for row in rows
    )
    body += ods_row([ODS_EMPTY.format(1024)], repeated=1_048_576 - len(rows))
    path = write_raw_ods(tmp_path / "libreoffice.ods", body)
    code, [want], _ = run_cli(capsys, tmp_path / "csv.duckdb", SAMPLE)
    code_ods, [got], err = run_cli(capsys, tmp_path / "ods.duckdb", path)
    assert code == 0 and code_ods == 0, err
    for key in ("rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "records_by_measure"):
        assert got[key] == want[key], key
    assert got["rows_imported"] > 0
