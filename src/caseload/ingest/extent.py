"""How far each sheet of an .xlsx/.xlsm/.ods reaches, read from its XML before calamine sees the file.

calamine builds every sheet as one dense block from the first to the last cell that holds a value, and the
whole process aborts (a Rust allocation failure, which no except clause can catch) when that block does not
fit in memory: one value at XFD1048576 asks for 549 GB, and an .ods cell repeated a billion times does the
same. The limits checked after loading therefore come too late; these scans check them first, streaming
the XML in blocks so that a hostile file is never unpacked into memory as a whole.
"""

from __future__ import annotations

import html
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHUNK = 1 << 22  # bytes of XML per block
MAX_TAG = 1 << 20  # a single tag longer than this is not from a spreadsheet program
MAX_SPACES = 1 << 20  # an .ods space run (text:s text:c) longer than one cell may be


@dataclass(frozen=True)
class Extent:
    """The block calamine would build for one sheet: rows and columns counted from A1."""

    rows: int
    columns: int

    def cells(self) -> int:
        return self.rows * self.columns

    def span(self) -> str:
        return f"A1:{column_name(self.columns - 1)}{self.rows}" if self.rows and self.columns else "nothing"


class SheetTooLarge(Exception):
    """A sheet reaches beyond the reader's limits (message: what and where, without the file name)."""


class SheetDamaged(Exception):
    """The sheet's XML cannot be read the way calamine would read it (message without the file name)."""


def column_name(index: int) -> str:
    """Spreadsheet column letters of a 0-based column index (0 -> A, 16383 -> XFD)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def check_extent(extent: Extent, where: str, max_columns: int, max_cells: int) -> None:
    if extent.columns > max_columns or extent.cells() > max_cells:
        raise SheetTooLarge(
            f"{where} spans {extent.span()} ({extent.rows:,} rows x {extent.columns:,} columns); "
            f"Caseload reads at most {max_columns:,} columns and {max_cells:,} cells per sheet"
        )


# ---------------------------------------------------------------- reading the XML in blocks


def _blocks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    try:
        with zf.open(info) as fh:
            while block := fh.read(CHUNK):
                yield block
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError):
        raise SheetDamaged(f"{info.filename} cannot be unpacked") from None


def _segments(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The XML cut before the last '<' of each block, so every tag lies whole in one segment."""
    carry = b""
    for block in blocks:
        buf = carry + block
        cut = buf.rfind(b"<")
        if cut < 0:
            cut = len(buf)
        yield buf[:cut]
        carry = buf[cut:]
        if len(carry) > MAX_TAG:  # one tag and then text without any '<': the text holds no tags
            end = carry.find(b">")
            if end < 0:
                raise SheetDamaged("it holds a tag longer than 1 MiB")
            yield carry[: end + 1]
            carry = b""
    if carry:
        yield carry


_ATTRS = re.compile(rb"""((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>""")
_ATTR = re.compile(rb"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _tags(segments: Iterator[bytes], pattern: re.Pattern[bytes]) -> Iterator[tuple[bool, bytes, dict, bool]]:
    """(closing, name, attributes, self_closing) of each tag the pattern's name group picks out."""
    for segment in segments:
        for m in pattern.finditer(segment):
            rest = _ATTRS.match(segment, m.end())
            if rest is None:
                raise SheetDamaged(f"a <{m.group(2).decode('ascii', 'replace')}> tag is malformed")
            attrs = {}
            if rest.group(1):
                for a in _ATTR.finditer(rest.group(1)):
                    attrs[a.group(1)] = a.group(2) if a.group(2) is not None else a.group(3)
            yield bool(m.group(1)), m.group(2), attrs, bool(rest.group(2))


# ---------------------------------------------------------------- xlsx / xlsm

# A cell tag not in the short form <c r="A1".."ZZ99999" (or another element starting with c, e.g. <col>).
_UNUSUAL_CELL = re.compile(rb'<c(?! r="[A-Z]{1,2}[1-9][0-9]{0,4}")')
_LONG_REF = re.compile(rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"')
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:") | frozenset(
    range(128, 256)
)
_SHORT = Extent(99_999, 702)  # the furthest any short-form cell can reach
_OVERLAP = 64  # longer than any short or long cell reference tag


def _letters_value(letters: bytes) -> int:
    value = 0
    for ch in letters.upper():
        value = value * 26 + ch - 64
    return value


def xlsx_extent_fast(blocks: Iterator[bytes]) -> Extent | None:
    """An upper bound on the sheet's block, from one regular-expression pass; None if any cell tag is
    written in a way this pass does not read (no r first, a namespace prefix, a far-out reference).

    Every cell written <c r="A1"> .. <c r="ZZ99999"> lies within 99,999 x 702; only the others are parsed.
    """
    rows = cols = 0
    carry = b""
    for block in blocks:
        buf = carry + block
        cut = max(len(buf) - _OVERLAP, 0)
        if _PREFIXED_CELL.search(buf):
            return None
        for m in _UNUSUAL_CELL.finditer(buf):
            at = m.start()
            if at >= cut:
                break
            if m.end() < len(buf) and buf[m.end()] in _NAME_BYTES:
                continue  # <col>, <cols>, <cfRule>, ...: not a cell
            ref = _LONG_REF.match(buf, at)
            if ref is None:
                return None
            rows, cols = max(rows, int(ref.group(2))), max(cols, _letters_value(ref.group(1)))
        carry = buf[cut:]
    return Extent(max(rows, _SHORT.rows), max(cols, _SHORT.columns))


_WIDE_REF = re.compile(rb'<c r="([A-Z]{2,3})[1-9]')
_DEEP_REF = re.compile(rb'<c r="[A-Z]{1,3}([1-9][0-9]{5,6})"')


def xlsx_extent_regular(blocks: Iterator[bytes]) -> Extent:
    """The block of a sheet whose cells are all written <c r="..."> (xlsx_extent_fast gave a bound): the
    furthest column and row actually referenced (at least 26 columns and 99,999 rows are assumed)."""
    rows, cols = _SHORT.rows, 26
    carry = b""
    for block in blocks:
        buf = carry + block
        cut = max(len(buf) - _OVERLAP, 0)
        for m in _WIDE_REF.finditer(buf, 0, cut + 9):
            if m.start() < cut:
                cols = max(cols, _letters_value(m.group(1)))
        for m in _DEEP_REF.finditer(buf):
            if m.start() < cut:
                rows = max(rows, int(m.group(1)))
        carry = buf[cut:]
    return Extent(rows, cols)


_XLSX_TAG = re.compile(rb"<(/?)(?:[^\s<>/:!?\"']+:)?(row|c|sheetData)(?=[\s/>])")
_REF = re.compile(rb"([A-Za-z]*)([0-9]*)")


def _position(ref: bytes, need_column: bool) -> tuple[int, int]:
    """calamine's reading of a reference: (0-based row, 0-based column or -1); SheetDamaged where it fails."""
    m = _REF.fullmatch(ref)
    if m is None or not m.group(2) or int(m.group(2)) == 0 or (need_column and not m.group(1)):
        raise SheetDamaged(f"a cell reference {ref.decode('ascii', 'replace')!r} cannot be read")
    return int(m.group(2)) - 1, _letters_value(m.group(1)) - 1


def xlsx_extent_exact(blocks: Iterator[bytes]) -> Extent:
    """The block calamine builds, tag by tag as calamine reads them: cells placed by their reference, or
    after the previous cell and row when they have none; a cell with content counts, an empty <c/> does not."""
    in_data = in_cell = False
    row_index = col_index = 0
    rows = cols = 0
    for closing, name, attrs, empty in _tags(_segments(blocks), _XLSX_TAG):
        if name == b"sheetData":
            in_data = not closing and not empty
            continue
        if not in_data:
            continue
        if in_cell:
            if name == b"c" and closing:
                in_cell = False
            continue
        if name == b"row":
            if not closing and b"r" in attrs:
                row_index = _position(attrs[b"r"], need_column=False)[0]
            if closing or empty:
                row_index, col_index = row_index + 1, 0
        elif not closing:  # a cell
            if b"r" in attrs:
                row, col = _position(attrs[b"r"], need_column=True)
            else:
                row, col = row_index, col_index
            col_index = col + 1
            if not empty:
                in_cell = True
                rows, cols = max(rows, row + 1), max(cols, col + 1)
    return Extent(rows, cols)


def xlsx_sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Lower-cased zip member name -> sheet name, resolved as calamine does (best effort, for messages)."""
    names = {_member_key(i.filename): i for i in zf.infolist()}

    def text(key: str) -> str:
        info = names.get(key)
        if info is None or info.file_size > 16 * 2**20:
            return ""
        try:
            return zf.read(info).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError):
            return ""

    targets = {}
    for rel in re.finditer(r"<(?:\w+:)?Relationship\b([^>]*)>", text("xl/_rels/workbook.xml.rels")):
        attrs = dict(re.findall(r"""(\w+)\s*=\s*["']([^"']*)["']""", rel.group(1)))
        if "Id" in attrs and "Target" in attrs:
            targets[attrs["Id"]] = html.unescape(attrs["Target"])
    parts = {}
    for sheet in re.finditer(r"<(?:\w+:)?sheet\b([^>]*)>", text("xl/workbook.xml")):
        attrs = dict(re.findall(r"""([\w:]+)\s*=\s*["']([^"']*)["']""", sheet.group(1)))
        rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
        if "name" in attrs and rid in targets:
            parts[_member_key(_resolve_target(targets[rid]))] = html.unescape(attrs["name"])
    return parts


def _member_key(name: str) -> str:
    return name.replace("\\", "/").lower()


def _resolve_target(target: str) -> str:
    t = target.replace("\\", "/")
    if t.startswith("/xl/"):
        return t[1:]
    if t.startswith("xl/"):
        return t
    return f"xl/{t.lstrip('/')}"


def xlsx_sheet_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every member calamine could read as a sheet: its path's second part is worksheets, chartsheets or
    dialogsheets (calamine refuses any other), in any letter case."""
    folders = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
    return [i for i in zf.infolist() if _member_key(i.filename).startswith(folders)]


def check_xlsx(zf: zipfile.ZipFile, max_columns: int, max_cells: int) -> None:
    """SheetTooLarge or SheetDamaged for the first sheet calamine could not hold in memory."""
    members = xlsx_sheet_members(zf)
    if not members:
        return
    parts = xlsx_sheet_parts(zf)

    def fits(e: Extent) -> bool:
        return e.columns <= max_columns and e.cells() <= max_cells

    for info in members:
        name = parts.get(_member_key(info.filename))
        where = f"sheet {name!r}" if name is not None else f"the sheet stored as {info.filename}"
        try:
            # Cheap bounds first; the tag-by-tag reading decides only when they are irregular or too large
            # (they count every cell tag, also the empty <c .../> calamine skips).
            extent = xlsx_extent_fast(_blocks(zf, info))
            if extent is not None and not fits(extent):
                extent = xlsx_extent_regular(_blocks(zf, info))
            if extent is None or not fits(extent):
                extent = xlsx_extent_exact(_blocks(zf, info))
        except SheetDamaged as exc:
            raise SheetDamaged(f"{where} is damaged: {exc}") from None
        check_extent(extent, where, max_columns, max_cells)


_ERROR_MARK = re.compile(rb"""\bt\s*=\s*["']e["']""")
_ERROR_CELL = re.compile(
    rb"""<(?:[\w.-]+:)?c\s([^>]*?\bt\s*=\s*["']e["'][^>]*?)(?<!/)>(.*?)</(?:[\w.-]+:)?c>""", re.S
)
_CELL_VALUE = re.compile(rb"<(?:[\w.-]+:)?v>([^<]*)</", re.S)


def xlsx_error_cells(zf: zipfile.ZipFile) -> dict[str, list[tuple[int, int, str]]]:
    """Sheet name -> (0-based row, 0-based column, text) of each cell holding an error value (#DIV/0!, #N/A,
    #VALUE! ...), which calamine reads as an empty string: so a formula error in a score cell is reported
    as that error, not taken for a blank. A sheet without one is only searched, not parsed."""
    parts = None
    found: dict[str, list[tuple[int, int, str]]] = {}
    for info in xlsx_sheet_members(zf):
        if not any(
            (b'"e"' in seg or b"'e'" in seg) and _ERROR_MARK.search(seg)
            for seg in _segments(_blocks(zf, info))
        ):
            continue
        parts = parts if parts is not None else xlsx_sheet_parts(zf)
        name = parts.get(_member_key(info.filename))
        if name is None:
            continue
        with zf.open(info) as fh:
            xml = fh.read()
        cells = []
        for m in _ERROR_CELL.finditer(xml):
            ref = next(
                (a.group(2) or a.group(3) for a in _ATTR.finditer(m.group(1)) if a.group(1) == b"r"), None
            )
            value = _CELL_VALUE.search(m.group(2))
            if ref is None or value is None:
                continue
            try:
                row, col = _position(ref, need_column=True)
            except SheetDamaged:
                continue
            cells.append((row, col, html.unescape(value.group(1).decode("utf-8", errors="replace")).strip()))
        if cells:
            found[name] = cells
    return found


# ---------------------------------------------------------------- ods

_ODS_TAG = re.compile(
    rb"<(/?)(table:table|table:table-row|table:table-cell|table:covered-table-cell|text:s)(?=[\s/>])"
)
_ODS_VALUES = (
    b"office:value",
    b"office:string-value",
    b"office:date-value",
    b"office:time-value",
    b"office:boolean-value",
)
_COUNT = re.compile(rb"\+?[0-9]+")


def _count(attrs: dict, key: bytes) -> int:
    raw = attrs.get(key)
    if raw is None:
        return 1
    value = html.unescape(raw.decode("utf-8", errors="replace")).encode()
    if not _COUNT.fullmatch(value):
        raise SheetDamaged(f"{key.decode()}={raw.decode('utf-8', 'replace')!r} is not a count")
    return int(value)


@dataclass
class _OdsTable:
    name: str
    rows_seen: int = 0  # rows so far, repeats included
    rows: int = 0  # up to the last row holding a value
    columns: int = 0  # up to the last cell holding a value, over all rows
    stored: int = 0  # cells calamine keeps while reading (repeats of cells before a value included)
    # the current row
    row_repeats: int = 1
    filled: int = 0
    pending: int = 0
    last_value_end: int = 0


def ods_extents(blocks: Iterator[bytes], on_table: Callable[[str, Extent, int], None]) -> None:
    """Calls on_table(name, extent, stored cells) for each table in content.xml, as calamine expands it:
    a cell or row repeated N times is N cells or rows, but repeats of empty cells at a row's end and empty
    rows at a table's end are dropped (LibreOffice's usual trailing 1024 columns and 1,048,000 rows)."""
    stack: list[_OdsTable] = []
    for closing, name, attrs, empty in _tags(_segments(blocks), _ODS_TAG):
        if name == b"table:table":
            if not closing:
                raw = attrs.get(b"table:name", b"")
                stack.append(_OdsTable(html.unescape(raw.decode("utf-8", errors="replace"))))
            if (closing or empty) and stack:
                t = stack.pop()
                on_table(t.name, Extent(t.rows, t.columns), t.stored)
            continue
        if not stack:
            continue
        t = stack[-1]
        if name == b"text:s":
            if not closing and _count(attrs, b"text:c") > MAX_SPACES:
                raise SheetDamaged(f"table {t.name!r} holds a run of more than {MAX_SPACES:,} spaces")
        elif name == b"table:table-row":
            if not closing:
                t.row_repeats = _count(attrs, b"table:number-rows-repeated")
                t.filled = t.pending = t.last_value_end = 0
            if closing or empty:
                t.stored += t.filled
                t.rows_seen += t.row_repeats
                if t.last_value_end:
                    t.rows = t.rows_seen
                    t.columns = max(t.columns, t.last_value_end)
        elif not closing:  # a cell
            repeats = _count(attrs, b"table:number-columns-repeated")
            t.filled += t.pending
            t.pending = 0
            has_value = (
                any(k in attrs for k in _ODS_VALUES)
                or attrs.get(b"office:value-type") == b"string"
                or bool(attrs.get(b"table:formula"))
            )
            if has_value:
                t.filled += repeats
                t.last_value_end = t.filled
            else:
                t.pending = repeats


def check_ods(zf: zipfile.ZipFile, max_columns: int, max_cells: int) -> None:
    """SheetTooLarge or SheetDamaged for the first table calamine could not hold in memory."""
    info = next((i for i in zf.infolist() if _member_key(i.filename) == "content.xml"), None)
    if info is None:
        return

    def one(name: str, extent: Extent, stored: int) -> None:
        where = f"sheet {name!r}"
        check_extent(extent, where, max_columns, max_cells)
        if stored > max_cells:
            raise SheetTooLarge(
                f"{where} repeats cells {stored:,} times; Caseload reads at most {max_cells:,} cells per sheet"
            )

    try:
        ods_extents(_blocks(zf, info), one)
    except SheetDamaged as exc:
        raise SheetDamaged(f"content.xml is damaged: {exc}") from None
