"""Row-level checks, in DuckDB SQL: every (row, measure) pair becomes a candidate rating or a reason why not.

A mapping is compiled into one SELECT per *block* (a measure read from fixed columns: one measure of a
side-by-side row, one session of a wide row, or one measure value of a long file). Each block parses
numbers, dates and session numbers, computes totals from items (summing, or prorating where the measure
allows missing items), and names the first problem it finds. Messages are written in Python, only for
the rows that have a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from caseload.ingest.layouts import AGE_GROUP_VALUES, ENDING_VALUES, RATER_VALUES
from caseload.measures import Measure

# (strptime format, how a person writes it, day-month order family)
DATE_FORMATS: list[tuple[str, str, str]] = [
    ("%Y-%m-%d", "yyyy-mm-dd", "ymd"),
    ("%Y/%m/%d", "yyyy/mm/dd", "ymd"),
    ("%Y.%m.%d", "yyyy.mm.dd", "ymd"),
    ("%d.%m.%Y", "dd.mm.yyyy", "dmy"),
    ("%d/%m/%Y", "dd/mm/yyyy", "dmy"),
    ("%m/%d/%Y", "mm/dd/yyyy", "mdy"),
    ("%d-%m-%Y", "dd-mm-yyyy", "dmy"),
    ("%m-%d-%Y", "mm-dd-yyyy", "mdy"),
    ("%d.%m.%y", "dd.mm.yy", "dmy"),
    ("%d/%m/%y", "dd/mm/yy", "dmy"),
    ("%m/%d/%y", "mm/dd/yy", "mdy"),
    ("%d-%m-%y", "dd-mm-yy", "dmy"),
    ("%d-%b-%Y", "d-Mon-yyyy", "dmy"),  # Excel's d-mmm-yy display format, saved as CSV
    ("%d-%b-%y", "d-Mon-yy", "dmy"),
    ("%d %b %Y", "d Mon yyyy", "dmy"),
    ("%d %B %Y", "d Month yyyy", "dmy"),
    ("%b %d, %Y", "Mon d, yyyy", "mdy"),
    ("%B %d, %Y", "Month d, yyyy", "mdy"),
    ("%Y%m%d", "yyyymmdd", "ymd"),
]
# A session dated earlier is no session: the measures in use (ORS 2003, PHQ-9 1999, OQ-45 1996, CORE 1998)
# are far younger, and a score typed into an Excel date cell reads as a day in January 1900.
EARLIEST_SESSION = date(1970, 1, 1)
TIME_SUFFIX = r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?\s*(Z|[+-]\d{2}:?\d{2})?$"
SKIP_TRUE = ("y", "yes", "1", "true", "ja", "j", "x", "skip", "skipped", "wahr")
BLANK_CHARS = " \t\r\n\u00a0"


def q(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def txt(col: str | None) -> str:
    """A raw column as trimmed text, NULL when blank.

    Surrounding whitespace was already trimmed when the data table was built (pipeline.tidy_cells).
    """
    if col is None:
        return "cast(null as varchar)"
    return f"nullif({ident(col)}, '')"


def num_cast(expr: str, values: dict[str, float] | None, comma: bool = True) -> str:
    """Text to a number ('7.4', '7,4' where the column has commas, or recoded answer text); may be NaN/inf,
    which is checked one level up."""
    cast = f"try_cast(replace({expr}, ',', '.') as double)" if comma else f"try_cast({expr} as double)"
    if values:
        whens = " ".join(f"when {q(k.lower())} then {float(v)!r}" for k, v in values.items())
        return f"coalesce((case lower({expr}) {whens} end), {cast})"
    return cast


def finite(expr: str) -> str:
    return f"(case when isfinite({expr}) then {expr} end)"


def date_expr(expr: str, fmt: str | None, spreadsheet: bool) -> str:
    """Text to DATE with the file's format (ISO always accepted; Excel serials in spreadsheets)."""
    parts = [f"(case when substr({expr}, 5, 1) = '-' then try_cast({expr} as date) end)"]  # ISO yyyy-mm-dd
    if fmt and fmt != "%Y-%m-%d":
        stripped = f"(case when contains({expr}, ':') then regexp_replace({expr}, {q(TIME_SUFFIX)}, '') else {expr} end)"
        parts.append(f"try_strptime({stripped}, {q(fmt)})::date")
    if spreadsheet:
        parts.append(
            f"(case when regexp_full_match({expr}, '\\d{{5}}(\\.\\d+)?') "
            f"then date '1899-12-30' + cast(floor(cast({expr} as double)) as integer) end)"
        )
    return "coalesce(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]


def choose_date_format(con: Any, values_sql: str, forced: str | None = None) -> tuple[str | None, list[str]]:
    """The strptime format that reads the most of the date texts ``values_sql`` yields (column x).

    Day-first and month-first are told apart by values above 12; when every value fits both, day-first
    is chosen and a warning says so (set date_format in the mapping to override).
    """
    warnings: list[str] = []
    if forced and forced.startswith("%"):
        return forced, warnings
    cands = [f for f in DATE_FORMATS if not forced or f[2] == forced]
    stripped = f"regexp_replace(trim(x), {q(TIME_SUFFIX)}, '')"  # once per value, not once per format
    reads = ", ".join(
        f"try_strptime(y, {q(f)}) between '1900-01-01' and '2199-12-31' as r{i}"
        for i, (f, _h, _o) in enumerate(cands)
    )
    # ISO dates are always read (date_expr), and a workbook's date cells arrive as ISO text: the other
    # values choose the format, so text dates typed among date cells are not outvoted by the cells. All
    # counts come from one scan (the distinct values of a million rows are the costly part).
    cols = ", ".join(
        f"count(*) filter (where r{i} and not iso), count(*) filter (where r{i})" for i in range(len(cands))
    )
    found = con.execute(
        f"""select {cols} from (
                select {reads}, substr(trim(x), 5, 1) = '-' as iso
                from (select x, {stripped} as y from ({values_sql})))"""
    ).fetchall()[0]
    counts = list(found[0::2]) if any(found[0::2]) else list(found[1::2])
    best = max(counts) if counts else 0
    if best == 0:
        return None, warnings
    tied = [cands[i] for i, c in enumerate(counts) if c == best]
    orders = {t[2] for t in tied}
    if "dmy" in orders and "mdy" in orders:
        warnings.append(
            "dates could be read day-first or month-first (no day above 12); they were read day-first "
            f"({next(t[1] for t in tied if t[2] == 'dmy')}). If that is wrong, set date_format to 'mdy'."
        )
        return next(t[0] for t in tied if t[2] == "dmy"), warnings
    return tied[0][0], warnings


def human_format(fmt: str | None) -> str:
    for f, h, _o in DATE_FORMATS:
        if f == fmt:
            return h
    return fmt or "a date"


@dataclass
class Block:
    """One measure read from fixed columns of a grid: the columns, and the constants of the measure."""

    index: int
    sheet: str
    measure: Measure | None
    client: str | None
    date: str | None
    session: str | None
    items: list[str | None]
    total: str | None
    skip: str | None = None
    session_const: int | None = None
    clinician: str | None = None
    episode: str | None = None
    age_group: str | None = None
    rater: str | None = None
    ending: str | None = None
    measure_column: str | None = None
    when: str | None = None  # SQL condition on the data table (long layouts)
    session_pattern: str | None = None
    episode_pattern: str | None = None
    sheet_idx: int = 0
    no_rows: bool = False  # known to match no data row (its SELECT can be left out)
    # Item columns a long file shares between measures beyond this measure's items (a GAD-7 row's item8
    # and item9 where PHQ-9 rows use nine): a value there means shifted items or the wrong measure.
    extra_items: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> bool:
        """True when sessions are numbered by date: the block has no session column or constant."""
        return self.session is None and self.session_const is None


# The columns every block of a group must share (a long file's blocks differ only in measure and items).
SHARED = (
    "sheet",
    "client",
    "date",
    "session",
    "session_const",
    "clinician",
    "episode",
    "age_group",
    "rater",
    "ending",
    "measure_column",
    "total",
    "skip",
    "session_pattern",
    "episode_pattern",
)


def can_share_a_scan(a: Block, b: Block) -> bool:
    """True when two blocks read the same row columns and differ only in measure and items, as the
    blocks of a long file (one per measure value) do: they can be checked in one scan of the data."""
    return a.when is not None and b.when is not None and all(getattr(a, f) == getattr(b, f) for f in SHARED)


def block_sql(
    group: Block | list[Block],
    data: str,
    columns: dict[str, str],
    values: dict[str, float] | None,
    date_format: str | None,
    spreadsheet: bool,
    today: date,
    commas: set[str] | None = None,
    width: int = 0,
) -> str:
    """The SELECT that turns one block of a data table, or a group of blocks that share a scan
    (``can_share_a_scan``), into candidate ratings with a reason or none.

    Items are handled as scalar columns (i1..iN), not lists, so a million rows stay fast: every block
    returns ``width`` item columns (NULL beyond its measure's items) and the list is built only when a
    rating is stored (``items_expr``). The block's constants (sheet, measure ...) are not repeated on every
    row: they come from a small table of blocks (``block_table``), and the raw texts of rows with a problem
    are read back from the data table for the report. In a group each row belongs to the block whose
    ``when`` it meets; a measure's constants are literals where the group's measures agree, else a CASE
    on the row's block.
    """
    blocks = group if isinstance(group, list) else [group]
    b = blocks[0]
    assert all(can_share_a_scan(b, o) for o in blocks[1:]), "blocks that do not share a scan"

    def col(name: str | None) -> str:
        return txt(columns[name]) if name else "cast(null as varchar)"

    def n_of(x: Block) -> int:
        return x.measure.n_items if (x.measure is not None and x.items) else 0

    known = [x for x in blocks if x.measure is not None]
    unknown = [x for x in blocks if x.measure is None]
    single = len(blocks) == 1
    if single:
        block = str(b.index)
        where = f"where {b.when}" if b.when else ""
    else:
        whens = " ".join(f"when {x.when} then {x.index}" for x in blocks)
        block = f"(case {whens} end)"
        where = ""

    def per_block(value_of, among: list[Block]) -> str:
        """A measure's constant for the row's block: a literal where the blocks agree."""
        found = {x.index: value_of(x) for x in among}
        if len(set(found.values())) == 1:
            return next(iter(found.values()))
        return f"(case block {' '.join(f'when {i} then {v}' for i, v in found.items())} end)"

    n_max = max((n_of(x) for x in known), default=0)
    # Item k of the row's block, NULL where that block has fewer items (or is the unknown measure's).
    item_cols: list[str] = []
    item_commas: list[bool] = []
    for k in range(1, n_max + 1):
        by_block = {x.index: (x.items[k - 1] if k <= n_of(x) else None) for x in blocks}
        names = set(by_block.values())
        if len(names) == 1:
            item_cols.append(col(next(iter(names))))
        else:
            whens = " ".join(f"when {i} then {col(c)}" for i, c in by_block.items() if c is not None)
            item_cols.append(f"(case block {whens} end)")
        item_commas.append(any(commas is None or columns[c] in commas for c in names if c is not None))

    with_extra = [x for x in blocks if x.extra_items]
    extra_pos = "0"
    if with_extra:
        firsts = {
            x.index: "(case "
            + " ".join(f"when {col(c)} is not null then {j}" for j, c in enumerate(x.extra_items, start=1))
            + " else 0 end)"
            for x in with_extra
        }
        extra_pos = f"(case block {' '.join(f'when {i} then {v}' for i, v in firsts.items())} else 0 end)"

    session_cell = col(b.session) if b.session_const is None else q(str(b.session_const))
    session = session_cell
    if b.session_pattern and b.session:
        session = f"nullif(regexp_extract({session_cell}, {q(b.session_pattern)}, 1, 'i'), '')"
    episode = col(b.episode)
    if b.episode_pattern and b.episode:
        episode = (
            f"coalesce(nullif(regexp_extract({episode}, {q(b.episode_pattern)}, 1, 'i'), ''), {episode})"
        )
    rater_whens = " ".join(f"when {q(k)} then {q(v)}" for k, v in RATER_VALUES.items())
    age_whens = " ".join(f"when {q(k)} then {q(v)}" for k, v in AGE_GROUP_VALUES.items())
    ending_whens = " ".join(f"when {q(k)} then {q(v)}" for k, v in ENDING_VALUES.items() if k)
    skip_list = ", ".join(q(s) for s in SKIP_TRUE)
    raw_items = "".join(f", {expr} as r{k}" for k, expr in enumerate(item_cols, start=1))
    l0 = f"select *, {block} as block from {data} {where}"
    l1 = f"""
        select _row, _line, block,
            {col(b.client)} as client_id, {col(b.clinician)} as clinician_id, {episode} as episode_id,
            {col(b.age_group)} as age_raw, {col(b.rater)} as rater_raw, {col(b.ending)} as ending_raw,
            {col(b.date)} as date_raw,
            {session_cell} as session_cell, {session} as session_raw, {col(b.total)} as total_raw,
            {col(b.skip)} as skip_raw, {col(b.measure_column)} as measure_raw{raw_items}, {extra_pos} as extra_pos
        from ({l0}) where block is not null"""

    def pad(have: int) -> str:
        return "".join(f", cast(null as double) as i{k}" for k in range(have + 1, width + 1))

    def has_comma(name: str | None) -> bool:
        return commas is None or (name is not None and columns[name] in commas)

    casts = "".join(f", {num_cast(f'r{k}', values, item_commas[k - 1])} as c{k}" for k in range(1, n_max + 1))
    # A column the mapping does not name gives a constant (DuckDB does not fold the CASE over a NULL column).
    skipped = f"coalesce(lower(skip_raw) in ({skip_list}), false)" if b.skip else "false"
    rater = (
        f"(case when rater_raw is null then 'self' else (case lower(rater_raw) {rater_whens} end) end)"
        if b.rater
        else "'self'"
    )
    age_group = f"(case lower(age_raw) {age_whens} end)" if b.age_group else "cast(null as varchar)"
    ending_code = (
        f"(case when ending_raw is null then '' else (case lower(ending_raw) {ending_whens} end) end)"
        if b.ending
        else "''"
    )
    session_number = (
        "try_cast(session_raw as double)"
        if b.session is not None or b.session_const is not None
        else "cast(null as double)"
    )
    session_date = date_expr("date_raw", date_format, spreadsheet) if b.date else "cast(null as date)"
    l2 = f"""
        select *{casts}, {num_cast("total_raw", values, has_comma(b.total))} as t_c, {session_date} as d_c,
            {session_number} as s_c, {skipped} as skipped, {rater} as rater, {age_group} as age_group,
            {ending_code} as ending_code
        from ({l1})"""
    given = " + ".join(f"(r{k} is not null)::integer" for k in range(1, n_max + 1)) or "0"
    finite_items = "".join(f", {finite(f'c{k}')} as i{k}" for k in range(1, n_max + 1))
    n = per_block(lambda x: str(n_of(x)), known) if known else "0"

    def first(cond: str, within_n: bool = False) -> str:
        if n_max == 0:
            return "0"
        guard = (lambda k: f"{k} <= {n} and ") if within_n and n != str(n_max) else (lambda _k: "")
        whens = " ".join(f"when {guard(k)}{cond.format(k=k)} then {k}" for k in range(1, n_max + 1))
        return f"(case {whens} else 0 end)"

    l3 = f"""
        select *{finite_items}, {finite("t_c")} as t,
            (case when d_c between date '1900-01-01' and date '2199-12-31' then d_c end) as date_val,
            (case when s_c = floor(s_c) and s_c between 0 and 999999 then cast(s_c as integer) end) as session_val,
            {given} as n_given,
            {first("r{k} is not null and not isfinite(coalesce(c{k}, 'nan'::double))")} as bad_pos,
            {first("r{k} is null", within_n=True)} as miss_pos
        from ({l2})"""
    # A measure not in the registry reads no items, so its row is empty exactly when it has no total.
    unknown_reason = "(case when total_raw is null then 'empty' else 'unknown_measure' end)"
    if not known:  # rows of a long file whose measure is not in the registry
        return f"""
        select block, _row, _line, client_id, clinician_id, episode_id, age_group, rater, nullif(ending_code, '') as ending, date_val,
            session_val, false as has_items{pad(0)}, cast(null as double) as total_val,
            cast(null as varchar) as total_source, {unknown_reason} as reason, 0 as err_item
        from ({l3})"""

    def literal(v: float | int) -> str:
        return repr(v)

    imin = per_block(
        lambda x: literal(x.measure.item_min if x.measure.item_min is not None else x.measure.min), known
    )
    imax = per_block(
        lambda x: literal(x.measure.item_max if x.measure.item_max is not None else x.measure.max), known
    )
    t_min = per_block(lambda x: literal(x.measure.min), known)
    t_max = per_block(lambda x: literal(x.measure.max), known)
    d = per_block(lambda x: str(x.measure.decimals), known)
    can_prorate = per_block(lambda x: "true" if x.measure.proration == "mean" else "false", known)
    max_missing = per_block(lambda x: str(x.measure.max_missing_items), known)
    out_pos = first(f"i{{k}} < {imin} or i{{k}} > {imax}")
    # Items of a measure scored in whole numbers (decimals = 0: PHQ-9, GAD-7, CORE-10, OQ-45) are answer
    # choices; 1.5 is no answer. Totals are not checked: another system may have prorated them.
    whole_only = [x for x in known if x.measure.decimals == 0]
    if not whole_only or n_max == 0:
        whole_pos = "0"
    elif len(whole_only) == len(known):
        whole_pos = first("i{k} <> round(i{k})")
    else:
        whole_pos = f"(case when block in ({', '.join(str(x.index) for x in whole_only)}) then {first('i{k} <> round(i{k})')} else 0 end)"
    item_sum = " + ".join(f"coalesce(i{k}, 0)" for k in range(1, n_max + 1)) or "cast(null as double)"
    own_items = "".join(f", i{k}" for k in range(1, n_max + 1))
    l4 = f"""
        select *, {out_pos} as out_pos, {whole_pos} as whole_pos, ({item_sum}) as item_sum,
            case
                when skipped and (n_given > 0 or total_raw is not null) then 'skipped_with_scores'
                when skipped then 'skipped'
                when n_given = 0 and total_raw is null then 'empty'
                when client_id is null then 'missing_client_id'
                when date_raw is not null and date_val is null then 'invalid_date'
                when date_val > date {q(today.isoformat())} then 'future_date'
                when date_val < date {q(EARLIEST_SESSION.isoformat())} then 'early_date'
                when session_raw is not null and session_val is null then 'invalid_session'
                when date_val is null and session_val is null then 'missing_session'
                when extra_pos > 0 then 'extra_items'
                when bad_pos > 0 then 'non_numeric'
                when {out_pos} > 0 then 'out_of_range'
                when {whole_pos} > 0 then 'not_whole'
                when total_raw is not null and t is null then 'non_numeric'
                when t < {t_min} or t > {t_max} then 'out_of_range'
                when {n} > 0 and n_given = {n} and t is not null
                     and round({item_sum}, {d}) <> round(t, {d}) then 'items_total_mismatch'
                when n_given > 0 and n_given < {n}
                     and ({n} - n_given > {max_missing} or (t is null and not {can_prorate}))
                     then 'partial_items'
                when rater is null then 'unknown_rater'
                when ending_code is null then 'unknown_ending'
            end as reason
        from ({l3})"""
    total_val = f"""(case
                when {n} > 0 and n_given = {n} then coalesce(t, round(item_sum, {d}))
                when n_given > 0 then coalesce(t, round(item_sum * {n} / n_given, 4))
                else t end)"""
    total_source = f"""(case
                when {n} > 0 and n_given = {n} then 'items'
                when n_given > 0 and t is null then 'prorated'
                else 'total' end)"""
    reason = "reason"
    has_items = "n_given > 0"
    if unknown:  # the unknown measure's rows keep their own reason and carry no rating
        unk = ", ".join(str(x.index) for x in unknown)
        reason = f"(case when block in ({unk}) then {unknown_reason} else reason end)"
        has_items = f"(block not in ({unk}) and n_given > 0)"
        total_val = f"(case when block not in ({unk}) then {total_val} end)"
        total_source = f"(case when block not in ({unk}) then {total_source} end)"
        own_items = "".join(
            f", (case when block not in ({unk}) then i{k} end) as i{k}" for k in range(1, n_max + 1)
        )
    return f"""
        select block, _row, _line, client_id, clinician_id, episode_id, age_group, rater, nullif(ending_code, '') as ending, date_val,
            session_val, {has_items} as has_items{own_items}{pad(n_max)},
            {total_val} as total_val,
            {total_source} as total_source,
            {reason} as reason,
            (case {reason} when 'non_numeric' then bad_pos when 'out_of_range' then out_pos
                         when 'not_whole' then whole_pos when 'partial_items' then miss_pos
                         when 'extra_items' then extra_pos else 0 end) as err_item
        from ({l4})"""


def items_expr(width: int, prefix: str = "", every_measure_full: bool = False) -> str:
    """SQL for a candidate's item list in item order (NULL for a missing item), or NULL without items.

    ``every_measure_full``: every measure read with items has ``width`` of them, so no list is cut short.
    """
    if width == 0:
        return "cast(null as double[])"
    cols = ", ".join(f"{prefix}i{k}" for k in range(1, width + 1))
    if every_measure_full:
        return f"(case when {prefix}has_items then [{cols}]::double[] end)"
    return f"(case when {prefix}has_items then list_slice([{cols}]::double[], 1, {prefix}n_items) end)"


def _fmt(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return ""
    text = f"{value:.{max(decimals, 0)}f}" if decimals >= 0 else str(value)
    return text.rstrip("0").rstrip(".") if "." in text and decimals == 0 else text


def error_location(
    b: Block, reason: str, err_item: int, rec: dict[str, Any]
) -> tuple[str | None, str | None]:
    """(column, value) a problem is reported at."""
    if reason == "missing_client_id":
        return b.client, ""
    if reason in ("invalid_date", "future_date", "early_date"):
        return b.date, rec.get("date_raw")
    if reason in ("invalid_session", "missing_session"):
        if reason == "missing_session":
            return b.date or b.session, ""
        return b.session, rec.get("session_cell") or rec.get("session_raw")
    if reason == "unknown_measure":
        return b.measure_column, rec.get("measure_raw") or ""
    if reason == "unknown_rater":
        return b.rater, rec.get("rater_raw")
    if reason == "unknown_ending":
        return b.ending, rec.get("ending_raw")
    if reason == "extra_items" and 0 < err_item <= len(b.extra_items):
        return b.extra_items[err_item - 1], (rec.get("extra_raw") or {}).get(b.extra_items[err_item - 1])
    if reason == "skipped_with_scores" and rec.get("total_raw") is None:  # items only: the first one given
        raw = rec.get("item_raw") or []
        given = next((k for k, v in enumerate(raw) if v is not None), None)
        if given is not None and given < len(b.items):
            return b.items[given], raw[given]
    if reason in ("non_numeric", "out_of_range", "not_whole", "partial_items") and err_item:
        raw = rec.get("item_raw") or []
        value = raw[err_item - 1] if err_item - 1 < len(raw) else None
        return b.items[err_item - 1], value or ""
    return b.total, rec.get("total_raw")


def error_message(b: Block, reason: str, err_item: int, rec: dict[str, Any], date_format: str | None) -> str:
    """A plain sentence a therapist can act on."""
    m = b.measure
    code = m.code if m else "?"
    column, value = error_location(b, reason, err_item, rec)
    where = f"column {column!r}" if column else "this row"
    if reason == "missing_client_id":
        return f"The client code is missing ({where} is blank); the rating cannot be assigned to anyone."
    if reason == "invalid_date":
        if value and re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", value.strip()):
            return f"{value!r} in {where} is not a calendar date."
        return f"{value!r} in {where} is not a date (expected {human_format(date_format)})."
    if reason == "early_date":
        return (
            f"{value!r} in {where} is before {EARLIEST_SESSION.year}, earlier than any outcome measure was in "
            "use; check the date (in a spreadsheet, a number typed into a date cell shows as a date in 1900)."
        )
    if reason == "future_date":
        return f"{value!r} in {where} is in the future; check the year."
    if reason == "invalid_session":
        return f"{value!r} in {where} is not a session number (a whole number)."
    if reason == "missing_session":
        return "Neither a session date nor a session number is given, so the session cannot be placed."
    if reason == "unknown_measure":
        if not value:
            return f"No measure is named in {where}."
        return (
            f"{value!r} in {where} is not a measure Caseload knows; add it to a measures file (--measures)."
        )
    if reason == "unknown_rater":
        return (
            f"{value!r} in {where} is not a known rater (self, parent, partner, teacher, clinician or other)."
        )
    if reason == "unknown_ending":
        return (
            f"{value!r} in {where} is not an ending Caseload understands (planned, unplanned or ended; "
            "blank for a session that did not end the episode)."
        )
    assert m is not None
    if reason == "skipped_with_scores":
        return (
            f"{code} is marked as skipped in column {b.skip!r}, yet {value!r} in {where} is a score; "
            "the rating is not stored. Clear the skip flag or the score, then import again."
        )
    if reason == "non_numeric":
        return f"{value!r} in {where} is not a number; every {code} score must be a number."
    if reason == "out_of_range":
        if err_item:
            lo = m.item_min if m.item_min is not None else m.min
            hi = m.item_max if m.item_max is not None else m.max
            return f"{value} in {where} is outside the {code} item range {lo:g}-{hi:g}."
        return f"{value} in {where} is outside the {code} total range {m.min:g}-{m.max:g}."
    if reason == "extra_items":
        return (
            f"{code} has {m.n_items} items, yet {where} beyond them holds {value!r}; the items may be "
            "shifted or belong to another measure, so the rating is not stored."
        )
    if reason == "not_whole":
        lo = m.item_min if m.item_min is not None else m.min
        hi = m.item_max if m.item_max is not None else m.max
        return (
            f"{value} in {where} is not a whole number; {code} items are answered with a whole number "
            f"from {lo:g} to {hi:g}."
        )
    if reason == "items_total_mismatch":
        total = rec.get("total_raw")
        item_sum = rec.get("item_sum")
        return (
            f"The {code} items add up to {_fmt(item_sum, m.decimals)} but {where} says {total}; "
            "neither can be trusted, so the rating is not stored."
        )
    if reason == "partial_items":
        given = sum(1 for v in rec.get("item_raw") or [] if v is not None)
        allowed = m.max_missing_items
        rule = (
            f"{code} allows no missing items"
            if allowed == 0
            else f"{code} allows at most {allowed} missing item{'s' if allowed > 1 else ''}"
        )
        return (
            f"Only {given} of {m.n_items} {code} items are given ({column!r} is blank) and no total; {rule}."
        )
    return reason
