"""Automatic backups, damage detection and restore (caseload.backup and the store's open path)."""

from __future__ import annotations

import os
import stat

import duckdb
import pytest
from _team import TWO_CLINICIANS, add_ratings

from caseload import backup, store
from caseload.store import StoreError


@pytest.fixture
def filled(db_path):
    con = store.connect(db_path)
    add_ratings(con, TWO_CLINICIANS)
    con.execute("checkpoint")
    return con


def _ratings(con) -> list[tuple]:
    return con.execute(
        "select client_id, clinician_id, session_number, total from ratings order by all"
    ).fetchall()


def test_a_backup_is_a_complete_store_readable_on_its_own(filled, db_path):
    taken = backup.backup_store(filled, "import")
    assert taken.path.parent == db_path.parent / "backups"
    assert taken.path.name.startswith("caseload.") and taken.path.name.endswith(".import.duckdb")
    assert stat.S_IMODE(taken.path.stat().st_mode) == 0o600
    copy = duckdb.connect(str(taken.path), read_only=True)
    assert _ratings(copy) == _ratings(filled)
    assert copy.execute("select value from meta where key = 'schema_version'").fetchall() == [
        (str(store.SCHEMA_VERSION),)
    ]
    copy.close()


def test_an_in_memory_store_has_nothing_to_back_up(con):
    assert backup.backup_store(con, "import") is None


def test_only_the_newest_backups_are_kept(filled, db_path):
    made = [backup.backup_store(filled, "import", keep=3).path for _ in range(5)]
    kept = [b.path for b in backup.list_backups(db_path)]
    assert kept == made[::-1][:3]


def test_backups_of_another_store_in_the_same_folder_are_not_mixed_up(filled, db_path, tmp_path):
    other = store.connect(tmp_path / "other.duckdb")
    backup.backup_store(other, "import")
    backup.backup_store(filled, "import")
    assert [b.path.name.split(".")[0] for b in backup.list_backups(db_path)] == ["caseload"]
    other.close()


def test_a_truncated_store_is_detected_and_the_message_names_the_backup_to_restore(filled, db_path):
    taken = backup.backup_store(filled, "import")
    filled.close()
    size = db_path.stat().st_size
    with open(db_path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(StoreError) as info:
        store.connect(db_path)
    message = str(info.value)
    assert "could not be read" in message and "damaged" in message
    assert taken.path.name in message
    assert f"caseload restore latest --db {db_path}" in message


def test_a_file_overwritten_with_garbage_is_detected(filled, db_path):
    filled.close()
    with open(db_path, "r+b") as f:
        f.write(os.urandom(4096))
    with pytest.raises(StoreError, match="damaged.*No automatic backup was found"):
        store.connect(db_path)


def _big_store(path) -> duckdb.DuckDBPyConnection:
    """200,000 ratings written by SQL: enough data blocks that damage can sit apart from the catalog."""
    con = store.connect(path)
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'big.csv', 'x', now(), 200000, 200000, 0, 0)"
    )
    con.execute(
        """insert into ratings select 'C' || lpad((i // 20)::varchar, 6, '0'), 'T' || (i // 800)::varchar,
           null, 'adult', date '2026-01-01' + (i % 20)::int * 7, i % 20 + 1, 'ORS', 'self',
           [1.0, 2, 3, 4], (i % 400) / 10, 'total', 1, i, null, null from range(200000) r(i)"""
    )
    con.execute("checkpoint")
    return con


def test_a_damaged_data_block_stops_the_backup_before_an_import_and_keeps_the_good_backups(tmp_path):
    db = tmp_path / "big.duckdb"
    con = _big_store(db)
    good = backup.backup_store(con, "import")
    con.close()
    pristine = db.read_bytes()
    caught = 0
    for fraction in (0.2, 0.3, 0.4, 0.6, 0.7):  # damage somewhere in the data, with the header intact
        db.write_bytes(pristine)
        with open(db, "r+b") as f:
            f.seek(int(len(pristine) * fraction))
            f.write(b"\xab" * 65536)
        try:
            con = store.connect(db)
        except StoreError as exc:  # the catalog itself was hit: refused at once, backup named
            assert good.path.name in str(exc)
            continue
        try:
            backup.backup_store(con, "import")
        except StoreError as exc:
            caught += 1
            assert "damaged" in str(exc) and good.path.name in str(exc)
            assert "caseload restore latest" in str(exc)
            with pytest.raises(StoreError, match="damaged"):
                backup.check_store(con)
        finally:
            con.close()
        assert [b.path for b in backup.list_backups(db)][-1] == good.path  # never rotated out by damage
    assert caught >= 1  # at least one spot was data that only a full read finds


def test_restore_puts_the_backup_back_and_keeps_the_replaced_file(filled, db_path):
    before = _ratings(filled)
    backup.backup_store(filled, "import")
    filled.execute("delete from ratings where clinician_id = 'T01'")
    filled.close()
    with open(db_path, "r+b") as f:
        f.truncate(1000)
    done = backup.restore(db_path, "latest")
    assert done.replaced is not None and done.replaced.exists()
    assert done.counts["ratings"] == len(before)
    con = store.connect(db_path)
    assert _ratings(con) == before
    assert con.execute("select action from audit_log").fetchall() == [("restore",)]
    con.close()


def test_restore_refuses_while_another_process_holds_the_store(filled, db_path, tmp_path):
    import subprocess
    import sys

    backup.backup_store(filled, "import")
    filled.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db_path)!r}); print('x', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "x"
        with pytest.raises(backup.BackupError, match="in use by another Caseload process"):
            backup.restore(db_path, "latest")
    finally:
        holder.kill()
        holder.wait()
    assert db_path.exists()


def test_restoring_without_any_backup_says_so(db_path):
    store.connect(db_path).close()
    with pytest.raises(backup.BackupError, match="no automatic backup"):
        backup.restore(db_path, "latest")


def _version_1_store(path) -> None:
    """A store as the first release wrote it: migration 1 only, with two ratings."""
    con = duckdb.connect(str(path))
    for statement in store._MIGRATIONS[1]:
        con.execute(statement)
    con.execute("insert into meta values ('schema_version', '1')")
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'old.csv', 'x', now(), 2, 2, 0, 0)"
    )
    con.execute(
        "insert into ratings (client_id, clinician_id, session_date, session_number, measure, total, import_id)"
        " values ('C001', 'T01', date '2026-01-05', 1, 'ORS', 18, 1), ('C001', 'T01', date '2026-01-12', 2,"
        " 'ORS', 22.5, 1)"
    )
    con.close()


def test_an_older_store_is_backed_up_before_it_is_migrated(db_path):
    _version_1_store(db_path)
    con = store.connect(db_path)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    (taken,) = backup.list_backups(db_path)
    assert taken.reason == "migration"
    old = duckdb.connect(str(taken.path), read_only=True)
    assert old.execute("select value from meta where key = 'schema_version'").fetchall() == [("1",)]
    assert len(_ratings(old)) == 2
    old.close()
    # The migrated store keeps the ratings, with no ending recorded, and has the newer tables.
    assert con.execute("select client_id, total, ending from ratings order by total").fetchall() == [
        ("C001", 18.0, None),
        ("C001", 22.5, None),
    ]
    assert backup.check_store(con)["episode_endings"] == 0
    con.close()


def test_check_store_reads_every_table(filled):
    counts = backup.check_store(filled)
    assert counts["ratings"] == len(TWO_CLINICIANS)
    assert {"users", "audit_log", "imports", "meta"} <= set(counts)


def test_the_first_import_into_a_new_store_takes_no_backup_but_every_later_one_does(tmp_path):
    """A brand-new store holds nothing to lose or to check for damage; once it holds anything, even only
    a user or a setting, each import is backed up first."""
    from caseload.ingest import import_file
    from caseload.measures import load_measures

    def export(client: str) -> bytes:
        return f"client,date,measure,total\n{client},2026-01-05,ORS,20\n".encode()

    db = tmp_path / "store.duckdb"
    con = store.connect(db)
    assert backup.holds_nothing(con)
    import_file(con, export("C1"), file_name="a.csv", registry=load_measures())
    assert backup.list_backups(db) == []
    assert not backup.holds_nothing(con)
    import_file(con, export("C2"), file_name="b.csv", registry=load_measures())
    assert [b.reason for b in backup.list_backups(db)] == ["import"]
    con.close()

    other = tmp_path / "settings_only.duckdb"
    con = store.connect(other)
    store.set_setting(con, "episodes.gap_days", "90")
    assert not backup.holds_nothing(con)
    import_file(con, export("C1"), file_name="a.csv", registry=load_measures())
    assert [b.reason for b in backup.list_backups(other)] == ["import"]
    con.close()
