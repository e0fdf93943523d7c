"""Per-client course summaries kept in memory beside the store, so a whole-store overview does not re-read
every rating.

The overview's heavy SQL (episode aggregates, latest alliance ratings, outcome courses) works client by
client, so its result for one client depends only on that client's ratings, settings and recorded endings
and on the SQL itself (which carries every rule and registry parameter). Those results are kept in an
in-memory database attached to the store's DuckDB instance. Each use fingerprints every client's inputs
(one hash aggregate over the ratings, about 0.05 s per million) and recomputes exactly the clients whose
fingerprint changed, appeared or disappeared: a new import, an undo, a recorded ending or a client setting
needs no bookkeeping by the code that writes them. A change of the SQL text (rules, registry, alert
settings, a new version of this code) rebuilds everything.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Mapping

import duckdb

from caseload import store

CACHE_DB = "caseload_cache"
_LOCK = threading.RLock()  # one refresh at a time: cursors of one store share the attached cache

# Every input of a client's summaries, as a hash per row. sum() (not bit_xor) so that two identical rows
# do not cancel out; hugeint so the sum cannot overflow.
FINGERPRINT_SQL = """
select client_id, sum(h::hugeint) as fp from (
    select client_id, hash(clinician_id, episode_id, age_group, session_date, session_number, measure, rater,
        items, total, ending) as h
    from ratings
    union all select client_id, hash('setting', gap_days, age_group) from client_settings
    union all select client_id, hash('ending', ended_on, ending) from episode_endings
) group by client_id
"""

# Writes the summaries of the clients in a relation ``(select client_id from ...)``, or of every client
# (None, when everything is rebuilt: no filter to apply to each rating): gets the connection, that
# relation, {summary name: qualified table name} and whether to create the tables (else insert into
# them), and must write, for those clients only, exactly the rows the summary SQL gives.
Filler = Callable[[duckdb.DuckDBPyConnection, str | None, Mapping[str, str], bool], None]


def can_cache(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this connection can hold the cache (a read-only store cannot attach an in-memory database)."""
    try:
        con.execute(f"attach if not exists ':memory:' as {CACHE_DB}")
    except duckdb.Error:
        return False
    return True


def query_key(*sql: str) -> str:
    """The cache key of summaries made by these SQL texts: any change of a rule or parameter changes it."""
    return hashlib.sha256("\x00".join(sql).encode()).hexdigest()


def refreshed(con: duckdb.DuckDBPyConnection, names: tuple[str, ...], key: str, fill: Filler) -> None:
    """Bring the cached summaries up to date with the store.

    Fingerprints and recomputed summaries come from one transaction, so they describe the same snapshot
    even while an import commits. Call under ``lock()`` and read the tables (``table(name)``) before
    releasing it.
    """
    meta, fps = f"{CACHE_DB}.summary_meta", f"{CACHE_DB}.client_fingerprints"
    con.execute(f"create table if not exists {meta} (key varchar)")
    con.execute(f"create table if not exists {fps} (client_id varchar, fp hugeint)")
    tables = {n: table(n) for n in names}
    tag = uuid.uuid4().hex[:12]
    current, dirty = f"_fingerprints_{tag}", f"_dirty_{tag}"
    try:
        with store.transaction(con):  # on any error the cache rolls back to its last consistent state
            present = {
                r[0]
                for r in con.execute(
                    "select table_name from duckdb_tables() where database_name = ?", [CACHE_DB]
                ).fetchall()
            }
            stored = con.execute(f"select key from {meta}").fetchall()
            full = stored != [(key,)] or any(t.split(".", 1)[1] not in present for t in tables.values())
            con.execute(f"create temp table {current} as {FINGERPRINT_SQL}")
            if full:
                con.execute(f"create temp table {dirty} as select client_id from {current}")
            else:
                con.execute(
                    f"create temp table {dirty} as select client_id from {current} n full join {fps} o"
                    " using (client_id) where n.fp is distinct from o.fp"
                )
            changed = con.execute(f"select count(*) from {dirty}").fetchall()[0][0]
            if full:
                for t in tables.values():
                    con.execute(f"drop table if exists {t}")
                con.execute(f"delete from {fps}")
                con.execute(f"delete from {meta}")
                con.execute(f"insert into {meta} values (?)", [key])
            elif changed:
                for t in tables.values():
                    con.execute(f"delete from {t} where client_id in (select client_id from {dirty})")
                con.execute(f"delete from {fps} where client_id in (select client_id from {dirty})")
            if full or changed:
                fill(con, None if full else f"(select client_id from {dirty})", tables, full)
                con.execute(f"insert into {fps} select * from {current} semi join {dirty} using (client_id)")
    finally:
        for t in (current, dirty):
            con.execute(f"drop table if exists {t}")


def table(name: str) -> str:
    """The qualified name of a cached summary table."""
    return f"{CACHE_DB}.summary_{name}"


def lock() -> threading.RLock:
    """The lock to hold while refreshing and reading the summaries."""
    return _LOCK
