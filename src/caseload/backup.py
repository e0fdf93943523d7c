"""Automatic backups of the store before each import or migration, damage detection and restore.

A backup is a consistent copy made by DuckDB itself (``COPY FROM DATABASE`` inside one transaction), so
it is safe while the app keeps reading and writing, and making it reads every block of the store: a
store with a damaged block fails here, before an import could add to it. Backups live in ``backups/``
beside the store file (``<stem>.<UTC time>.<reason>.duckdb``, owner-only permissions); the newest
BACKUP_KEEP are kept. ``caseload restore`` puts one back after moving the current file aside.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from caseload.store import StoreError, now_utc

BACKUP_KEEP = 5
_STAMP = "%Y%m%d-%H%M%S-%f"
_NAME = re.compile(r"^(?P<stem>.+)\.(?P<stamp>\d{8}-\d{6}-\d{6})\.(?P<reason>[a-z][a-z-]*)\.duckdb$")


class BackupError(StoreError):
    """A backup or restore that could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """One backup file: where it is, when (UTC) and why it was taken, and its size in bytes."""

    path: Path
    taken_at: datetime
    reason: str
    size: int

    def describe(self) -> str:
        """One line for messages: file name, time and reason."""
        return f"{self.path.name} (taken {self.taken_at:%Y-%m-%d %H:%M:%S} UTC before {self.reason.replace('-', ' ')})"


def store_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind a store connection, or None for an in-memory store."""
    rows = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    path = rows[0][0] if rows else None
    return Path(path) if path else None


def backup_dir(db_path: str | Path) -> Path:
    """Where the backups of a store file go: ``backups/`` beside it."""
    return Path(db_path).expanduser().parent / "backups"


def list_backups(db_path: str | Path) -> list[Backup]:
    """The backups of this store file, newest first."""
    db = Path(db_path).expanduser()
    folder = backup_dir(db)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if not match or match["stem"] != db.stem or not path.is_file():
            continue
        taken = datetime.strptime(match["stamp"], _STAMP)
        found.append(Backup(path, taken, match["reason"], path.stat().st_size))
    return sorted(found, key=lambda b: (b.taken_at, b.path.name), reverse=True)


def latest_backup(db_path: str | Path) -> Backup | None:
    """The newest backup of this store file, if any."""
    backups = list_backups(db_path)
    return backups[0] if backups else None


def damaged_message(db_path: str | Path, detail: str) -> str:
    """What to tell a user whose store file cannot be read: the cause and the backup to restore."""
    db = Path(db_path).expanduser()
    newest = latest_backup(db)
    text = f"The store {db} could not be read: it is damaged or not a Caseload store ({detail})."
    if newest is None:
        return text + f" No automatic backup was found in {backup_dir(db)}."
    return (
        text + f" The newest automatic backup is {newest.describe()}; restore it with: "
        f"caseload restore latest --db {db}"
    )


def holds_nothing(con: duckdb.DuckDBPyConnection) -> bool:
    """True for a store that holds nothing but its schema version: no rating, import, user, setting or
    audit entry. Backing it up before its first import would keep an empty file and check no data block."""
    tables = [
        r[0]
        for r in con.execute(
            """select table_name from duckdb_tables()
               where database_name = current_database() and schema_name = 'main' and table_name <> 'meta'"""
        ).fetchall()
    ]
    if not tables:
        return True
    # One row at most per table; a union of LIMIT 1 scans plans in 2 ms where OR-ed EXISTS took 40 ms.
    first_rows = " union all ".join(f'(select 1 from "{t}" limit 1)' for t in tables)
    return con.execute(f"select count(*) from ({first_rows})").fetchall()[0][0] == 0


def backup_store(con: duckdb.DuckDBPyConnection, reason: str, keep: int = BACKUP_KEEP) -> Backup | None:
    """Copy the store to a new backup file (None for an in-memory store) and prune to the newest ``keep``."""
    if not re.fullmatch(r"[a-z][a-z-]*", reason):
        raise ValueError(f"backup reason {reason!r} must be lowercase words joined by '-'")
    db = store_file(con)
    if db is None:
        return None
    folder = backup_dir(db)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    taken = now_utc()
    final = folder / f"{db.stem}.{taken.strftime(_STAMP)}.{reason}.duckdb"
    partial = folder / f".{final.name}.{uuid.uuid4().hex[:8]}.partial"
    alias = f"caseload_backup_{uuid.uuid4().hex[:12]}"
    source = con.execute("select current_database()").fetchall()[0][0]
    try:
        con.execute(f"attach '{partial}' as {alias}")
        try:
            con.execute(f"copy from database {source} to {alias}")
        finally:
            con.execute(f"detach {alias}")
    except duckdb.Error as exc:
        for leftover in (partial, Path(f"{partial}.wal")):
            leftover.unlink(missing_ok=True)
        raise BackupError(
            damaged_message(db, f"{str(exc).splitlines()[0]}; found while backing it up")
        ) from None
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    for old in list_backups(db)[keep:]:
        old.path.unlink(missing_ok=True)
    return Backup(final, taken, reason, final.stat().st_size)


def check_store(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Read every row of every table (so every block's checksum is verified); rows per table, or StoreError."""
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() order by 1"
        ).fetchall()
    ]
    rows = {}
    try:
        for table in tables:
            rows[table] = int(con.execute(f'select count(*), sum(hash(t)) from "{table}" t').fetchall()[0][0])
    except duckdb.Error as exc:
        db = store_file(con)
        raise StoreError(damaged_message(db or "(in memory)", str(exc).splitlines()[0])) from None
    return rows


def _store_in_use(db: Path) -> bool:
    """True when another process holds DuckDB's lock on the file (an app or an import is running)."""
    try:
        fd = os.open(db, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _resolve(db: Path, which: str | Path) -> Backup:
    backups = list_backups(db)
    if str(which) == "latest":
        if not backups:
            raise BackupError(f"There is no automatic backup of {db} in {backup_dir(db)}.")
        return backups[0]
    wanted = Path(which).expanduser()
    for b in backups:
        if b.path.name == wanted.name or b.path == wanted:
            return b
    if wanted.is_file():
        return Backup(
            wanted, datetime.fromtimestamp(wanted.stat().st_mtime), "a manual copy", wanted.stat().st_size
        )
    raise BackupError(f"No backup {str(which)!r}; see the list with: caseload restore --db {db}")


@dataclass(frozen=True)
class Restored:
    """What a restore did: which backup came back and where the replaced file was moved."""

    backup: Backup
    replaced: Path | None
    counts: dict[str, int]


def restore(db_path: str | Path, which: str | Path = "latest") -> Restored:
    """Put a backup in place of the store file; the current file (damaged or not) is kept beside the backups."""
    from caseload.store import connect

    db = Path(db_path).expanduser()
    chosen = _resolve(db, which)
    try:
        probe = duckdb.connect(str(chosen.path), read_only=True)
    except duckdb.Error as exc:
        raise BackupError(
            f"The backup {chosen.path} cannot be opened ({str(exc).splitlines()[0]})."
        ) from None
    try:
        check_store(probe)
        if not probe.execute("select count(*) from duckdb_tables() where table_name = 'meta'").fetchall()[0][
            0
        ]:
            raise BackupError(f"{chosen.path} is not a Caseload store.")
    except StoreError as exc:
        raise BackupError(f"The backup {chosen.path.name} is itself unreadable: {exc}") from None
    finally:
        probe.close()
    if db.exists() and _store_in_use(db):
        raise BackupError(
            f"The store {db} is in use by another Caseload process (the app or an import). Stop it, then restore."
        )
    replaced = None
    stamp = now_utc().strftime(_STAMP)
    if db.exists():
        replaced = backup_dir(db) / f"{db.name}.replaced-{stamp}"
        replaced.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(db, replaced)
        os.chmod(replaced, 0o600)
    wal = Path(f"{db}.wal")
    if wal.exists():
        os.replace(wal, backup_dir(db) / f"{db.name}.wal.replaced-{stamp}")
    partial = db.with_name(f".{db.name}.restoring")
    shutil.copyfile(chosen.path, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, db)
    con = connect(db)
    try:
        counts = check_store(con)
        from caseload import audit

        audit.record(con, audit.COMMAND_LINE, "restore", reason=chosen.reason.replace(" ", "-"))
    finally:
        con.close()
    return Restored(chosen, replaced, counts)
