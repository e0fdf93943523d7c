"""Store side of an import: duplicates and conflicts against stored ratings, the write, undo, saved mappings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from caseload.ingest import arrays
from caseload.ingest.report import ImportReport, RowError
from caseload.ingest.validate import items_expr
from caseload.safety import neutralise_frame
from caseload.store import CLIENT_INDEX, next_import_id, now_utc, rejected_rows, transaction

_DATE_RANKED = """select import_id from imports
                  where undone_at is null and json_extract_string(mapping, '$.session_rule') = 'date_rank'"""


KEY = "client_id, measure, rater, episode_id, session_val, (case when session_val is null then date_val end)"
# The same key on stored ratings (session_number is the candidate's session_val, session_date its date_val).
STORED_KEY = "client_id, measure, rater, episode_id, session_number, (case when session_number is null then session_date end)"


def repeats_a_key(con: duckdb.DuckDBPyConnection, keys_sql: str) -> bool:
    """True when two rows of ``keys_sql`` (one column of 64-bit key hashes) are equal.

    Equal keys have equal hashes, so no equal hashes proves no repeated key (a collision only sends the
    file down the exact path). Sorting the hashes in numpy costs a third of a DuckDB count(distinct).
    """
    column = con.sql(keys_sql).to_arrow_table().column(0)
    hashes = np.sort(arrays.uints(column))
    return bool(len(hashes) > 1 and (hashes[1:] == hashes[:-1]).any())


def store_holds_any_client(con: duckdb.DuckDBPyConnection, clients_sql: str) -> bool:
    """True when the store holds a rating for one of the client codes ``clients_sql`` yields."""
    if not con.execute("select exists (select 1 from ratings)").fetchall()[0][0]:
        return False
    return bool(
        con.execute(f"select exists (select 1 from ratings where client_id in ({clients_sql}))").fetchall()[
            0
        ][0]
    )


def status_relation(
    con: duckdb.DuckDBPyConnection, cand: str, exc: str, width: int, rows_table: str | None = None
) -> str:
    """SQL of the candidates with a status each: new, dup (repeats an earlier row), stored (already in the
    store), ending (already in the store without the ending this row gives: the ending is added), conflict
    (the store holds a different rating, or a different ending, for that session), conflicting_duplicate
    (an earlier row of this file gives the same session different scores), or the candidate's reason.

    A rating is identified by client, measure, rater, episode and session: the session number where the
    file gives one, else the session date. The exceptions (dup, stored, conflict ...) go to the small table
    ``exc``; a first import of new ratings, the usual case, skips the window and the join entirely.

    A session the file gives twice with the same scores is one rating: where only a later copy says how the
    episode ended, the first copy (the one stored or matched against the store) takes that ending first,
    in ``rows_table`` (the table behind ``cand``). A later copy with another ending than the first is a
    conflicting duplicate (s_ending holds the first copy's ending), not a silent duplicate.
    """
    con.execute(
        f"""create temp table {exc} (sheet_idx integer, _row bigint, block integer, status varchar,
                                     s_total double, s_date date, f_row bigint, s_ending varchar)"""
    )
    if repeats_a_key(con, f"select hash({KEY}) from {cand} where reason is null"):
        copies = f"""
            with keyed as (
                select *, {items_expr(width)} as items, count(*) over k as n_same_key
                from {cand} where reason is null window k as (partition by {KEY})
            ),
            v as (
                select sheet_idx, _row, block, total_val, items, date_val, ending,
                    row_number() over w as occ,
                    first_value(total_val) over w as f_total, first_value(items) over w as f_items,
                    first_value(date_val) over w as f_date, first_value(_row) over w as f_row,
                    first_value(ending) over w as f_ending
                from keyed where n_same_key > 1
                window w as (partition by {KEY} order by sheet_idx, _row, block)
            ),
            c as (
                select *, total_val = f_total and items is not distinct from f_items
                    and date_val is not distinct from f_date as same
                from v
            )"""
        if rows_table is not None:
            # The first copy takes the ending the first later copy with the same scores gives.
            con.execute(
                f"""update {rows_table} t set ending = m.ending from (
                    {copies}
                    select f._row, f.block, l.ending
                    from c f join (
                        select f_row, arg_min(ending, occ) as ending, any_value(sheet_idx) as sheet_idx
                        from c where occ > 1 and same and ending is not null and f_ending is null
                        group by sheet_idx, f_row
                    ) l on f.sheet_idx = l.sheet_idx and f._row = l.f_row
                    where f.occ = 1 and f.ending is null
                ) m
                where t._row = m._row and t.block = m.block"""
            )
        con.execute(
            f"""insert into {exc}
            {copies}
            select sheet_idx, _row, block,
                (case when same and (ending is null or ending = f_ending) then 'dup'
                      else 'conflicting_duplicate' end),
                null, null, f_row, (case when same then f_ending end)
            from c where occ > 1"""
        )
    stored = con.execute("select count(*) from (select 1 from ratings limit 1)").fetchall()[0][0]
    if stored:
        con.execute(
            f"""insert into {exc}
            with v as (
                select c.*, {items_expr(width, "c.")} as items from {cand} c
                where c.reason is null
                  and not exists (select 1 from {exc} e
                                  where e.sheet_idx = c.sheet_idx and e._row = c._row and e.block = c.block)
                  and c.client_id in (select client_id from ratings)
            ),
            matched as (
                select v.sheet_idx, v._row, v.block, r.total, r.session_date, r.ending,
                       v.ending as v_ending, {SAME_SCORES} as same
                from v join ratings r
                  on r.client_id = v.client_id and r.measure = v.measure and r.rater = v.rater
                 and coalesce(r.episode_id, '') = coalesce(v.episode_id, '') and r.session_number = v.session_val
                where v.session_val is not null
                union all
                select v.sheet_idx, v._row, v.block, r.total, r.session_date, r.ending,
                       v.ending as v_ending, {SAME_SCORES_BY_DATE} as same
                from v join ratings r
                  on r.client_id = v.client_id and r.measure = v.measure and r.rater = v.rater
                 and coalesce(r.episode_id, '') = coalesce(v.episode_id, '') and r.session_date = v.date_val
                where v.session_val is null
            )
            -- The same scores are a duplicate, unless the row gives an ending: then the stored rating either
            -- has that ending already, gets it (it had none), or has another one (a conflict).
            select sheet_idx, _row, block,
                (case when not bool_or(same) then 'conflict'
                      when any_value(v_ending) is null or bool_or(same and ending = v_ending) then 'stored'
                      when bool_or(same and ending is null) then 'ending'
                      else 'conflict' end),
                any_value(total), any_value(session_date), null,
                any_value(ending) filter (where same)
            from matched group by sheet_idx, _row, block"""
        )
    n_exc = con.execute(f"select count(*) from {exc}").fetchall()[0][0]
    if not n_exc:
        return f"""select *, (case when reason is null then 'new' else reason end) as status,
                          cast(null as double) as s_total, cast(null as date) as s_date, cast(null as bigint) as f_row,
                          cast(null as varchar) as s_ending
                   from {cand}"""
    return f"""select c.*, coalesce(e.status, case when c.reason is null then 'new' else c.reason end) as status,
                      e.s_total, e.s_date, e.f_row, e.s_ending
               from {cand} c left join {exc} e using (sheet_idx, _row, block)"""


# A stored rating r and a candidate v give the same scores (and, where the session number matched, the same
# date); the date-keyed match needs no date check.
SAME_SCORES = (
    "(abs(r.total - v.total_val) < 1e-9 and r.items is not distinct from v.items"
    " and r.session_date is not distinct from v.date_val)"
)
SAME_SCORES_BY_DATE = "(abs(r.total - v.total_val) < 1e-9 and r.items is not distinct from v.items)"


def add_endings(con: duckdb.DuckDBPyConnection, cand: str, exc: str, import_id: int, width: int) -> int:
    """Give the stored ratings that candidates of status 'ending' (in ``exc``, see status_relation) repeat
    the ending those rows carry, marked as added by ``import_id`` (undo_import removes it again); how many
    ratings got an ending."""
    if not con.execute(f"select exists (select 1 from {exc} where status = 'ending')").fetchall()[0][0]:
        return 0
    rows = con.execute(
        f"""update ratings r set ending = v.ending, ending_import_id = {int(import_id)}
            from (select c.client_id, c.measure, c.rater, c.episode_id, c.session_val, c.date_val, c.ending,
                         c.total_val, {items_expr(width, "c.")} as items
                  from {cand} c join {exc} e using (sheet_idx, _row, block) where e.status = 'ending') v
            where r.ending is null and r.import_id <> {int(import_id)}
              and r.client_id = v.client_id and r.measure = v.measure and r.rater = v.rater
              and coalesce(r.episode_id, '') = coalesce(v.episode_id, '')
              and (case when v.session_val is not null
                        then r.session_number = v.session_val and {SAME_SCORES}
                        else r.session_date = v.date_val and {SAME_SCORES_BY_DATE} end)"""
    ).fetchall()
    return int(rows[0][0]) if rows else 0


# From this many new ratings on, into a store holding at most half as many, the client index is built once
# after the insert instead of maintained row by row: DuckDB builds it in parallel (0.45 s for a million
# ratings) but appends to it in one thread at commit (0.7-0.9 s).
BULK_RATINGS = 100_000


@contextmanager
def client_index_built_after(con: duckdb.DuckDBPyConnection, new_ratings: int) -> Iterator[None]:
    """Around a bulk import's transaction: drop the client index first and build it again afterwards.

    The index holds no data, so all-or-nothing still holds: it is rebuilt whether the transaction
    committed or rolled back, and store.connect() rebuilds it if the process died in between.
    """
    deferred = False
    if new_ratings >= BULK_RATINGS:
        stored = con.execute("select count(*) from ratings").fetchall()[0][0]
        if stored * 2 <= new_ratings:
            try:
                con.execute("drop index if exists ratings_client")
                deferred = True
            except duckdb.Error:  # another transaction holds the catalog: keep maintaining the index
                deferred = False
    try:
        yield
    finally:
        if deferred:
            try:
                con.execute(CLIENT_INDEX)
            except duckdb.Error:
                pass  # store.connect() builds it the next time the store is opened


def insert_valid_ratings(
    con: duckdb.DuckDBPyConnection,
    candidates_sql: str,
    block_values: dict[str, str],
    import_id: int,
    width: int,
    absent: frozenset[str] = frozenset(),
    every_measure_full: bool = False,
) -> dict[str, int]:
    """Store the candidates without a problem straight from the checks, as import ``import_id``; the
    ratings added per measure. Only for files that repeat no rating and share no client with the store
    (pipeline._import_direct), where every such candidate is new.

    ``block_values``: SQL for the measure and n_items of a candidate's block (a CASE on ``block``: a
    hash join with the blocks table costs more per row than the few comparisons).
    ``absent``: optional columns (clinician_id, episode_id, age_group, ending) the file does not have;
    they are left to their NULL default, which DuckDB writes as a constant, not a million NULL strings.
    ``every_measure_full``: see validate.items_expr.
    """
    sources = {
        "client_id": "client_id",
        "clinician_id": "clinician_id",
        "episode_id": "episode_id",
        "age_group": "age_group",
        "session_date": "date_val",
        "session_number": "session_val",
        "measure": block_values["measure"],
        "rater": "rater",
        "items": items_expr(width, every_measure_full=every_measure_full),
        "total": "total_val",
        "total_source": "total_source",
        "import_id": str(int(import_id)),
        "source_row": "_row",
        "ending": "ending",
    }
    unknown = set(absent) - OPTIONAL_COLUMNS
    if unknown:
        raise ValueError(f"only optional columns can be left out, not {sorted(unknown)}")
    named = {k: v for k, v in sources.items() if k not in absent}
    con.execute(
        f"""insert into ratings ({", ".join(named)})
            select {", ".join(named.values())}
            from (select *, {block_values["n_items"]} as n_items from ({candidates_sql})) c
            where reason is null"""
    )
    tally = con.execute(
        f"select measure, count(*) from ratings where import_id = {int(import_id)} group by 1"
    ).fetchall()
    return {measure: int(n) for measure, n in tally}


# Rating columns a file may lack entirely (their default is NULL).
OPTIONAL_COLUMNS = frozenset({"clinician_id", "episode_id", "age_group", "ending"})


def record_import(
    con: duckdb.DuckDBPyConnection,
    import_id: int,
    report: ImportReport,
    errors: list[RowError],
    strict: bool,
    mapping_record: dict[str, Any],
) -> None:
    """Insert the import's history row and its problems; the caller holds the transaction."""
    con.execute(
        """insert into imports (import_id, file_name, sha256, imported_at, layout, rows_read, rows_imported,
                                rows_duplicate, rows_rejected, records_added, strict, mapping, endings_added)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            import_id,
            report.file,
            report.sha256,
            now_utc(),
            report.layout,
            report.rows_read,
            report.rows_imported,
            report.rows_duplicate,
            report.rows_rejected,
            report.records_added,
            strict,
            json.dumps(mapping_record, default=str),
            report.endings_added,
        ],
    )
    if errors:
        table = arrays.table(
            {
                "import_id": arrays.int_array([import_id] * len(errors), pa.int32()),
                "row": arrays.optional_int_array([e.row for e in errors], pa.int32()),
                "line": arrays.optional_int_array([e.line for e in errors], pa.int32()),
                "column": arrays.string_array([_with_sheet(e) for e in errors]),
                "value": arrays.string_array([e.value for e in errors]),
                "reason": arrays.string_array([e.reason for e in errors]),
                "message": arrays.string_array([e.message for e in errors]),
            }
        )
        con.register("_cl_errors", table)
        try:
            con.execute(
                """insert into rejected_rows select import_id, "row", line, "column", value, reason, message
                   from _cl_errors"""
            )
        finally:
            con.unregister("_cl_errors")


def write_import(
    con: duckdb.DuckDBPyConnection,
    report: ImportReport,
    status: str,
    errors: list[RowError],
    strict: bool,
    mapping_record: dict[str, Any],
    ranked: bool = False,
    width: int = 0,
    matched: tuple[str, str] | None = None,
) -> int:
    """Insert the import's history row, its new ratings and its problems, and give stored ratings the endings
    its rows add (``matched``: the candidate and exception tables of status_relation; report.endings_added
    is set); the caller holds the transaction."""
    import_id = next_import_id(con)
    if matched is not None:
        report.endings_added = add_endings(con, *matched, import_id, width)
        remember_repeats(con, *matched, import_id)
    if report.endings_added:
        report.warnings.append(
            f"{report.endings_added} rating(s) already stored got the episode ending this file gives them "
            "(counted as duplicate rows; undoing this import removes those endings again)"
        )
    record_import(con, import_id, report, errors, strict, mapping_record)
    # Files without session numbers: the date's rank among the client's dates in this file (then renumbered
    # across all date-ranked imports below).
    rank_join = ""
    session = "session_val"
    if ranked:
        rank_join = f"""left join (
                select client_id, date_val, dense_rank() over (partition by client_id order by date_val) as rank_val
                from (select distinct client_id, date_val from ({status}) where reason is null and ranked)
            ) k using (client_id, date_val)"""
        session = "coalesce(session_val, case when ranked then rank_val end)"
    con.execute(
        f"""insert into ratings (client_id, clinician_id, episode_id, age_group, session_date, session_number,
                                 measure, rater, items, total, total_source, import_id, source_row, ending)
            select client_id, clinician_id, episode_id, age_group, date_val, {session},
                   measure, rater, {items_expr(width)}, total_val, total_source, {int(import_id)}, _row, ending
            from ({status}) s {rank_join} where status = 'new'"""
    )
    if mapping_record.get("session_rule") == "date_rank":
        renumber_by_date(con, [import_id])
    return import_id


def remember_repeats(con: duckdb.DuckDBPyConnection, cand: str, exc: str, import_id: int) -> None:
    """Note the ratings this import's rows repeat (already stored with the same scores: status 'stored' or
    'ending'), so that undoing the import that stored one hands it to this import instead of deleting it."""
    con.execute(
        f"""insert into repeated_ratings
            select {int(import_id)}, c.client_id, c.measure, c.rater, c.episode_id, c.session_val, c.date_val,
                   c._row, c.ending
            from {cand} c join {exc} e using (sheet_idx, _row, block) where e.status in ('stored', 'ending')"""
    )


def _hand_on_repeated(con: duckdb.DuckDBPyConnection, import_id: int) -> int:
    """Give the ratings of ``import_id`` that a later import still in place also held to the earliest such
    import (its row, its ending unless another import added one); how many ratings were handed on."""
    moved = con.execute(
        f"""update ratings r set import_id = m.to_import, source_row = m.to_row,
                ending = (case when r.ending_import_id is not null and r.ending_import_id <> m.to_import
                               then r.ending else m.to_ending end),
                ending_import_id = (case when r.ending_import_id <> m.to_import then r.ending_import_id end)
            from (
                select r2.rowid as rid,
                       arg_min(p.import_id, (p.import_id, p.source_row)) as to_import,
                       arg_min(p.source_row, (p.import_id, p.source_row)) as to_row,
                       arg_min(p.ending, (p.import_id, p.source_row)) as to_ending
                from ratings r2 join repeated_ratings p
                  on p.client_id = r2.client_id and p.measure = r2.measure and p.rater = r2.rater
                 and coalesce(p.episode_id, '') = coalesce(r2.episode_id, '')
                 and (case when p.session_number is not null then p.session_number = r2.session_number
                           else p.session_date = r2.session_date end)
                where r2.import_id = {int(import_id)} and p.import_id <> {int(import_id)}
                  and p.import_id in (select import_id from imports where undone_at is null)
                group by r2.rowid
            ) m
            where r.rowid = m.rid"""
    ).fetchall()
    return int(moved[0][0]) if moved else 0


def _with_sheet(e: RowError) -> str | None:
    if e.sheet and e.column:
        return f"{e.sheet}!{e.column}"
    return e.column if not e.sheet else f"{e.sheet}!"


def renumber_by_date(
    con: duckdb.DuckDBPyConnection, import_ids: list[int], clients: list[str] | None = None
) -> None:
    """Session numbers of date-ranked imports: the rank of the date among the client's dates in all of them.

    Run after an import or undo, so that a later export with earlier sessions, or an undo, keeps each
    client's sessions numbered 1, 2, 3 ... by date.
    """
    if clients is None:
        ids = ", ".join(str(int(i)) for i in import_ids)
        affected = f"select distinct client_id from ratings where import_id in ({ids})"
    else:
        if not clients:
            return
        con.register("_cl_clients", arrays.table({"client_id": arrays.string_array(clients)}))
        affected = "select client_id from _cl_clients"
    try:
        con.execute(
            f"""update ratings set session_number = x.rk
                from (
                    select client_id, session_date,
                           dense_rank() over (partition by client_id order by session_date) as rk
                    from (select distinct client_id, session_date from ratings
                          where import_id in ({_DATE_RANKED}) and client_id in ({affected}))
                ) x
                where ratings.client_id = x.client_id and ratings.session_date = x.session_date
                  and ratings.import_id in ({_DATE_RANKED})"""
        )
    finally:
        if clients is not None:
            con.unregister("_cl_clients")


def undo_import(con: duckdb.DuckDBPyConnection, import_id: int) -> int:
    """Remove the ratings an import added and the endings it gave stored ratings (one transaction), and mark
    it undone; returns how many ratings were removed. A rating a later import (still in place) also held is
    not removed: it passes to that import, as if the undone one had never been imported."""
    row = con.execute(
        "select undone_at, mapping from imports where import_id = ?", [int(import_id)]
    ).fetchall()
    if not row:
        raise ValueError(f"There is no import {import_id}.")
    if row[0][0] is not None:
        raise ValueError(f"Import {import_id} was already undone.")
    ranked = False
    try:
        ranked = json.loads(row[0][1] or "{}").get("session_rule") == "date_rank"
    except ValueError:
        ranked = False
    with transaction(con):
        clients = [
            r[0]
            for r in con.execute(
                "select distinct client_id from ratings where import_id = ?", [int(import_id)]
            ).fetchall()
        ]
        handed_on = _hand_on_repeated(con, import_id)
        removed = con.execute(
            "select count(*) from ratings where import_id = ?", [int(import_id)]
        ).fetchall()[0][0]
        con.execute("delete from ratings where import_id = ?", [int(import_id)])
        con.execute("delete from repeated_ratings where import_id = ?", [int(import_id)])
        con.execute(
            "update ratings set ending = null, ending_import_id = null where ending_import_id = ?",
            [int(import_id)],
        )
        con.execute("update imports set undone_at = ? where import_id = ?", [now_utc(), int(import_id)])
        if ranked or handed_on:
            renumber_by_date(con, [], clients=clients)
    return int(removed)


def saved_mapping(con: duckdb.DuckDBPyConnection, signature: str) -> dict[str, Any] | None:
    """The mapping a user confirmed for files with this column signature, if any."""
    rows = con.execute("select mapping from mappings where signature = ?", [signature]).fetchall()
    if not rows:
        return None
    try:
        value = json.loads(rows[0][0])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def save_mapping(con: duckdb.DuckDBPyConnection, signature: str, mapping: dict[str, Any]) -> None:
    """Remember a confirmed mapping for the next file with the same columns."""
    con.execute(
        "insert or replace into mappings values (?, ?, ?)",
        [signature, json.dumps(mapping, default=str), now_utc()],
    )


def forget_mapping(con: duckdb.DuckDBPyConnection, signature: str) -> None:
    """Forget a saved mapping (recognition applies again)."""
    con.execute("delete from mappings where signature = ?", [signature])


def rejected_rows_csv(con: duckdb.DuckDBPyConnection, import_id: int | None = None) -> bytes:
    """Rejected rows (file, import, row, line, column, value, reason, message) as UTF-8 CSV for download.

    Text a spreadsheet would run as a formula ('=HYPERLINK(...)' as a rejected score) is neutralised.
    """
    return neutralise_frame(rejected_rows(con, import_id)).to_csv(index=False).encode("utf-8")
