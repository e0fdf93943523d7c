"""Faults lose nothing: an import killed mid-write, imports and readers racing for the store, a damaged file.

These run the real ``caseload`` command in separate processes, the way a user or a cron job would.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caseload import backup, store

BIG_ROWS = 120_000  # large enough that storing takes a while, small enough for a 2-core test run
CASELOAD = [str(Path(sys.executable).with_name("caseload"))]  # the installed console script, as users run it


def write_canonical_csv(
    path: Path, n_clients: int, sessions: int = 10, prefix: str = "C", seed: int = 1
) -> int:
    """A canonical long-layout export: ORS and SRS with 4 items and a total per session; returns rows."""
    rng = np.random.default_rng(seed)
    client = np.repeat(np.arange(n_clients), sessions * 2)
    session = np.tile(np.repeat(np.arange(1, sessions + 1), 2), n_clients)
    items = np.round(rng.uniform(0, 10, (len(client), 4)), 1)
    frame = pd.DataFrame(
        {
            "client_id": pd.Series(client).map(lambda i: f"{prefix}{i:06d}"),
            "clinician_id": pd.Series(client % 40).map(lambda i: f"T{i:02d}"),
            "session_date": (
                pd.Timestamp("2025-01-06") + pd.to_timedelta((session - 1) * 7, unit="D")
            ).strftime("%Y-%m-%d"),
            "session_number": session,
            "measure": np.tile(np.array(["ORS", "SRS"]), n_clients * sessions),
        }
    )
    for k in range(4):
        frame[f"item_{k + 1}"] = items[:, k]
    frame["total"] = np.round(items.sum(axis=1), 1)
    frame.to_csv(path, index=False)
    return len(frame)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    files = {
        "small": folder / "small.csv",
        "big": folder / "big.csv",
        "other": folder / "other.csv",
        "more": folder / "more.csv",
    }
    write_canonical_csv(files["small"], 50, prefix="P", seed=2)
    write_canonical_csv(files["big"], BIG_ROWS // 20, prefix="C", seed=1)
    write_canonical_csv(files["other"], 1_500, prefix="Q", seed=3)
    write_canonical_csv(files["more"], 1_500, prefix="R", seed=4)
    return files


def caseload(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CASELOAD, *args], capture_output=True, text=True, timeout=300, **kwargs)


def fingerprint(db: Path) -> tuple:
    """What the store holds: ratings (count and an order-free hash) and the live imports."""
    con = store.connect(db)
    try:
        ratings = con.execute(  # import ids depend on which import got the store first
            "select count(*), sum(hash(r)) from (select * exclude (import_id) from ratings) r"
        ).fetchall()[0]
        imports = con.execute(
            "select import_id, sha256, rows_imported from imports where undone_at is null order by 1"
        ).fetchall()
        return ratings, tuple(imports)
    finally:
        con.close()


def run_with_progress(args: list[str]) -> tuple[subprocess.Popen, int]:
    """Start ``caseload`` with stderr on a terminal, so it prints its import progress as a person sees it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CASELOAD, *args], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    return proc, master


def wait_for_text(master: int, proc: subprocess.Popen, text: str, timeout: float = 240) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
            if text.encode() in seen:
                return seen.decode(errors="replace")
        elif proc.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}; output so far: {seen.decode(errors='replace')[-500:]}")


@pytest.mark.parametrize("phase, delay", [("storing", 0.15), ("validating rows", 0.05)])
def test_an_import_killed_mid_way_leaves_the_previous_data_intact_and_the_reimport_completes(
    exports, tmp_path, phase, delay
):
    db = tmp_path / "store.duckdb"
    done = caseload("import", str(exports["small"]), "--db", str(db))
    assert done.returncode == 0, done.stderr
    before = fingerprint(db)
    assert before[0][0] == 1_000

    proc, master = run_with_progress(["import", str(exports["big"]), "--db", str(db)])
    try:
        wait_for_text(master, proc, phase)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    assert fingerprint(db) == before  # opens, and holds exactly what it held before the killed import
    redo = caseload("import", str(exports["big"]), "--db", str(db))
    assert redo.returncode == 0, redo.stderr
    assert f"{BIG_ROWS} imported" in redo.stdout
    (count, _), imports = fingerprint(db)
    assert count == 1_000 + BIG_ROWS
    assert len(imports) == 2
    check = caseload("check", "--db", str(db))
    assert check.returncode == 0 and "reads back completely" in check.stdout


def test_a_second_process_meeting_the_lock_gets_one_clear_line_and_exit_code_2(exports, tmp_path):
    db = tmp_path / "store.duckdb"
    store.connect(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from caseload.store import connect; c = connect({str(db)!r}); print('open', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        for args in (["import", str(exports["small"])], ["check"], ["user", "list"], ["audit"]):
            result = caseload(*args, "--db", str(db))
            assert result.returncode == 2, (args, result)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert (
                lines[0].startswith("caseload: The store")
                and "in use by another Caseload process" in lines[0]
            )
            assert "Traceback" not in result.stderr
    finally:
        holder.communicate("\n", timeout=30)


def test_two_imports_and_several_readers_at_once_lose_and_corrupt_nothing(exports, tmp_path):
    db = tmp_path / "store.duckdb"
    assert caseload("import", str(exports["small"]), "--db", str(db)).returncode == 0
    commands = [
        ["import", str(exports["other"])],
        ["import", str(exports["more"])],
        *[["check"] for _ in range(4)],
    ]
    procs = [
        subprocess.Popen(
            [*CASELOAD, *c, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in commands
    ]
    results = [(c, *p.communicate(timeout=300), p.returncode) for c, p in zip(commands, procs, strict=True)]
    pending = []
    for command, _out, err, code in results:
        assert "Traceback" not in err, err
        if code == 2:
            assert "in use by another Caseload process" in err and len(err.strip().splitlines()) == 1
            if command[0] == "import":
                pending.append(command)
        else:
            assert code == 0, (command, err)
    assert any(r[3] == 0 for r in results)  # somebody got the store
    for command in pending:  # what met the lock is simply run again, as the message says
        for _ in range(100):
            again = caseload(*command, "--db", str(db))
            if again.returncode != 2:
                break
            time.sleep(0.2)
        assert again.returncode == 0, again.stderr

    reference = tmp_path / "reference.duckdb"
    for name in ("small", "other", "more"):
        assert caseload("import", str(exports[name]), "--db", str(reference)).returncode == 0
    (count, digest), imports = fingerprint(db)
    (ref_count, ref_digest), _ = fingerprint(reference)
    assert (count, digest) == (ref_count, ref_digest)
    assert count == 1_000 + 30_000 + 30_000
    assert len(imports) == 3
    assert caseload("check", "--db", str(db)).returncode == 0


def test_readers_in_one_app_process_see_the_store_before_or_after_an_import_never_half(
    exports, tmp_path, registry
):
    from caseload.ingest import import_file

    db = tmp_path / "store.duckdb"
    con = store.connect(db)
    import_file(con, exports["small"], registry=registry)
    seen: set[int] = set()
    errors: list[BaseException] = []
    finished = threading.Event()

    def reader() -> None:
        cur = con.cursor()
        try:
            while not finished.is_set():
                n, clients = cur.execute(
                    "select count(*), count(distinct client_id) from ratings"
                ).fetchall()[0]
                seen.add(n)
                assert (n, clients) in {(1_000, 50), (1_000 + 30_000, 50 + 1_500)}, (n, clients)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            cur.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        report = import_file(con.cursor(), exports["other"], registry=registry)
    finally:
        time.sleep(0.2)
        finished.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[0]
    assert report.rows_imported == 30_000
    assert 1_000 in seen
    assert store.counts(con)["ratings"] == 31_000
    con.close()


def test_a_truncated_store_is_reported_in_one_line_and_restored_from_the_automatic_backup(exports, tmp_path):
    db = tmp_path / "store.duckdb"
    assert caseload("import", str(exports["small"]), "--db", str(db)).returncode == 0
    assert caseload("import", str(exports["other"]), "--db", str(db)).returncode == 0
    backups = backup.list_backups(db)
    assert backups and backups[0].reason == "import"  # taken automatically before the second import
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 3)

    broken = caseload("overview", "--db", str(db))
    assert broken.returncode == 2
    (line,) = broken.stderr.strip().splitlines()
    assert "could not be read: it is damaged" in line
    assert backups[0].path.name in line and "caseload restore latest" in line

    listing = caseload("restore", "--db", str(db))
    assert backups[0].path.name in listing.stdout
    restored = caseload("restore", "latest", "--db", str(db))
    assert restored.returncode == 0, restored.stderr
    assert "1,000 ratings" in restored.stdout  # the state before the second import
    assert caseload("check", "--db", str(db)).returncode == 0
    again = caseload("import", str(exports["other"]), "--db", str(db))
    assert again.returncode == 0 and "30000 imported" in again.stdout
