"""Bytes to grids: CSV (encoding, delimiter and quoting detected) and spreadsheets via python-calamine.

A grid keeps every physical row, header and title rows included, as text cells plus the row's physical
line (CSV line or worksheet row number), so later steps can report exactly where a problem is. Reading
never raises anything but ImportError_, with one message that names the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pyarrow as pa

from caseload.ingest.report import ImportError_
from caseload.safety import UnsafeUpload, check_workbook_zip

MAX_COLUMNS = 2_000  # far beyond any real export; a 10^6-column row is refused, not parsed into memory
MAX_CELLS = 200_000_000  # a sheet claiming more cells than this is refused before it is materialised
MAX_UNZIPPED = 1 << 30  # 1 GiB of uncompressed XML: beyond that an xlsx is treated as a zip bomb
MAX_RATIO = 200  # compression ratio above which a large zip member is treated as a bomb
MAX_FIELD = 1 << 20  # one cell longer than 1 MiB is not a rating export

DELIMITERS = (",", ";", "\t", "|")
SPREADSHEET_KINDS = ("xlsx", "xlsm", "ods", "xls")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class Grid:
    """One table of text cells as read: columns c0..cN (string or null) and _line (physical row number)."""

    name: str | None
    table: pa.Table
    kind: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_columns(self) -> int:
        return self.table.num_columns - 1

    def head(self, n: int = 40) -> list[tuple[int, list[str]]]:
        """The first n rows as (line, cells) with None cells as ''."""
        part = self.table.slice(0, n).to_pylist()
        return [(r["_line"], [r[f"c{i}"] or "" for i in range(self.n_columns)]) for r in part]


def file_kind(data: bytes, file_name: str) -> str:
    """'csv', 'xlsx', 'ods' or 'xls', decided by the content first and the file name second."""
    name = file_name.lower()
    if data.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
            raise ImportError_(f"{file_name}: a damaged zip archive, not a readable spreadsheet") from None
        if "content.xml" in names and "mimetype" in names:
            return "ods"
        if any(n.startswith("xl/") for n in names):
            return "xlsm" if name.endswith(".xlsm") else "xlsx"
        raise ImportError_(f"{file_name}: a zip archive that is not a spreadsheet (xlsx, xlsm or ods)")
    if data.startswith(_OLE_MAGIC):
        return "xls"
    return "csv"


def read_grids(data: bytes, file_name: str, sheet: str | None = None) -> list[Grid]:
    """Every sheet (or the CSV) as a grid; ImportError_ for anything that is not a readable table."""
    if not data or not data.strip():
        raise ImportError_(f"{file_name}: the file is empty")
    kind = file_kind(data, file_name)
    if kind == "csv":
        if sheet:
            raise ImportError_(f"{file_name}: a CSV file has no sheet {sheet!r}")
        return [read_csv_grid(data, file_name)]
    return read_spreadsheet_grids(data, file_name, kind, sheet)


# ---------------------------------------------------------------- CSV


def decode_text(data: bytes, file_name: str) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (with or without BOM), UTF-16, else Windows-1252."""
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "cp1252", "latin-1"]
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        _refuse_binary(text, file_name)
        return text, enc
    raise ImportError_(
        f"{file_name}: the text encoding could not be recognised (not UTF-8, UTF-16 or Windows-1252)"
    )


def _refuse_binary(text: str, file_name: str) -> None:
    sample = text[:65536]
    if "\x00" in sample or "\x00" in text:
        raise ImportError_(f"{file_name}: this is a binary file, not a CSV or spreadsheet export")
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    if controls > max(8, len(sample) // 100):
        raise ImportError_(f"{file_name}: this is a binary file, not a CSV or spreadsheet export")


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most fields most often (a table has > 1 column)."""
    lines = [ln for ln in text[:200_000].splitlines()[:60] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0, 0.0)
    sample = "\n".join(lines)
    for delim in DELIMITERS:
        try:
            counts = [
                len(r) for r in csv.reader(io.StringIO(sample), delimiter=delim) if any(c.strip() for c in r)
            ]
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=lambda n: (counts.count(n), n))
        score = (mode if mode > 1 else 0, max(counts), counts.count(mode) / len(counts))
        if score > best_score:
            best, best_score = delim, score
    return best


def read_csv_grid(data: bytes, file_name: str) -> Grid:
    """Parse a delimited text file into a grid, keeping each record's first physical line."""
    text, encoding = decode_text(data, file_name)
    delimiter = sniff_delimiter(text)
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    width = 0
    start = 1
    try:
        for record in reader:
            if len(record) > MAX_COLUMNS:
                raise ImportError_(
                    f"{file_name}: line {start} has {len(record):,} columns; Caseload reads at most "
                    f"{MAX_COLUMNS:,}. Is this really a ratings export?"
                )
            rows.append(record)
            lines.append(start)
            width = max(width, len(record))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportError_(f"{file_name}: line {reader.line_num} cannot be read as CSV ({exc})") from None
    if not rows or width == 0:
        raise ImportError_(f"{file_name}: the file holds no table")
    columns = {
        f"c{i}": pa.array([r[i] if i < len(r) else None for r in rows], pa.string()) for i in range(width)
    }
    columns["_line"] = pa.array(lines, pa.int64())
    return Grid(None, pa.table(columns), "csv", encoding=encoding, delimiter=delimiter)


# ---------------------------------------------------------------- spreadsheets


def _check_zip(data: bytes, file_name: str) -> None:
    try:  # entry count and unpacked size from the central directory, before any parsing
        check_workbook_zip(data, file_name)
    except UnsafeUpload as exc:
        raise ImportError_(str(exc)) from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        raise ImportError_(f"{file_name}: a damaged spreadsheet (the zip container cannot be read)") from None
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED:
        raise ImportError_(
            f"{file_name}: the spreadsheet would unpack to {total / 2**30:.1f} GiB; refused as a possible zip bomb"
        )
    for info in infos:
        if info.file_size > 50 * 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ImportError_(
                f"{file_name}: {info.filename} is compressed {info.file_size // max(info.compress_size, 1):,}:1; "
                "refused as a possible zip bomb"
            )


def cell_text(value: object) -> str | None:
    """A spreadsheet cell as text: whole numbers without '.0', dates as ISO, blanks as None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def read_spreadsheet_grids(data: bytes, file_name: str, kind: str, sheet: str | None) -> list[Grid]:
    """Each worksheet as a grid (or only ``sheet``), rows numbered as in the spreadsheet."""
    import python_calamine as pc

    if kind in ("xlsx", "xlsm", "ods"):
        _check_zip(data, file_name)
    try:
        workbook = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except Exception as exc:  # calamine raises several exception types for damaged files
        raise ImportError_(f"{file_name}: the spreadsheet cannot be read ({_first_line(exc)})") from None
    if sheet is not None:
        if sheet not in names:
            raise ImportError_(f"{file_name}: there is no sheet {sheet!r} (sheets: {', '.join(names)})")
        names = [sheet]
    grids = []
    for name in names:
        try:
            ws = workbook.get_sheet_by_name(name)
            end = ws.end
            height, width = (end[0] + 1, end[1] + 1) if end else (0, 0)
            if width > MAX_COLUMNS:
                raise ImportError_(
                    f"{file_name}: sheet {name!r} has {width:,} columns; Caseload reads at most {MAX_COLUMNS:,}"
                )
            if height * width > MAX_CELLS:
                raise ImportError_(
                    f"{file_name}: sheet {name!r} is too large ({height:,} rows x {width:,} columns)"
                )
            rows = ws.to_python(skip_empty_area=False)
        except ImportError_:
            raise
        except Exception as exc:
            raise ImportError_(f"{file_name}: sheet {name!r} cannot be read ({_first_line(exc)})") from None
        if not rows:
            continue
        grids.append(_grid_from_rows(name, rows, kind))
    if not grids:
        raise ImportError_(f"{file_name}: the workbook holds no cells")
    return grids


def _grid_from_rows(name: str, rows: list[list[object]], kind: str) -> Grid:
    width = max(len(r) for r in rows)
    columns: dict[str, pa.Array] = {}
    for i in range(width):
        columns[f"c{i}"] = pa.array([cell_text(r[i]) if i < len(r) else None for r in rows], pa.string())
    columns["_line"] = pa.array(range(1, len(rows) + 1), pa.int64())
    return Grid(name, pa.table(columns), kind)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
