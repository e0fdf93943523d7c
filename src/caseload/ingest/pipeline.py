"""import_file and preview_file: read, recognise, protect, validate and store one export.

Everything after reading happens inside DuckDB on registered Arrow tables, so a million-row file is
validated and stored with a handful of set-based statements. One file is one transaction.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd  # annotations only: the importer itself never needs pandas

from caseload import audit
from caseload.access import LOCAL_USER
from caseload.backup import backup_store, holds_nothing
from caseload.ingest import arrays, load
from caseload.ingest.ahead import ReadAhead, hashed, source_bytes
from caseload.ingest.layouts import ROLE_KEYS, Header, Recognition, find_header, recognise, referenced_columns
from caseload.ingest.privacy import SQL_EMAIL, SQL_IP, SQL_PHONE, Finding, header_kind, mask, refusal_message
from caseload.ingest.read import SPREADSHEET_KINDS, Grid, read_grids
from caseload.ingest.report import INFO_REASONS, ImportError_, ImportReport, RowError
from caseload.ingest.validate import (
    BLANK_CHARS,
    Block,
    block_sql,
    can_share_a_scan,
    choose_date_format,
    error_location,
    error_message,
    ident,
    q,
    txt,
)
from caseload.measures import Measure, normalise_measure_name
from caseload.store import next_import_id, transaction

Progress = Callable[[float, str], None]
MAX_REPORTED_ERRORS = 10_000
# Problems of the row itself (not of one measure): reported once per row, however many measures it holds.
ROW_LEVEL_REASONS = {
    "missing_client_id",
    "invalid_date",
    "future_date",
    "early_date",
    "missing_session",
    "invalid_session",
    "unknown_rater",
    "unknown_ending",
}
PREVIEW_ROWS = 20
RECOGNITION_ROWS = 20_000


@dataclass
class SheetPlan:
    """How one grid will be read: its header, mapping, where the mapping came from and its data table."""

    grid: Grid
    header: Header
    mapping: dict[str, Any]
    source: str  # 'given', 'saved' or 'recognised'
    signature: str
    layout: str
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # header name -> c{i}
    data: str = ""  # temp table name of the data rows
    n_rows: int = 0
    commas: set[str] = field(default_factory=set)  # columns (c-names) holding a comma somewhere
    ats: set[str] = field(default_factory=set)  # columns (c-names) holding an '@' somewhere
    findings: list[Finding] = field(default_factory=list)

    @property
    def sheet(self) -> str:
        return self.grid.name or ""


@dataclass
class SheetPreview:
    """What the Import page shows for one sheet before importing."""

    sheet: str
    layout: str
    header_row: int
    columns: list[str]
    mapping: dict[str, Any]
    mapping_source: str
    signature: str
    problems: list[str]
    notes: list[str]
    frame: pd.DataFrame
    identifiers: list[Finding]
    rows: int


@dataclass
class Preview:
    """The file as recognised: one SheetPreview per usable sheet, plus sheets that were skipped and why."""

    file: str
    sha256: str
    kind: str
    sheets: list[SheetPreview]
    skipped: list[str]
    sheet_names: list[str]

    @property
    def identifiers(self) -> list[Finding]:
        return [f for s in self.sheets for f in s.identifiers]


def signature(names: list[str]) -> str:
    """A column signature: the same column names, in any order and letter case, give the same signature (a
    mapping names its columns, so next month's file with its columns moved reads the same)."""
    return _hash_of(sorted(n.strip().lower() for n in names))


def _ordered_signature(names: list[str]) -> str:
    """The signature earlier versions saved mappings under (names in order): still looked up."""
    return _hash_of([n.strip().lower() for n in names])


def _hash_of(keys: list[str]) -> str:
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:32]


def _distinct_values(grid: Grid, header: Header, limit: int = 60) -> Callable[[str], list[str]]:
    names = header.names
    lines = arrays.ints(grid.table.column("_line"))
    # Recognition only needs to see what kind of values a column holds: the first rows are enough.
    body = grid.table.slice(int(np.searchsorted(lines, header.line, side="right")), RECOGNITION_ROWS)
    cache: dict[str, list[str]] = {}

    def values(name: str) -> list[str]:
        if name not in cache:
            if name not in names:
                return []
            # dict.fromkeys keeps first occurrences in order, as pyarrow's unique() would, without
            # importing pyarrow.compute (50 ms) for a CSV that needs nothing else from it.
            uniq = dict.fromkeys(body.column(f"c{names.index(name)}").to_pylist())
            cleaned = dict.fromkeys(v.strip() for v in uniq if v and v.strip())
            cache[name] = list(cleaned)[:limit]
        return cache[name]

    return values


def _sheet_mapping(mapping: dict[str, Any] | None, sheet: str) -> dict[str, Any] | None:
    if mapping is None:
        return None
    if "sheets" in mapping and isinstance(mapping["sheets"], dict):
        return mapping["sheets"].get(sheet)
    return mapping


def plan_sheets(
    con: duckdb.DuckDBPyConnection,
    grids: list[Grid],
    registry: dict[str, Measure],
    mapping: dict[str, Any] | None,
    file_name: str,
    keep_unrecognised: bool = False,
) -> tuple[list[SheetPlan], list[str]]:
    """A plan for every grid that holds ratings; grids that do not (a 'Read me' sheet) are listed as skipped."""
    plans, skipped = [], []
    for grid in grids:
        head = grid.head(40)
        given = _sheet_mapping(mapping, grid.name or "")
        label = f"sheet {grid.name!r}" if grid.name else file_name
        if mapping is not None and given is None:
            skipped.append(f"{label}: not in the mapping")
            continue
        if given is not None:
            _check_mapping_shape(given, file_name)
            wanted = set(referenced_columns(given))
            header = find_header(head, registry, wanted=wanted, line=given.get("header_row"))
            missing = [c for c in referenced_columns(given) if c not in header.names]
            if missing:
                problem = (
                    f"the mapping names column(s) {', '.join(map(repr, missing))} that {label} does not have"
                )
                if len(grids) > 1 and mapping is not None and "sheets" not in mapping:
                    skipped.append(f"{label}: {problem}")
                    continue
                raise ImportError_(
                    f"{file_name}: {problem} (columns: {', '.join(mask(n) for n in header.names[:40])})"
                )
            plan = SheetPlan(grid, header, dict(given), "given", signature(header.names), _describe(given))
        else:
            header = find_header(head, registry)
            sig = signature(header.names)
            saved = load.saved_mapping(con, sig) or load.saved_mapping(con, _ordered_signature(header.names))
            if saved is not None:  # the signature ignores case: read the columns in this file's spelling
                saved = _in_spelling_of(saved, header.names)
            if saved is not None and all(c in header.names for c in referenced_columns(saved)):
                header = find_header(head, registry, line=saved.get("header_row"))
                plan = SheetPlan(grid, header, saved, "saved", sig, _describe(saved))
                plan.notes.append("the mapping saved for files with these columns was applied")
            else:
                rec: Recognition = recognise(header, registry, _distinct_values(grid, header), grid.name)
                plan = SheetPlan(
                    grid, header, rec.mapping, "recognised", sig, rec.layout, rec.notes, rec.problems
                )
                if header.kind == "qualtrics":  # names, question text and (unless deleted) import ids
                    plan.mapping["header_rows"] = 1 + header.skip_after
        plan.columns = {name: f"c{i}" for i, name in enumerate(plan.header.names)}
        plan.notes[:0] = grid.notes  # what the reader noticed (a hidden sheet) comes first
        if plan.problems and not keep_unrecognised:
            if len(grids) > 1:
                skipped.append(f"{label}: {'; '.join(plan.problems)}")
                continue
            cols = ", ".join(repr(mask(n)) for n in plan.header.names[:40])
            raise ImportError_(
                f"{file_name}: the layout was not recognised: {'; '.join(plan.problems)}. "
                f"Columns found: {cols}. Map the columns on the Import page, or pass --mapping FILE."
            )
        plans.append(plan)
    if not plans:
        raise ImportError_(f"{file_name}: no sheet with ratings was recognised ({'; '.join(skipped)})")
    return plans, skipped


def _check_mapping_shape(mapping: Any, file_name: str) -> None:
    if not isinstance(mapping, dict) or not mapping.get("client_id"):
        raise ImportError_(
            f"{file_name}: the mapping must be a JSON object naming at least the client_id column"
        )
    if not mapping.get("measure_column") and not mapping.get("measures"):
        raise ImportError_(f"{file_name}: the mapping needs either measure_column or a measures list")
    # A hand-written mapping file may hold anything JSON allows: each key is checked for the shape the
    # import reads, so a wrong one is named instead of failing somewhere inside.
    wrong = [
        k for k in (*ROLE_KEYS, "total") if mapping.get(k) is not None and not isinstance(mapping[k], str)
    ]
    if not _is_names(mapping.get("items")):
        wrong.append("items")
    for key in ("measure_items", "measure_values", "values"):
        if not isinstance(mapping.get(key) or {}, dict):
            wrong.append(key)
    if not all(_is_names(v, allow_none=False) for v in (mapping.get("measure_items") or {}).values()):
        wrong.append("measure_items")
    entries = mapping.get("measures") or []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("measure"), str)
        and _is_names(e.get("items"))
        and all(e.get(k) is None or isinstance(e[k], str) for k in ("total", "skip", "session_date"))
        for e in entries
    ):
        wrong.append("measures")
    if wrong:
        raise ImportError_(
            f"{file_name}: the mapping's {', '.join(dict.fromkeys(wrong))} cannot be read: column names are "
            "text, items a list of column names, and measures a list of objects such as "
            '{"measure": "ORS", "items": [...], "total": "..."}'
        )


def _is_names(value: Any, allow_none: bool = True) -> bool:
    """True for a list of column names (None entries stand for absent items), or for None if allowed."""
    if value is None:
        return allow_none
    return isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)


def _describe(mapping: dict[str, Any]) -> str:
    if mapping.get("measure_column"):
        return "long: one row per client, session and measure"
    entries = mapping.get("measures") or []
    if any(e.get("session_number") is not None for e in entries):
        return "wide: one row per client, sessions across columns"
    return "one row per session, measures side by side"


# ----------------------------------------------------------------------------- data tables and privacy


def data_rows(table: pa.Table, header_line: int) -> pa.Table:
    """The data rows of a grid: below the header, not blank (cells of only spaces are blank), numbered _row."""
    lines = arrays.ints(table.column("_line"))
    body = table.slice(int(np.searchsorted(lines, header_line, side="right")))
    names = [n for n in body.column_names if n != "_line"]
    if not names:
        return body.append_column("_row", arrays.int_array(np.zeros(0, dtype=np.int64)))
    maybe = np.zeros(body.num_rows, dtype=bool)  # rows with any non-empty cell; cheap, no string copies
    for n in names:
        maybe |= arrays.filled(body.column(n))
        if maybe.all():
            break  # every row has a filled cell already (usually the first column says so)
    if not maybe.all():
        body = body.filter(arrays.bool_array(maybe))
    # Of those, rows whose only content is whitespace are blank too: check column by column, only where needed.
    # A filled cell whose first byte is not whitespace has content; only the others are trimmed to see.
    undecided = np.arange(body.num_rows)
    for n in names:
        if len(undecided) == 0:
            break
        column = body.column(n)
        cells = column if len(undecided) == body.num_rows else column.take(arrays.int_array(undecided))
        filled = arrays.filled(cells)
        edge = filled & _starts_with_edge(cells)
        content = filled & ~edge
        if edge.any():
            import pyarrow.compute as pc

            spaced = np.flatnonzero(edge)
            trimmed = pc.utf8_trim(cells.take(arrays.int_array(spaced)), characters=BLANK_CHARS)
            content[spaced[arrays.filled(trimmed)]] = True
        undecided = undecided[~content]
    if len(undecided):
        blank = np.zeros(body.num_rows, dtype=bool)
        blank[undecided] = True
        body = body.filter(arrays.bool_array(~blank))
    return body.append_column("_row", arrays.int_array(np.arange(1, body.num_rows + 1, dtype=np.int64)))


def _register(con: duckdb.DuckDBPyConnection, plan: SheetPlan, uid: str, k: int) -> None:
    plan.data = f"_cl_data_{uid}_{k}"
    absent = plan.grid.absent  # what the reader knows no cell holds need not be searched for
    table = data_rows(plan.grid.table, int(plan.header.line))
    if not absent >= set(_BLANK_BYTES):
        table = tidy_cells(table)
    cells = [n for n in table.column_names if n.startswith("c")]
    plan.commas = set() if b"," in absent else {n for n in cells if _has_byte(table.column(n), b",")}
    plan.ats = set() if b"@" in absent else {n for n in cells if _has_byte(table.column(n), b"@")}
    con.register(plan.data, table)
    plan.n_rows = table.num_rows


def _has_byte(column: pa.ChunkedArray, byte: bytes) -> bool:
    return any(
        bool(np.any(raw[off[0] : off[-1]] == byte[0])) for _chunk, off, raw in arrays.string_chunks(column)
    )


_EDGE_FIRST = np.zeros(256, dtype=bool)
_EDGE_FIRST[[0x20, 0x09, 0x0A, 0x0D, 0xC2]] = True  # 0xC2: first byte of a UTF-8 no-break space
_BLANK_BYTES = (b" ", b"\t", b"\n", b"\r", b"\xa0")  # the bytes of BLANK_CHARS (a no-break space ends in A0)
_EDGE_LAST = np.zeros(256, dtype=bool)
_EDGE_LAST[[0x20, 0x09, 0x0A, 0x0D, 0xA0]] = True  # 0xA0: its last byte


def _starts_with_edge(column: pa.ChunkedArray) -> np.ndarray:
    """Per cell: True where a filled cell's first byte may begin whitespace (meaningless for empty cells)."""
    parts = [
        _EDGE_FIRST.take(raw.take(off[:-1], mode="clip")) if len(raw) else np.zeros(len(off) - 1, dtype=bool)
        for _chunk, off, raw in arrays.string_chunks(column)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _needs_trim(column: pa.ChunkedArray) -> bool:
    """True when some cell starts or ends with whitespace (checked on the bytes, without copying strings).

    Every cell's first and last byte is read without first dropping empty cells: an empty cell's start is
    the next cell's start and its end the previous cell's end (clipped to the buffer), so it only repeats a
    byte at the edge of another cell. Whitespace is never missed; a false alarm (a sliced chunk's
    neighbour) only costs a trim.
    """
    for _chunk, off, raw in arrays.string_chunks(column):
        if len(raw) == 0:
            continue
        text = raw[off[0] : off[-1]].tobytes()
        if not any(ch in text for ch in _BLANK_BYTES):
            continue  # not one whitespace byte in the chunk (a memchr per byte, 4x faster than the check below)
        if _EDGE_FIRST.take(raw.take(off[:-1], mode="clip")).any():
            return True
        if _EDGE_LAST.take(raw.take(off[1:] - 1, mode="clip")).any():
            return True
    return False


def tidy_cells(table: pa.Table) -> pa.Table:
    """Cells with surrounding whitespace trimmed (only the columns that have any), so SQL need not trim."""
    for i, name in enumerate(table.column_names):
        if name.startswith("c") and _needs_trim(table.column(name)):
            import pyarrow.compute as pc

            table = table.set_column(i, name, pc.utf8_trim(table.column(name), characters=BLANK_CHARS))
    return table


def _scan_identifiers(con: duckdb.DuckDBPyConnection, plan: SheetPlan) -> list[Finding]:
    """Identifier columns of a sheet: by header (if they hold anything) and by content."""
    mapping = plan.mapping
    scored = set(referenced_columns(mapping)) - {
        mapping.get(k) for k in ("client_id", "clinician_id", "episode_id", "age_group", "rater", "ending")
    }
    unmapped = [n for n in plan.header.names if n not in set(referenced_columns(mapping))]
    exprs, keys = [], []
    for name in plan.header.names:
        col = txt(plan.columns[name])
        if header_kind(name):
            exprs.append(f"count({col})")
            keys.append((name, "filled"))
        if name in scored:
            continue
        if plan.columns[name] in plan.ats:  # an e-mail address needs an '@': columns without one are skipped
            exprs.append(
                f"list(_row order by _row) filter (where contains({col}, '@') and regexp_matches({col}, {q(SQL_EMAIL)}))[1:50]"
            )
            keys.append((name, "email"))
        if name in unmapped:
            exprs.append(
                f"list(_row order by _row) filter (where regexp_matches({col}, {q(SQL_PHONE)}))[1:50]"
            )
            keys.append((name, "phone"))
            exprs.append(f"count(*) filter (where regexp_matches({col}, {q(SQL_IP)}))")
            keys.append((name, "ip"))
    if not exprs:
        return []
    row = con.execute(f"select {', '.join(exprs)} from {plan.data}").fetchall()[0]
    # A header naming an identifier says it all; free text may hold e-mail addresses and phone numbers
    # both, and the message names each kind with its rows.
    found: dict[tuple[str, str], Finding] = {}
    named = {name for name, what in keys if what == "filled"}
    for (name, what), value in zip(keys, row, strict=True):
        if what == "filled":
            kind, blocking = header_kind(name) or ("", False)
            found[name, what] = Finding(name, kind, blocking=blocking and bool(value))
        elif name in named or not value:
            continue
        elif what == "email":
            found[name, what] = Finding(
                name, "email_in_text" if name in unmapped else "email", rows=list(value)
            )
        elif what == "phone":
            found[name, what] = Finding(name, "phone_in_text", rows=list(value))
        elif what == "ip" and not any(n == name for n, _w in found):
            found[name, what] = Finding(name, "ip_address", blocking=False)
    return list(found.values())


def _in_spelling_of(mapping: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The mapping with each column it reads spelled as in ``names`` where only letter case differs
    ('Client ID' saved, 'CLIENT ID' in this month's file); columns without such a match stay as they are."""
    by_key: dict[str, list[str]] = {}
    for n in names:
        by_key.setdefault(n.strip().lower(), []).append(n)

    def spelled(col: Any) -> Any:
        if not isinstance(col, str) or col in names:
            return col
        same = by_key.get(col.strip().lower(), [])
        return same[0] if len(same) == 1 else col

    out = copy.deepcopy(mapping)  # the stored mapping stays as it was saved
    for key in (*ROLE_KEYS, "total"):
        if key in out:
            out[key] = spelled(out[key])
    if isinstance(out.get("items"), list):
        out["items"] = [spelled(c) for c in out["items"]]
    for code, cols in list((out.get("measure_items") or {}).items()):
        out["measure_items"][code] = [spelled(c) for c in cols]
    for entry in out.get("measures") or []:
        if isinstance(entry.get("items"), list):
            entry["items"] = [spelled(c) for c in entry["items"]]
        for key in ("total", "skip", "session_date"):
            if key in entry:
                entry[key] = spelled(entry[key])
    return out


def _drop_from_mapping(mapping: dict[str, Any], dropped: set[str]) -> list[str]:
    """Remove dropped columns from a mapping; returns the roles that lost their column."""
    lost = []
    for key in (*ROLE_KEYS, "total"):
        if mapping.get(key) in dropped:
            lost.append(key)
            mapping.pop(key)
    if mapping.get("items"):
        mapping["items"] = [c for c in mapping["items"] if c not in dropped]
    for code, cols in list((mapping.get("measure_items") or {}).items()):
        if set(cols) & dropped:
            lost.append(f"{code} items")
            del mapping["measure_items"][code]
    for entry in mapping.get("measures") or []:
        if set(entry.get("items") or []) & dropped:
            lost.append(f"{entry['measure']} items")
            entry["items"] = []
        for key in ("total", "skip", "session_date"):
            if entry.get(key) in dropped:
                entry[key] = None
    return lost


# ----------------------------------------------------------------------------- blocks


def _blocks(
    con: duckdb.DuckDBPyConnection,
    plan: SheetPlan,
    registry: dict[str, Measure],
    start: int,
    sheet_idx: int,
    file_name: str,
) -> list[Block]:
    m = plan.mapping
    common = dict(
        sheet=plan.sheet,
        client=m.get("client_id"),
        date=m.get("session_date"),
        session=m.get("session_number"),
        clinician=m.get("clinician_id"),
        episode=m.get("episode_id"),
        age_group=m.get("age_group"),
        rater=m.get("rater"),
        ending=m.get("ending"),
        session_pattern=m.get("session_pattern"),
        episode_pattern=m.get("episode_pattern"),
        sheet_idx=sheet_idx,
    )
    blocks: list[Block] = []
    if m.get("measure_column"):
        mcol = m["measure_column"]
        col = txt(plan.columns[mcol])
        distinct = [r[0] for r in con.execute(f"select distinct {col} from {plan.data}").fetchall()]
        raw_values = [v for v in distinct if v is not None]
        overrides = {}
        for k, v in (m.get("measure_values") or {}).items():
            code = v if v in registry else normalise_measure_name(str(v), registry)
            if code is None:
                raise ImportError_(
                    f"{file_name}: the mapping reads {k!r} in column {mcol!r} as measure {v!r}, "
                    "which is not in the registry"
                )
            overrides[str(k).strip().lower()] = code
        by_code: dict[str, list[str]] = {}
        for v in raw_values:
            code = overrides.get(v.lower()) or normalise_measure_name(v, registry)
            if code in registry:
                by_code.setdefault(code, []).append(v)
        generic = list(m.get("items") or [])
        known: list[str] = []
        for code, values in sorted(by_code.items()):
            measure = registry[code]
            items = (m.get("measure_items") or {}).get(code)
            extra: list[str] = []
            if not items and generic and len(generic) >= measure.n_items and measure.n_items:
                items, extra = generic[: measure.n_items], generic[measure.n_items :]
            _check_items(items, measure, file_name)
            known += values
            blocks.append(
                Block(
                    index=start + len(blocks),
                    measure=measure,
                    items=list(items or []),
                    total=m.get("total"),
                    measure_column=mcol,
                    # On the raw column (cells are already trimmed), so DuckDB can push it into the Arrow scan.
                    when=f"{ident(plan.columns[mcol])} in ({', '.join(q(v) for v in values)})",
                    extra_items=extra,
                    **common,
                )
            )
        unknown_when = f"{col} is null" + (
            f" or {col} not in ({', '.join(q(v) for v in known)})" if known else " or true"
        )
        blocks.append(
            Block(
                index=start + len(blocks),
                measure=None,
                items=[],
                total=m.get("total"),
                measure_column=mcol,
                when=f"({unknown_when})",
                # Usually every row names a known measure: then this block's full scan is skipped.
                no_rows=None not in distinct and len(known) == len(raw_values),
                **common,
            )
        )
        return blocks
    for entry in m.get("measures") or []:
        code = entry.get("measure")
        if code not in registry:
            code = normalise_measure_name(str(code), registry)
        if code is None:
            raise ImportError_(
                f"{file_name}: the mapping names measure {entry.get('measure')!r}, not in the registry"
            )
        measure = registry[code]
        items = list(entry.get("items") or [])
        _check_items(items, measure, file_name)
        kw = dict(common)
        if entry.get("session_date"):
            kw["date"] = entry["session_date"]
        const = entry.get("session_number")
        if const is not None:
            kw["session"] = None
        blocks.append(
            Block(
                index=start + len(blocks),
                measure=measure,
                items=items,
                total=entry.get("total"),
                skip=entry.get("skip"),
                session_const=int(const) if const is not None else None,
                **kw,
            )
        )
    return blocks


def _check_items(items: list[str] | None, measure: Measure, file_name: str) -> None:
    if items and len(items) != measure.n_items:
        raise ImportError_(
            f"{file_name}: {measure.code} has {measure.n_items} items but the mapping names {len(items)} item columns"
        )


def _date_format(
    con: duckdb.DuckDBPyConnection, plan: SheetPlan, blocks: list[Block]
) -> tuple[str | None, list[str]]:
    forced = plan.mapping.get("date_format")
    cols = sorted({b.date for b in blocks if b.date})
    if not cols:
        return None, []
    parts = " union all ".join(f"select {txt(plan.columns[c])} as x from {plan.data}" for c in cols)
    values_sql = f"select distinct x from ({parts}) where x is not null limit 5000"
    return choose_date_format(con, values_sql, forced)


# ----------------------------------------------------------------------------- import


def import_file(
    con: duckdb.DuckDBPyConnection,
    source: Path | str | bytes | ReadAhead,
    *,
    file_name: str | None = None,
    registry: dict[str, Measure],
    mapping: dict[str, Any] | None = None,
    strict: bool = False,
    drop_identifiers: bool = False,
    progress: Progress | None = None,
    sheet: str | None = None,
    today: date | None = None,
    save_mapping: bool | None = None,
    actor: str | None = None,
) -> ImportReport:
    """Import one export into the store as a single transaction and report every row's fate.

    ``source`` is a path, the bytes of an upload, or a ReadAhead already reading the file (with the same
    ``sheet``). Raises ImportError_ only when the file cannot be read or understood at all; everything else (bad
    rows, identifiers, --strict refusals, conflicts) is in the returned report. A mapping given here is
    saved for files with the same columns unless ``save_mapping`` is False. Before anything is written the
    store is backed up (caseload.backup), and the audit trail records ``actor`` (default "local") with the
    import in the same transaction.
    """
    step = progress or (lambda _f, _t: None)
    step(0.02, "reading")
    if isinstance(source, ReadAhead):  # already being read and hashed on other threads (the command line)
        data, name, grids, digest = source.result()
    else:
        data, name = source_bytes(source, file_name)
        grids = read_grids(data, name, sheet)
        # hashlib releases the GIL on large inputs: the file is hashed on another thread while the layout is
        # recognised, the cells tidied and the rows checked, not while pyarrow's threads parse it; the hash
        # is waited for only when the import's record is written (or the report returned).
        digest = hashed(data)
    del data
    report = ImportReport(file=name, sha256="")
    today = today or date.today()
    uid = uuid.uuid4().hex[:12]
    temps: list[str] = []
    try:
        step(0.2, "recognising the layout")
        plans, skipped = plan_sheets(con, grids, registry, mapping, name)
        report.warnings += [f"skipped {s}" for s in skipped]
        for k, plan in enumerate(plans):
            _register(con, plan, uid, k)
            temps.append(plan.data)
        report = _import_plans(
            con,
            plans,
            registry,
            report,
            uid,
            temps,
            name,
            strict,
            drop_identifiers,
            step,
            today,
            save_mapping if save_mapping is not None else mapping is not None,
            actor or LOCAL_USER,
            digest,
        )
        report.sha256 = report.sha256 or digest.result().hexdigest()
        return report
    finally:
        for t in reversed(temps):
            try:
                if t.startswith(("_cl_data_", "_cl_blocks_")):
                    con.unregister(t)
                elif t.startswith(("_cl_rows_", "_cl_cand_", "_cl_left_")) and not t.endswith("_rows"):
                    con.execute(f"drop view if exists {t}")
                    con.execute(f"drop table if exists {t}")
                else:
                    con.execute(f"drop table if exists {t}")
            except duckdb.Error:
                pass


def _import_plans(
    con: duckdb.DuckDBPyConnection,
    plans: list[SheetPlan],
    registry: dict[str, Measure],
    report: ImportReport,
    uid: str,
    temps: list[str],
    name: str,
    strict: bool,
    drop_identifiers: bool,
    step: Progress,
    today: date,
    remember: bool,
    actor: str = LOCAL_USER,
    digest: Future[Any] | None = None,
) -> ImportReport:
    for plan in plans:
        plan.findings = _scan_identifiers(con, plan)
    report.sheets = [p.sheet for p in plans if p.sheet]
    report.layout = "; ".join(f"{p.sheet}: {p.layout}" if p.sheet else p.layout for p in plans)
    report.rows_read = sum(p.n_rows for p in plans)
    for plan in plans:
        report.warnings += plan.notes
    step(0.3, "checking for identifiers")
    blocking = [f for p in plans for f in p.findings if f.blocking]
    quiet = [f for p in plans for f in p.findings if not f.blocking]
    report.identifier_columns = [f.to_dict() for p in plans for f in p.findings]
    for f in quiet:
        _drop_from_mapping(plans[0].mapping if len(plans) == 1 else _plan_of(plans, f).mapping, {f.column})
        report.dropped_columns.append(mask(f.column))
    if blocking and not drop_identifiers:
        return _refuse(report, refusal_message(name, blocking))
    if blocking:
        for plan in plans:
            cols = {f.column for f in plan.findings if f.blocking}
            # Named in the message: dropping the columns removes it from the mapping.
            client = plan.mapping.get("client_id")
            lost = _drop_from_mapping(plan.mapping, cols)
            if "client_id" in lost:
                return _refuse(
                    report,
                    f"{name}: the client code column {mask(client)} holds identifiers "
                    f"({', '.join(f.describe() for f in plan.findings if f.blocking)}); nothing can be imported "
                    "without a pseudonymous client code.",
                )
            report.dropped_columns += sorted(mask(c) for c in cols)
        report.warnings.append(
            "dropped identifier columns (not stored, not shown): " + "; ".join(f.describe() for f in blocking)
        )

    step(0.4, "validating rows")
    blocks: list[Block] = []
    formats: dict[str, str | None] = {}
    for k, plan in enumerate(plans):
        pb = _blocks(con, plan, registry, len(blocks), k, name)
        fmt, warns = _date_format(con, plan, pb)
        formats[plan.sheet] = fmt
        report.warnings += warns
        plan.mapping["date_format_used"] = fmt
        blocks += pb
    if not blocks:
        raise ImportError_(f"{name}: the mapping reads no measure columns")
    spreadsheet = plans[0].grid.kind in SPREADSHEET_KINDS
    width = max((b.measure.n_items for b in blocks if b.measure is not None and b.items), default=0)

    blocks_table = f"_cl_blocks_{uid}"
    con.register(
        blocks_table,
        arrays.table(
            {
                "block": arrays.int_array([b.index for b in blocks], pa.int32()),
                "sheet": arrays.string_array([b.sheet for b in blocks]),
                "sheet_idx": arrays.int_array([b.sheet_idx for b in blocks], pa.int32()),
                "measure": arrays.string_array([b.measure.code if b.measure else None for b in blocks]),
                "ranked": arrays.bool_array([b.ranked for b in blocks]),
                "n_items": arrays.int_array(
                    [b.measure.n_items if b.measure and b.items else 0 for b in blocks], pa.int32()
                ),
            }
        ),
    )
    temps.append(blocks_table)
    report.mapping = {
        "session_rule": "date_rank"
        if all(b.ranked for b in blocks)
        else ("explicit" if not any(b.ranked for b in blocks) else "mixed"),
        "sheets": {p.sheet: p.mapping for p in plans},
        "sources": {p.sheet: p.source for p in plans},
    }
    # One candidate per data row (a long file, or one measure per sheet): a row's fate is its candidate's.
    one_per_row = all(
        p.mapping.get("measure_column") or sum(b.sheet == p.sheet for b in blocks) == 1 for p in plans
    )
    job = _Job(
        con,
        plans,
        blocks,
        blocks_table,
        formats,
        width,
        uid,
        temps,
        step,
        strict,
        remember,
        actor,
        today,
        spreadsheet,
        digest,
    )
    if one_per_row and len(plans) == 1 and not strict and not any(b.ranked for b in blocks):
        client = blocks[0].client
        clients = f"select {txt(plans[0].columns[client])} from {plans[0].data}" if client else "select null"
        if not load.store_holds_any_client(con, clients):
            done = _import_direct(job, report)
            if done is not None:
                return done
    return _import_checked(job, report, job.candidates(), one_per_row)


@dataclass
class _Job:
    """What both ways of storing an import need: the connection, the sheets and blocks, and the options."""

    con: duckdb.DuckDBPyConnection
    plans: list[SheetPlan]
    blocks: list[Block]
    blocks_table: str
    formats: dict[str, str | None]
    width: int
    uid: str
    temps: list[str]
    step: Progress
    strict: bool
    remember: bool
    actor: str
    today: date
    spreadsheet: bool
    digest: Future[Any] | None  # the file's SHA-256, computed on another thread
    backed_up: bool = False

    def file_sha256(self, report: ImportReport) -> str:
        """The file's SHA-256 as hex, waiting for the thread that computes it if need be."""
        if not report.sha256 and self.digest is not None:
            report.sha256 = self.digest.result().hexdigest()
        return report.sha256

    def block_values(self) -> dict[str, str]:
        """SQL for a candidate's measure code and item count, by its block (as the blocks table holds them)."""

        def by_block(value_of: Callable[[Block], str]) -> str:
            whens = " ".join(f"when {b.index} then {value_of(b)}" for b in self.blocks)
            return f"(case block {whens} end)"

        return {
            "measure": by_block(lambda b: q(b.measure.code) if b.measure else "cast(null as varchar)"),
            "n_items": by_block(lambda b: str(b.measure.n_items if b.measure and b.items else 0)),
        }

    def absent_columns(self) -> frozenset[str]:
        """The optional rating columns no block reads (every candidate has NULL there)."""
        read_by = {
            "clinician_id": lambda b: b.clinician,
            "episode_id": lambda b: b.episode,
            "age_group": lambda b: b.age_group,
            "ending": lambda b: b.ending,
        }
        return frozenset(c for c, of in read_by.items() if all(of(b) is None for b in self.blocks))

    def candidates(self, data: str | None = None, every_block: bool = False) -> str:
        """The checks of every block as one UNION ALL: a candidate rating, or its reason, per (row, block).

        ``data`` replaces the sheet's data table (one sheet only); a block known to match no row (a long
        file's block for measures not in the registry, when every row names a known one) is left out
        unless ``every_block``.
        """
        groups: list[list[Block]] = []
        for b in self.blocks:
            if b.no_rows and not every_block:
                continue
            if groups and can_share_a_scan(groups[-1][0], b):
                groups[-1].append(b)  # a long file's measures: one scan of the data for all of them
            else:
                groups.append([b])
        parts: list[str] = []
        for group in groups:
            plan = next(p for p in self.plans if p.sheet == group[0].sheet)
            parts.append(
                block_sql(
                    group,
                    data or plan.data,
                    plan.columns,
                    plan.mapping.get("values"),
                    self.formats[group[0].sheet],
                    self.spreadsheet,
                    self.today,
                    plan.commas,
                    self.width,
                )
            )
        if not parts:  # no data rows at all: one empty block still gives the candidates' columns
            return self.candidates(data, every_block=True)
        return " union all ".join(parts)


class _RepeatedRating(Exception):
    """The file holds a rating key twice; only the checked path tells duplicates from conflicts."""


def _import_direct(job: _Job, report: ImportReport) -> ImportReport | None:
    """Store a file that shares no client with the store straight from its checks, in one pass.

    Every candidate without a problem is new then, unless the file repeats a rating: that is found
    after the insert, and the transaction is rolled back and None returned (the checked path follows).
    Rows that were not stored are checked again on their own, for their reasons.
    """
    con, plan = job.con, job.plans[0]
    job.step(0.6, "backing up the store")
    if not holds_nothing(con):  # a brand-new store has nothing to lose
        backup_store(con, "import")
    job.backed_up = True
    job.step(0.7, "storing")
    try:
        with load.client_index_built_after(con, plan.n_rows), transaction(con):
            import_id = next_import_id(con)
            by_measure = load.insert_valid_ratings(
                con,
                job.candidates(),
                job.block_values(),
                import_id,
                job.width,
                absent=job.absent_columns(),
                every_measure_full=all(
                    b.measure.n_items == job.width for b in job.blocks if b.measure is not None and b.items
                ),
            )
            if load.repeats_a_key(
                con, f"select hash({load.STORED_KEY}) from ratings where import_id = {int(import_id)}"
            ):
                raise _RepeatedRating
            stored = sum(by_measure.values())
            errors: list[RowError] = []
            total_errors = 0
            if stored < plan.n_rows:
                left = f"_cl_left_{job.uid}"
                job.temps.append(left)
                con.execute(
                    f"""create temp view {left} as select d.* from {plan.data} d
                        anti join (select source_row as _row from ratings where import_id = {int(import_id)})
                        using (_row)"""
                )
                status, rows = _problem_rows(job, job.candidates(left, every_block=True))
                errors, total_errors, _blocking = _collect_errors(
                    con, status, rows, job.blocks, job.formats, True, job.plans
                )
            report.rows_imported = stored
            report.rows_duplicate = 0
            report.rows_rejected = plan.n_rows - stored
            report.records_by_measure = {m: by_measure[m] for m in sorted(by_measure)}
            report.records_added = stored
            _set_errors(report, errors, total_errors)
            report.check_invariant()
            report.import_id = import_id
            job.file_sha256(report)
            load.record_import(con, import_id, report, errors, job.strict, report.mapping or {})
            _record(job, report)
    except _RepeatedRating:
        report.import_id = None
        return None
    job.step(1.0, "done")
    return report


def _problem_rows(job: _Job, candidates_sql: str) -> tuple[str, str]:
    """The status and row relations of rows that were not stored: every one of them has a reason."""
    con = job.con
    cand = f"_cl_cand_{job.uid}"
    con.execute(f"create temp table {cand}_rows as {candidates_sql}")
    job.temps.append(f"{cand}_rows")
    con.execute(f"create temp view {cand} as select * from {cand}_rows join {job.blocks_table} using (block)")
    job.temps.append(cand)
    unexplained = con.execute(f"select count(*) from {cand} where reason is null").fetchall()[0][0]
    if unexplained:  # cannot happen: a candidate without a problem was stored
        raise AssertionError(f"{unexplained} rows without a problem were not stored")
    status = f"""select *, reason as status, cast(null as double) as s_total, cast(null as date) as s_date,
                        cast(null as bigint) as f_row, cast(null as varchar) as s_ending from {cand}"""
    rows = f"_cl_rows_{job.uid}"
    job.temps.append(rows)
    con.execute(
        f"""create temp view {rows} as select sheet, sheet_idx, _row, _line, measure, status,
                'rejected' as outcome from ({status})"""
    )
    return status, rows


def _set_errors(report: ImportReport, errors: list[RowError], total_errors: int) -> None:
    report.errors = errors[:MAX_REPORTED_ERRORS]
    if total_errors > MAX_REPORTED_ERRORS:
        report.warnings.append(
            f"{total_errors:,} problems found; the first {MAX_REPORTED_ERRORS:,} are listed here, all are kept "
            "with the import (download the rejected rows)"
        )


def _record(job: _Job, report: ImportReport) -> None:
    """The audit entry and the confirmed mappings of an import, in its transaction."""
    audit.record(
        job.con,
        job.actor,
        "import",
        import_id=report.import_id,
        rows_read=report.rows_read,
        rows_imported=report.rows_imported,
        rows_rejected=report.rows_rejected,
    )
    if job.remember:
        for p in job.plans:
            if p.source == "given":
                load.save_mapping(
                    job.con, p.signature, {k: v for k, v in p.mapping.items() if k != "date_format_used"}
                )


def _import_checked(job: _Job, report: ImportReport, candidates_sql: str, one_per_row: bool) -> ImportReport:
    """Store a file after matching every candidate against the file's other rows and the store."""
    con, blocks, uid, temps, step = job.con, job.blocks, job.uid, job.temps, job.step
    cand = f"_cl_cand_{uid}"
    con.execute(f"create temp table {cand}_rows as {candidates_sql}")
    temps.append(f"{cand}_rows")
    con.execute(f"create temp view {cand} as select * from {cand}_rows join {job.blocks_table} using (block)")
    temps.append(cand)
    step(0.6, "matching against stored ratings")
    exc = f"_cl_exc_{uid}"
    temps.append(exc)
    status = load.status_relation(con, cand, exc, job.width, rows_table=f"{cand}_rows")
    rows = f"_cl_rows_{uid}"
    temps.append(rows)
    if one_per_row:
        outcome_sql = f"""select sheet, sheet_idx, _row, _line, measure, status,
                (case when status = 'new' then 'imported' when status in ('dup', 'stored', 'ending') then 'duplicate'
                      else 'rejected' end) as outcome
            from ({status})"""
        con.execute(f"create temp view {rows} as {outcome_sql}")
    else:
        con.execute(
            f"""create temp table {rows} as
                select sheet, sheet_idx, _row, any_value(_line) as _line,
                    (case when count(*) filter (where status = 'new') > 0 then 'imported'
                          when count(*) filter (where status in ('dup', 'stored', 'ending')) > 0 then 'duplicate'
                          else 'rejected' end) as outcome,
                    count(*) filter (where status not in ('new', 'dup', 'stored', 'ending', 'empty', 'skipped')) as n_err
                from ({status}) group by sheet, sheet_idx, _row"""
        )
    if one_per_row:
        tally = con.execute(
            f"select outcome, measure, status = 'new', count(*) from {rows} group by all"
        ).fetchall()
        counts: dict[str, int] = {}
        by_measure: dict[str, int] = {}
        for outcome, measure, is_new, n in tally:
            counts[outcome] = counts.get(outcome, 0) + n
            if is_new:
                by_measure[measure] = by_measure.get(measure, 0) + n
    else:
        counts = dict(con.execute(f"select outcome, count(*) from {rows} group by 1").fetchall())
        by_measure = dict(
            con.execute(
                f"select measure, count(*) from ({status}) where status = 'new' group by 1"
            ).fetchall()
        )
    report.rows_imported = int(counts.get("imported", 0))
    report.rows_duplicate = int(counts.get("duplicate", 0))
    report.rows_rejected = int(counts.get("rejected", 0))
    report.records_by_measure = {m: int(by_measure[m]) for m in sorted(by_measure)}
    report.records_added = sum(report.records_by_measure.values())
    errors, total_errors, blocking_errors = _collect_errors(
        con, status, rows, blocks, job.formats, one_per_row, job.plans
    )
    _set_errors(report, errors, total_errors)
    report.conflicts = _conflicts(con, cand, exc)
    report.check_invariant()
    if job.strict and blocking_errors:
        return _refuse(
            report,
            f"--strict: {blocking_errors} problem(s) in {report.rows_read} rows, so nothing from "
            f"{report.file} was stored. Fix the rows listed below, or import without --strict.",
            keep_errors=True,
        )
    if not job.backed_up and not holds_nothing(con):
        step(0.75, "backing up the store")
        backup_store(con, "import")
    step(0.8, "storing")
    job.file_sha256(report)
    with load.client_index_built_after(con, report.records_added), transaction(con):
        report.import_id = load.write_import(
            con,
            report,
            status,
            errors,
            job.strict,
            report.mapping or {},
            ranked=any(b.ranked for b in blocks),
            width=job.width,
            matched=(cand, exc),
        )
        _record(job, report)
    step(1.0, "done")
    return report


def _plan_of(plans: list[SheetPlan], finding: Finding) -> SheetPlan:
    return next(p for p in plans if finding in p.findings)


def _refuse(report: ImportReport, reason: str, keep_errors: bool = False) -> ImportReport:
    report.refused = True
    report.refused_reason = reason
    report.rows_imported = report.rows_duplicate = 0
    report.rows_rejected = report.rows_read
    report.records_added = 0
    report.records_by_measure = {}
    if not keep_errors:
        report.errors = []
    report.check_invariant()
    return report


def _raw_cells(con: duckdb.DuckDBPyConnection, plans: list[SheetPlan], wanted: list[tuple[str, int]]) -> dict:
    """The data cells (trimmed text or None) of the rows with a problem, by (sheet, row)."""
    out: dict[tuple[str, int], dict[str, str | None]] = {}
    for plan in plans:
        rows = sorted({r for s, r in wanted if s == plan.sheet})
        if not rows:
            continue
        con.register("_cl_wanted", arrays.table({"_row": arrays.int_array(rows)}))
        try:
            frame = con.execute(
                f"select d.* exclude (_line) from {plan.data} d semi join _cl_wanted w using (_row)"
            ).fetchall()
            names = [d[0] for d in con.description]
        finally:
            con.unregister("_cl_wanted")
        for values in frame:
            cells = dict(zip(names, values, strict=True))
            out[(plan.sheet, cells["_row"])] = {k: (v or None) for k, v in cells.items() if k != "_row"}
    return out


def _raw_record(b: Block, plan: SheetPlan, cells: dict[str, str | None]) -> dict[str, Any]:
    """The raw texts a block read from one row, for the report's column, value and message."""

    def cell(name: str | None) -> str | None:
        return cells.get(plan.columns[name]) if name else None

    items = [cell(c) for c in b.items]
    values = {str(k).lower(): float(v) for k, v in (plan.mapping.get("values") or {}).items()}
    parsed = []
    for v in items:
        try:
            parsed.append(
                values.get(v.lower()) if v and v.lower() in values else float(str(v).replace(",", "."))
            )
        except (TypeError, ValueError):
            parsed.append(None)
    session = str(b.session_const) if b.session_const is not None else cell(b.session)
    return {
        "date_raw": cell(b.date),
        "session_cell": session,
        "session_raw": session,
        "item_raw": items,
        "extra_raw": {c: cell(c) for c in b.extra_items},
        "total_raw": cell(b.total),
        "item_sum": sum(p for p in parsed if p is not None) if items else None,
        "measure_raw": cell(b.measure_column),
        "rater_raw": cell(b.rater),
        "ending_raw": cell(b.ending),
    }


def _collect_errors(
    con: duckdb.DuckDBPyConnection,
    status: str,
    rows: str,
    blocks: list[Block],
    formats: dict[str, str | None],
    one_per_row: bool,
    plans: list[SheetPlan],
) -> tuple[list[RowError], int, int]:
    """Every problem as a RowError (values masked), plus totals: all problems and those that fail --strict."""
    quiet = "('new', 'dup', 'stored', 'ending', 'empty', 'skipped')"
    if one_per_row:
        no_scores = f"select sheet, _row, _line, outcome from {rows} where status in ('empty', 'skipped')"
        outcome_sql = f"select p.*, 'rejected' as outcome from ({status}) p where p.status not in {quiet}"
    else:
        no_scores = f"select sheet, _row, _line, outcome from {rows} where outcome = 'rejected' and n_err = 0"
        outcome_sql = (
            f"select p.*, r.outcome from ({status}) p join {rows} r using (sheet, _row) "
            f"where p.status not in {quiet}"
        )
    fetched = con.execute(
        f"""select sheet, _row, _line, block, status, err_item, outcome, s_total, f_row, measure, ending, s_ending
            from ({outcome_sql})
            union all
            select sheet, _row, _line, -1, 'no_scores', 0, outcome, null, null, null, null, null
            from ({no_scores})
            order by 1, 2, 4"""
    ).fetchall()
    raw = _raw_cells(con, plans, [(f[0], f[1]) for f in fetched if f[4] != "no_scores"])
    plan_of = {p.sheet: p for p in plans}
    by_index = {b.index: b for b in blocks}
    seen_row_level: set[tuple[Any, ...]] = set()
    out: list[RowError] = []
    blocking = 0
    for (
        sheet,
        row,
        line,
        block,
        reason,
        err_item,
        outcome,
        s_total,
        f_row,
        measure,
        ending,
        s_ending,
    ) in fetched:
        sheet_name = sheet or None
        if reason == "no_scores":
            out.append(
                RowError(
                    row,
                    line,
                    None,
                    None,
                    "no_scores",
                    "No ratings in this row: every measure is blank or marked as skipped. Nothing to import.",
                    sheet=sheet_name,
                    row_outcome=outcome,
                )
            )
            continue
        blocking += reason not in INFO_REASONS
        b = by_index[block]
        rec = _raw_record(b, plan_of[sheet], raw.get((sheet, row), {}))
        if reason in ("conflict", "conflicting_duplicate"):
            column = b.total or (b.items[0] if b.items else None)
            value = rec["total_raw"]
            code = b.measure.code if b.measure else ""
            if reason == "conflict" and s_ending is not None:  # same scores, another ending
                column, value = b.ending, rec["ending_raw"]
                message = (
                    f"This {code} rating ends the episode as {ending!r} but the same rating is already stored "
                    f"with the ending {s_ending!r}; the stored ending was kept. If this export is the correct one, "
                    "undo the earlier import, then import this file again."
                )
            elif reason == "conflict":
                message = (
                    f"This {code} rating differs from the one already stored for the same client and "
                    f"session (stored total {s_total:g}); the stored rating was kept. If this export is the "
                    "correct one, undo the earlier import, then import this file again."
                )
            elif s_ending is not None:  # same scores as row f_row, another ending
                column, value = b.ending, rec["ending_raw"]
                message = (
                    f"This {code} rating repeats the session of row {f_row} with the same scores but ends the "
                    f"episode as {ending!r}, where row {f_row} says {s_ending!r}; the first one (row {f_row}) "
                    "was kept."
                )
            else:
                message = (
                    f"This {code} rating repeats the session of row {f_row} with different scores; "
                    f"the first one (row {f_row}) was kept."
                )
            out.append(
                RowError(row, line, column, mask(value), reason, mask(message), code, sheet_name, outcome)
            )
            continue
        column, value = error_location(b, reason, err_item, rec)
        message = error_message(b, reason, err_item, rec, formats.get(b.sheet))
        if reason in ROW_LEVEL_REASONS:
            key = (sheet_name, row, reason, column)
            if key in seen_row_level:
                blocking -= 1
                continue
            seen_row_level.add(key)
            measure = None
        out.append(
            RowError(
                row, line, column, mask(value), reason, mask(message), measure or None, sheet_name, outcome
            )
        )
    return out, len(out), blocking


def _conflicts(con: duckdb.DuckDBPyConnection, cand: str, exc: str) -> list[dict[str, Any]]:
    rows = con.execute(
        f"""select c.sheet, c._row, c.client_id, c.measure, c.session_val, c.date_val, c.total_val, e.s_total,
                   e.s_date, e.status, e.f_row, c.ending, e.s_ending
            from {exc} e join {cand} c using (sheet_idx, _row, block)
            where e.status in ('conflict', 'conflicting_duplicate') order by c.sheet_idx, c._row"""
    ).fetchall()
    keys = (
        "sheet",
        "row",
        "client_id",
        "measure",
        "session_number",
        "session_date",
        "new_total",
        "stored_total",
        "stored_date",
        "kind",
        "first_row",
        "new_ending",
        "stored_ending",  # set where only the ending differs
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


# ----------------------------------------------------------------------------- preview


def _shown_names(names: list[str]) -> list[str]:
    """Column names to show: e-mail addresses and phone numbers in a header masked, and kept distinct."""
    out: list[str] = []
    for name in names:
        shown = mask(str(name))
        while shown in out:
            shown += " "
        out.append(shown)
    return out


def preview_file(
    con: duckdb.DuckDBPyConnection,
    source: Path | str | bytes,
    *,
    file_name: str | None = None,
    registry: dict[str, Measure],
    mapping: dict[str, Any] | None = None,
    sheet: str | None = None,
) -> Preview:
    """The detected layout, the proposed mapping and the first rows of each sheet, without storing anything.

    Identifier columns are found here too; their cells are masked in the preview frame.
    """
    data, name = source_bytes(source, file_name)
    sha = hashlib.sha256(data).hexdigest()
    grids = read_grids(data, name, sheet)
    sheet_names = [g.name or "" for g in grids]
    plans, skipped = plan_sheets(con, grids, registry, mapping, name, keep_unrecognised=True)
    if len(plans) > 1:
        kept = [p for p in plans if not p.problems]
        skipped += [f"sheet {p.sheet!r}: {'; '.join(p.problems)}" for p in plans if p.problems]
        plans = kept or plans[:1]
    uid = uuid.uuid4().hex[:12]
    out = []
    for k, plan in enumerate(plans):
        _register(con, plan, uid, k)
        try:
            plan.findings = _scan_identifiers(con, plan)
            frame = con.execute(
                f"select * exclude (_row, _line) from {plan.data} order by _row limit {PREVIEW_ROWS}"
            ).df()
        finally:
            con.unregister(plan.data)
        frame.columns = plan.header.names[: len(frame.columns)] + list(
            frame.columns[len(plan.header.names) :]
        )
        frame.columns = _shown_names(list(frame.columns))
        for f in plan.findings:
            if f.column in frame.columns:
                frame[f.column] = frame[f.column].map(
                    lambda v: "•••" if isinstance(v, str) and v.strip() else v
                )
        for c in frame.columns:
            frame[c] = frame[c].map(lambda v: mask(v) if isinstance(v, str) else v)
        out.append(
            SheetPreview(
                sheet=plan.sheet,
                layout=plan.layout,
                header_row=plan.header.name_line,
                columns=plan.header.names,
                mapping=plan.mapping,
                mapping_source=plan.source,
                signature=plan.signature,
                problems=plan.problems,
                notes=plan.notes,
                frame=frame,
                identifiers=plan.findings,
                rows=plan.n_rows,
            )
        )
    return Preview(
        file=name, sha256=sha, kind=grids[0].kind, sheets=out, skipped=skipped, sheet_names=sheet_names
    )
