"""Bytes to grids: CSV (encoding, delimiter and quoting detected) and spreadsheets via python-calamine.

A grid keeps every physical row, header and title rows included, as text cells plus the row's physical
line (CSV line or worksheet row number), so later steps can report exactly where a problem is. Reading
never raises anything but ImportError_, with one message that names the file.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import math
import re
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pyarrow as pa

from caseload.ingest import arrays, extent
from caseload.ingest.report import ImportError_
from caseload.safety import UnsafeUpload, check_workbook_zip

MAX_COLUMNS = 2_000  # far beyond any real export; a 10^6-column row is refused, not parsed into memory
MAX_CELLS = 200_000_000  # a sheet claiming more cells than this is refused before it is materialised
MAX_UNZIPPED = 1 << 30  # 1 GiB of uncompressed XML: beyond that an xlsx is treated as a zip bomb
MAX_RATIO = 200  # compression ratio above which a large zip member is treated as a bomb
MAX_FIELD = 1 << 20  # one cell longer than 1 MiB is not a rating export
FAST_MIN_BYTES = 1 << 20  # CSV files from 1 MiB up are parsed by pyarrow (exactly as the csv module would)

DELIMITERS = (",", ";", "\t", "|")
SPREADSHEET_KINDS = ("xlsx", "xlsm", "ods", "xls")

_ZIP_MAGIC = b"PK\x03\x04"
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")  # below 32 except tab, LF, CR and form feed
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
    # Bytes no cell holds, where the reader could tell from the file at a glance (ASCII characters, and 0xA0
    # for a no-break space): later steps skip searching the cells for them. Empty when not known.
    absent: frozenset[bytes] = frozenset()

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
    if not data or data.isspace():  # isspace() stops at the first other byte; strip() copies the file
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
    controls = len(_CONTROL_CHARS.findall(sample))
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
    """Parse a delimited text file into a grid, keeping each record's first physical line.

    Large files go through pyarrow's multi-threaded CSV reader, with physical line numbers computed from
    the bytes; anything it cannot read exactly as Python's csv module would (ragged rows, stray quotes,
    old Mac line ends, invalid UTF-8) falls back to the csv module, so both give the same grid.
    """
    if len(data) >= FAST_MIN_BYTES and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if b"\x00" in data:
            raise ImportError_(f"{file_name}: this is a binary file, not a CSV or spreadsheet export")
        sample = data[:262_144]
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
                encoding = "cp1252"
            text = sample.decode(encoding, errors="ignore")
        _refuse_binary(text, file_name)
        grid = _read_csv_fast(data, file_name, encoding, sniff_delimiter(text))
        if grid is not None:
            return grid
    text, encoding = decode_text(data, file_name)
    return _read_csv_python(text, file_name, encoding, sniff_delimiter(text))


def _read_csv_python(text: str, file_name: str, encoding: str, delimiter: str) -> Grid:
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
        f"c{i}": arrays.string_array([r[i] if i < len(r) else None for r in rows]) for i in range(width)
    }
    columns["_line"] = arrays.int_array(lines)
    return Grid(None, arrays.table(columns), "csv", encoding=encoding, delimiter=delimiter)


def _read_csv_fast(data: bytes, file_name: str, encoding: str, delimiter: str) -> Grid | None:
    """pyarrow's reader for well-formed files (every record has the same number of fields), else None."""
    import pyarrow.csv as pacsv

    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    n_cr = data.count(b"\r") if b"\r" in data else 0  # one memchr pass when there is none
    if n_cr and n_cr != data.count(b"\r\n"):
        return None  # bare CR line ends: the csv module handles those
    quoted = b'"' in data
    if not n_cr and not quoted and data[bom : bom + 1] != b"\n":
        # No quotes: unless a line is blank (checked by the record count below), record k is on line k.
        n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        lines = np.arange(1, n_lines + 1, dtype=np.int64)
        first_end = data.find(b"\n", bom)
        first = data[bom : first_end if first_end >= 0 else len(data)]
    else:
        lines, first = _record_lines(data, bom)
    try:
        width = len(next(csv.reader([first.decode(encoding, errors="replace")], delimiter=delimiter)))
    except (StopIteration, csv.Error):
        return None
    if width > MAX_COLUMNS:
        raise ImportError_(
            f"{file_name}: line {int(lines[0])} has {width:,} columns; Caseload reads at most {MAX_COLUMNS:,}. "
            "Is this really a ratings export?"
        )
    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data[bom:] if bom else data),
            read_options=pacsv.ReadOptions(
                column_names=names,
                encoding="utf8" if encoding.startswith("utf-8") else encoding,
                block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=quoted,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError):
        return None
    if table.num_rows != len(lines) and not quoted and not n_cr:
        lines = _record_lines(data, bom)[0]  # blank lines, which pyarrow skipped: number the records again
    if table.num_rows != len(lines):
        return None  # a stray quote or blank-looking line: let the csv module decide
    table = table.append_column("_line", arrays.int_array(lines))
    return Grid(
        None,
        table,
        "csv",
        encoding=encoding,
        delimiter=delimiter,
        absent=_absent_bytes(data, quoted, delimiter),
    )


# Looked for in cells later: a comma (decimal commas), '@' (e-mail addresses) and whitespace (trimming).
_LOOKED_FOR = (b",", b"@", b" ", b"\t", b"\xa0")


def _absent_bytes(data: bytes, quoted: bool, delimiter: str) -> frozenset[bytes]:
    """Bytes no cell of a file read by pyarrow can hold: those not in the file at all (one memchr pass
    each), and without quotes the delimiter and line breaks, which then only separate cells.

    The file is UTF-8 or Windows-1252: an ASCII byte is that character in both, and a no-break space is
    the byte 0xA0 in both (C2 A0 in UTF-8), so a missing 0xA0 byte means no no-break space.
    """
    absent = {b for b in _LOOKED_FOR if b not in data}
    if not quoted:
        absent |= {b"\n", b"\r", delimiter.encode("ascii")}
    return frozenset(absent)


def _record_lines(data: bytes, bom: int) -> tuple[np.ndarray, bytes]:
    """The physical line each non-empty record starts on (newlines inside quotes do not end a record),
    and the first record's bytes."""
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    quotes = np.flatnonzero(raw == 34) if data.count(b'"') else np.zeros(0, dtype=np.int64)
    if len(quotes):
        outside = np.searchsorted(quotes, newlines) % 2 == 0
        ends, end_index = newlines[outside], np.flatnonzero(outside)
    else:
        ends, end_index = newlines, np.arange(len(newlines))
    starts = np.concatenate(([bom], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    lines = np.concatenate(([1], end_index + 2))
    lengths = stops - starts
    crlf = np.zeros(len(stops), dtype=bool)
    has_char = lengths > 0
    crlf[has_char] = raw[stops[has_char] - 1] == 13
    nonempty = (lengths - crlf) > 0
    first = bytes(data[starts[nonempty][0] : stops[nonempty][0]]) if nonempty.any() else b""
    return lines[nonempty].astype(np.int64), first


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


def _error_cells_of_checked_workbook(
    data: bytes, file_name: str, kind: str
) -> dict[str, list[tuple[int, int, str]]]:
    """Refuse a workbook whose sheet would not fit the reader's limits, before calamine loads it; the error
    values (#DIV/0!, #N/A ...) of an xlsx by sheet, which calamine would read as blanks.

    calamine allocates each sheet as one block from A1 to its furthest value, and aborts the whole process
    when that fails (one value at XFD1048576: 549 GB); the sizes checked after loading come too late.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if kind == "ods":
                extent.check_ods(zf, MAX_COLUMNS, MAX_CELLS)
                return {}
            extent.check_xlsx(zf, MAX_COLUMNS, MAX_CELLS)
            try:
                return extent.xlsx_error_cells(zf)
            except (extent.SheetDamaged, zipfile.BadZipFile, ValueError, OSError, RuntimeError):
                return {}  # not searchable: calamine then names what is wrong
    except extent.SheetTooLarge as exc:
        raise ImportError_(f"{file_name}: {exc}") from None
    except extent.SheetDamaged as exc:
        raise ImportError_(f"{file_name}: a damaged spreadsheet ({exc})") from None
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError):
        raise ImportError_(f"{file_name}: a damaged spreadsheet (the zip container cannot be read)") from None


def _check_ole(data: bytes, file_name: str) -> None:
    """Refuse an .xls whose compound-file container is cut short, before calamine parses it.

    calamine panics (a Rust panic, not an exception, with a backtrace on stderr) on some truncated files;
    the container's sector table says which sectors the file must hold, so a cut-off copy is named as such.
    """
    short = ImportError_(
        f"{file_name}: the .xls file is incomplete (cut short or damaged); export or copy it again"
    )
    if len(data) < 512:
        raise short
    shift = struct.unpack_from("<H", data, 30)[0]
    if shift not in (9, 12):  # 512- or 4096-byte sectors are the only ones the format allows
        raise short
    size = 1 << shift
    present = len(data) // size - 1  # whole sectors after the header; sector i starts at (i + 1) * size
    n_fat, first_dir = struct.unpack_from("<I", data, 44)[0], struct.unpack_from("<I", data, 48)[0]
    fat_ids = struct.unpack_from("<109I", data, 76)[: min(n_fat, 109)]
    if n_fat == 0 or first_dir >= present or any(i >= present for i in fat_ids):
        raise short
    fat = np.frombuffer(b"".join(data[(i + 1) * size : (i + 2) * size] for i in fat_ids), dtype="<u4")
    used = np.flatnonzero(fat != 0xFFFFFFFF)  # every sector not marked free must be in the file
    if used.size and used[-1] >= present:
        raise short
    if _biff_column_beyond_limit(_ole_workbook_stream(data, fat, size, first_dir)):
        raise ImportError_(
            f"{file_name}: the .xls file is damaged (a cell lies beyond the format's 256 columns); "
            "export or copy it again"
        )


_OLE_END = 0xFFFFFFFE
# BIFF cell records, each starting with (row, column): FORMULA, MULRK, MULBLANK, RSTRING, LABELSST, BLANK,
# NUMBER, LABEL, BOOLERR, RK. MULRK and MULBLANK end with their last column.
_BIFF_CELLS = frozenset({0x0006, 0x00BD, 0x00BE, 0x00D6, 0x00FD, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E})


def _ole_chain(blob: bytes, table: np.ndarray, size: int, start: int, offset: int) -> bytes | None:
    """The bytes of one sector chain (offset: where sector 0 starts in blob); None if the chain is broken."""
    ids: list[int] = []
    sector = start
    while sector != _OLE_END:
        if sector >= len(table) or len(ids) >= len(table) or offset + (sector + 1) * size > len(blob):
            return None
        ids.append(sector)
        sector = int(table[sector])
    return b"".join(blob[offset + i * size : offset + (i + 1) * size] for i in ids)


def _ole_workbook_stream(data: bytes, fat: np.ndarray, size: int, first_dir: int) -> bytes:
    """The Workbook (BIFF8) or Book (BIFF5) stream of a compound file; b"" if it has none or it cannot be
    followed (calamine then names the problem; a cut-off file was refused before)."""
    directory = _ole_chain(data, fat, size, first_dir, size)
    if directory is None or len(directory) < 128:
        return b""
    entries, root = {}, None
    for at in range(0, len(directory) - 127, 128):
        name_len, kind = struct.unpack_from("<HB", directory, at + 64)
        start, length = struct.unpack_from("<II", directory, at + 116)
        name = directory[at : at + max(0, min(name_len, 64) - 2)].decode("utf-16-le", errors="replace")
        if kind == 5:  # the root entry: where the mini stream lives
            root = root or (start, length)
        else:
            entries.setdefault(name, (start, length))
    found = entries.get("Workbook") or entries.get("Book")
    if found is None or root is None:
        return b""
    start, length = found
    if length >= struct.unpack_from("<I", data, 56)[0]:  # at or above the mini-stream cutoff (4096)
        stream = _ole_chain(data, fat, size, start, size)
    else:  # small streams live in 64-byte sectors inside the root entry's mini stream
        mini_size = 1 << struct.unpack_from("<H", data, 32)[0]
        root_start, root_length = root
        mini = _ole_chain(data, fat, size, root_start, size)
        table = _ole_chain(data, fat, size, struct.unpack_from("<I", data, 60)[0], size)
        if mini is None or table is None:
            return b""
        stream = _ole_chain(mini[:root_length], np.frombuffer(table, dtype="<u4"), mini_size, start, 0)
    return b"" if stream is None or len(stream) < length else stream[:length]


def _biff_column_beyond_limit(stream: bytes) -> bool:
    """True if a cell record names a column past 255: a damaged file on which calamine would try to
    allocate rows x 65,536 cells and abort the whole process (an abort no except clause can catch)."""
    at, end, unpack = 0, len(stream) - 4, struct.unpack_from
    while at <= end:
        kind, length = unpack("<HH", stream, at)
        if at + 4 + length > len(stream):
            break  # a record running past the stream's end: calamine reports that itself
        if kind in _BIFF_CELLS and length >= 4:
            if unpack("<H", stream, at + 6)[0] > 255:
                return True
            if kind in (0x00BD, 0x00BE) and length >= 6 and unpack("<H", stream, at + 2 + length)[0] > 255:
                return True
        at += 4 + length
    return False


def _is_reader_failure(exc: BaseException) -> bool:
    """True for calamine's errors, including a Rust panic (pyo3's PanicException is a BaseException)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


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

    errors: dict[str, list[tuple[int, int, str]]] = {}
    if kind in ("xlsx", "xlsm", "ods"):
        _check_zip(data, file_name)
        errors = _error_cells_of_checked_workbook(data, file_name, kind)
    else:
        _check_ole(data, file_name)
    try:
        workbook = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except BaseException as exc:  # calamine raises several exception types (and panics) for damaged files
        if not _is_reader_failure(exc):
            raise
        raise ImportError_(
            f"{file_name}: the spreadsheet cannot be read; it may be damaged or incomplete ({_first_line(exc)})"
        ) from None
    hidden = {
        m.name
        for m in getattr(workbook, "sheets_metadata", [])
        if str(getattr(m, "visible", "")).endswith("Hidden")
    }
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
            gc.disable()  # millions of new cell objects: generational GC passes would only cost time
            try:
                rows = ws.to_python(skip_empty_area=False)
            finally:
                gc.enable()
        except ImportError_:
            raise
        except BaseException as exc:
            if not _is_reader_failure(exc):
                raise
            raise ImportError_(f"{file_name}: sheet {name!r} cannot be read ({_first_line(exc)})") from None
        if not rows:
            continue
        for row, col, text in errors.get(name, ()):
            if row < len(rows) and col < len(rows[row]) and rows[row][col] in ("", None):
                rows[row][col] = text
        gc.disable()
        try:
            grids.append(_grid_from_rows(name, rows, kind))
        finally:
            gc.enable()
        if name in hidden:  # out of sight in the workbook, so say that its rows are read too
            grids[-1].notes.append(
                f"sheet {name!r} is hidden in the workbook; its rows were read like the others"
            )
        del rows
    if not grids:
        raise ImportError_(f"{file_name}: the workbook holds no cells")
    return grids


def _grid_from_rows(name: str, rows: list[list[object]], kind: str) -> Grid:
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [list(r) + [None] * (width - len(r)) for r in rows]
    columns: dict[str, pa.Array] = {f"c{i}": column_text(tuple(r[i] for r in rows)) for i in range(width)}
    columns["_line"] = arrays.int_array(np.arange(1, len(rows) + 1))
    return Grid(name, arrays.table(columns), kind)


def column_text(col: tuple[object, ...]) -> pa.Array:
    """A spreadsheet column as text cells (as cell_text gives), converted type by type in Arrow, not cell by cell."""
    import pyarrow.compute as pc  # here, not at the top: a CSV import never needs it

    types = set(map(type, col))
    if types <= {str}:
        return pa.array(col, pa.string())
    parts = []
    if str in types:
        parts.append(pa.array([v if v.__class__ is str else None for v in col], pa.string()))
    if float in types:
        floats = pa.array([v if v.__class__ is float else None for v in col], pa.float64())
        finite = pc.if_else(pc.is_finite(floats), pc.add(floats, 0.0), None)  # + 0.0: no '-0'
        parts.append(pc.cast(finite, pa.string()))
    if date in types:
        parts.append(
            pc.cast(pa.array([v if v.__class__ is date else None for v in col], pa.date32()), pa.string())
        )
    rest = types - {str, float, date, type(None)}
    if rest:
        parts.append(pa.array([cell_text(v) if v.__class__ in rest else None for v in col], pa.string()))
    if not parts:
        return pa.nulls(len(col), pa.string())
    return parts[0] if len(parts) == 1 else pc.coalesce(*parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
