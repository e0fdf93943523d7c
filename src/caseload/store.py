"""The DuckDB store: one file holding ratings in long form, the imports they came from and rejected rows.

One connection per process (DuckDB locks the file); Streamlit sessions and threads each take
``con.cursor()``. Schema changes go through numbered migrations recorded in ``meta``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd  # only for annotations: importing pandas costs ~0.6 s at start-up

    from caseload.access import Viewer

SCHEMA_VERSION = 6
DB_ENV = "CASELOAD_DB"

# Columns of the canonical long layout, in the order exports and the ratings table use them.
RATING_COLUMNS = [
    "client_id",
    "clinician_id",
    "episode_id",
    "age_group",
    "session_date",
    "session_number",
    "measure",
    "rater",
    "items",
    "total",
    "total_source",
    "import_id",
    "source_row",
    "ending",
]

# The Client page looks ratings up by client: 2 ms with this ART index, 40-80 ms scanning a million rows.
# A bulk import into an (almost) empty store drops it and builds it once afterwards (ingest.load), and
# connect() builds it again should a process have died in between.
CLIENT_INDEX = "create index if not exists ratings_client on ratings (client_id)"

# How an episode ended, where known: in an export (on the rating row that closed the episode) or recorded
# in the app. "ended" = the export says the episode ended without saying whether as planned.
ENDINGS = ("planned", "unplanned", "ended")

# The closed sets of four ratings columns, stored as DuckDB ENUMs (schema 6): one byte per rating instead of
# a string. Writing a million ratings costs 0.2 s less (a string column, even all NULL or one constant,
# costs DuckDB 0.04-0.08 s per million rows; an ENUM 0.01 s). Values are in alphabetical order, so that
# sorting, min() and max() on them give what they gave on the strings. Frames read them back as text
# (frames.frame_of), and an ENUM compares equal to its text in SQL. The sets are those the importer and
# the app write (tests/test_store.py checks they agree); a new value needs a migration.
ENUM_TYPES = {
    "rater_kind": ("clinician", "other", "parent", "partner", "self", "teacher"),
    "total_source_kind": ("items", "prorated", "total"),
    "age_group_kind": ("adolescent", "adult", "child"),
    "ending_kind": ("ended", "planned", "unplanned"),
}


def _enum_sql(name: str, values: tuple[str, ...]) -> str:
    """The CREATE TYPE statement of one ENUM."""
    return f"create type {name} as enum ({', '.join(repr(v) for v in values)})"


def _ratings_with_enums() -> list[str]:
    """Migration 6: the ratings table rebuilt with ENUM columns (DuckDB cannot alter the type of a column
    with a CHECK constraint), same columns in the same order, rows copied as they are."""
    return [
        *(_enum_sql(name, values) for name, values in ENUM_TYPES.items()),
        """create table ratings_v6 (
            client_id varchar not null,
            clinician_id varchar,
            episode_id varchar,
            age_group age_group_kind,
            session_date date,
            session_number integer,
            measure varchar not null,
            rater rater_kind not null default 'self',
            items double[],
            total double not null,
            total_source total_source_kind not null default 'total',
            import_id integer not null,
            source_row integer,
            ending ending_kind,
            ending_import_id integer,
            check (session_date is not null or session_number is not null)
        )""",
        "insert into ratings_v6 select * from ratings",
        "drop index if exists ratings_client",
        "drop table ratings",
        "alter table ratings_v6 rename to ratings",
        CLIENT_INDEX,
    ]


_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """create table meta (key varchar primary key, value varchar)""",
        """create table imports (
            import_id integer primary key,
            file_name varchar not null,
            sha256 varchar not null,
            imported_at timestamp not null,
            layout varchar,
            rows_read integer not null,
            rows_imported integer not null,
            rows_duplicate integer not null,
            rows_rejected integer not null,
            records_added integer not null default 0,
            strict boolean not null default false,
            mapping varchar,
            undone_at timestamp
        )""",
        """create table ratings (
            client_id varchar not null,
            clinician_id varchar,
            episode_id varchar,
            age_group varchar,
            session_date date,
            session_number integer,
            measure varchar not null,
            rater varchar not null default 'self',
            items double[],
            total double not null,
            total_source varchar not null default 'total',
            import_id integer not null,
            source_row integer,
            check (session_date is not null or session_number is not null),
            check (rater in ('self', 'parent', 'partner', 'teacher', 'other', 'clinician'))
        )""",
        CLIENT_INDEX,
        """create table rejected_rows (
            import_id integer not null,
            "row" integer,
            line integer,
            "column" varchar,
            value varchar,
            reason varchar not null,
            message varchar not null
        )""",
        """create table mappings (
            signature varchar primary key,
            mapping varchar not null,
            saved_at timestamp not null
        )""",
        """create table settings (key varchar primary key, value varchar)""",
    ],
    # 2: sign-in for shared deployments (auth.py), who may see whose clients (access.py), the audit trail.
    2: [
        """create table users (
            username varchar primary key,
            role varchar not null,
            clinician_id varchar,
            password_hash varchar not null,
            created_at timestamp not null,
            password_changed_at timestamp not null,
            check (role in ('admin', 'supervisor', 'clinician'))
        )""",
        """create table supervision (
            supervisor varchar not null,
            clinician_id varchar not null,
            primary key (supervisor, clinician_id)
        )""",
        """create table sessions (
            token_sha256 varchar primary key,
            username varchar not null,
            created_at timestamp not null,
            last_seen timestamp not null,
            expires_at timestamp not null
        )""",
        """create sequence audit_seq""",
        """create table audit_log (
            entry_id bigint not null default nextval('audit_seq'),
            logged_at timestamp not null,
            username varchar not null,
            action varchar not null,
            client_id varchar,
            detail varchar
        )""",
    ],
    # 3: episodes of care (issue 8): how an episode ended, from the export or recorded in the app, and the
    # per-client settings a clinician can change in the app (the episode gap, the age group).
    3: [
        """alter table ratings add column ending varchar""",
        """create table episode_endings (
            client_id varchar not null,
            ended_on date not null,
            ending varchar not null,
            recorded_by varchar,
            recorded_at timestamp not null,
            primary key (client_id, ended_on),
            check (ending in ('planned', 'unplanned', 'ended'))
        )""",
        """create table client_settings (
            client_id varchar primary key,
            gap_days integer,
            age_group varchar,
            updated_at timestamp not null,
            check (gap_days is null or gap_days > 0)
        )""",
    ],
    # 4: a later export can add the ending to a rating stored without one; the rating remembers which import
    # did (undoing that import removes the ending again) and each import counts the endings it added.
    4: [
        """alter table ratings add column ending_import_id integer""",
        """alter table imports add column endings_added integer default 0""",
    ],
    # 5: a later export's rows that repeat a stored rating (same scores) are remembered with that import, so
    # undoing the import that stored the rating hands it to the later one instead of deleting it.
    5: [
        """create table repeated_ratings (
            import_id integer not null,
            client_id varchar not null,
            measure varchar not null,
            rater varchar not null,
            episode_id varchar,
            session_number integer,
            session_date date,
            source_row integer,
            ending varchar
        )""",
    ],
    # 6: rater, total_source, age_group and ending as ENUMs (see ENUM_TYPES).
    6: _ratings_with_enums(),
}


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says why and what to do."""


def default_db_path() -> Path:
    """Where the store lives unless --db or CASELOAD_DB says otherwise: the user's data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "caseload" / "caseload.duckdb"


def connect(path: str | Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating and migrating if needed) the store at ``path``; ':memory:' gives a throwaway store."""
    target = str(path) if path is not None else str(default_db_path())
    if target != ":memory:":
        Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        con = duckdb.connect(target, read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        if "could not set lock" in text.lower() or "conflicting lock" in text.lower():
            raise StoreError(
                f"The store {target} is in use by another Caseload process (the app or an import). "
                "Stop that process, or import through the app, then try again."
            ) from None
        if "permission denied" in text.lower():
            raise StoreError(f"Cannot open the store {target}: {text.splitlines()[0]}") from None
        raise StoreError(_damaged(target, text)) from None
    except duckdb.Error as exc:
        raise StoreError(_damaged(target, str(exc))) from None
    con.execute("set enable_progress_bar = false")  # DuckDB's own bar would draw over our progress line
    if not read_only:
        try:
            migrate(con)
            con.execute(CLIENT_INDEX)
        except duckdb.Error as exc:
            con.close()
            raise StoreError(_damaged(target, str(exc))) from None
    return con


def _damaged(target: str, error: str) -> str:
    """The message for a store file DuckDB cannot read, naming the newest automatic backup to restore."""
    from caseload.backup import damaged_message

    return damaged_message(target, error.splitlines()[0] if error else "unreadable")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the store, 0 for a new file."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'meta'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = con.execute("select value from meta where key = 'schema_version'").fetchall()
    return int(row[0][0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the store to SCHEMA_VERSION, one migration per transaction; returns the version reached."""
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"This store was written by a newer Caseload (schema {current}; this version knows {SCHEMA_VERSION}). "
            "Upgrade Caseload to open it."
        )
    if 0 < current < SCHEMA_VERSION:
        from caseload.backup import backup_store

        backup_store(con, "migration")
    if current == 0:  # a new store: every migration in one transaction (one commit, not one per version)
        with transaction(con):
            for version in range(1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    con.execute(statement)
            con.execute("insert or replace into meta values ('schema_version', ?)", [str(SCHEMA_VERSION)])
        return SCHEMA_VERSION
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with transaction(con):
            for statement in _MIGRATIONS[version]:
                con.execute(statement)
            con.execute("insert or replace into meta values ('schema_version', ?)", [str(version)])
    return SCHEMA_VERSION


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: commit when the block ends normally, roll back on any exception."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def now_utc() -> datetime:
    """The current time in UTC without tzinfo, as stored in timestamp columns."""
    return datetime.now(UTC).replace(tzinfo=None)


def next_import_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id the next import will get."""
    return int(con.execute("select coalesce(max(import_id), 0) + 1 from imports").fetchall()[0][0])


def ratings(
    con: duckdb.DuckDBPyConnection,
    client_id: str | None = None,
    clinician_id: str | None = None,
    measure: str | None = None,
    viewer: Viewer | None = None,
) -> pd.DataFrame:
    """Stored ratings the viewer may see (default: all), canonical long layout, by client, measure, rater, session."""
    from caseload.access import Viewer, clinician_condition

    condition, params = clinician_condition(viewer or Viewer.everyone())
    where = [condition]
    for column, value in (("client_id", client_id), ("clinician_id", clinician_id), ("measure", measure)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = f"""
        select {", ".join(RATING_COLUMNS)} from ratings
        where {" and ".join(where)}
        order by client_id, measure, rater, session_date nulls last, session_number nulls last
    """
    from caseload.frames import frame_of

    return frame_of(con, sql, params)


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How much the store holds: ratings, clients, clinicians, imports."""
    row = con.execute(
        """select count(*), count(distinct client_id), count(distinct clinician_id),
                  (select count(*) from imports where undone_at is null)
           from ratings"""
    ).fetchall()[0]
    return {"ratings": row[0], "clients": row[1], "clinicians": row[2], "imports": row[3]}


def imports(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Past imports, newest first, each with the ratings it holds now (``ratings_held``): fewer than it added
    once ratings are undone with it, more once an undone earlier import handed it the ratings both held."""
    return con.execute(
        """select i.*, coalesce(h.n, 0) as ratings_held
           from imports i left join (select import_id, count(*) as n from ratings group by import_id) h
             using (import_id)
           order by i.import_id desc"""
    ).df()


def rejected_rows(con: duckdb.DuckDBPyConnection, import_id: int | None = None) -> pd.DataFrame:
    """Rows that an import rejected, with file, row, column, value and reason."""
    sql = """select i.file_name as file, r.import_id, r."row", r.line, r."column", r.value, r.reason, r.message
             from rejected_rows r join imports i using (import_id)"""
    params: list[object] = []
    if import_id is not None:
        sql += " where r.import_id = ?"
        params.append(import_id)
    return con.execute(sql + ' order by r.import_id, r."row"', params).df()


def get_setting(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    """A stored setting (e.g. the default age group), or the default."""
    row = con.execute("select value from settings where key = ?", [key]).fetchall()
    return row[0][0] if row else default


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Store a setting, replacing the previous value."""
    con.execute("insert or replace into settings values (?, ?)", [key, value])
