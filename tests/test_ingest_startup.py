"""A command-line import stays lean: it never loads pandas, whose import alone costs ~0.3 s per run."""

from __future__ import annotations

import subprocess
import sys


def test_importing_a_csv_from_the_command_line_never_loads_pandas(tmp_path):
    csv = tmp_path / "ratings.csv"
    rows = ["client,date,measure,q1,q2,q3,q4,total"] + [
        f"C{c:03d},2025-0{1 + s}-1{c % 9},{m},2.5,3.0,4.5,5.0,15.0"
        for c in range(30)
        for s in range(3)
        for m in ("ORS", "SRS")
    ]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code = f"""
import contextlib, io, json, sys
from caseload.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    exit_code = main(["import", "--db", {str(tmp_path / "store.duckdb")!r}, "--json", {str(csv)!r}])
report = json.loads(out.getvalue())[0]
print(json.dumps([exit_code, report["rows_read"], report["rows_imported"], "pandas" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    exit_code, rows_read, rows_imported, pandas_loaded = __import__("json").loads(
        done.stdout.splitlines()[-1]
    )
    assert (exit_code, rows_read, rows_imported) == (0, 180, 180)
    assert not pandas_loaded


def test_the_command_line_starts_reading_the_file_before_it_loads_duckdb_or_pyarrow(tmp_path):
    """The read-ahead thread exists to parse while DuckDB loads: the argument parser or the thread's own
    module pulling DuckDB (or pyarrow) in before the thread starts would silently undo that."""
    csv = tmp_path / "ratings.csv"
    _small_export(csv, range(0, 3))
    code = f"""
import contextlib, io, json, sys, threading
seen = {{}}
start = threading.Thread.start
def recording_start(self):
    if self.name == "caseload-read-ahead":
        seen.update(duckdb="duckdb" in sys.modules, pyarrow="pyarrow" in sys.modules)
    start(self)
threading.Thread.start = recording_start
from caseload.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    exit_code = main(["import", "--db", {str(tmp_path / "store.duckdb")!r}, "--json", {str(csv)!r}])
print(json.dumps([exit_code, seen]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    exit_code, seen = __import__("json").loads(done.stdout.splitlines()[-1])
    assert exit_code == 0
    assert seen == {"duckdb": False, "pyarrow": False}


def _small_export(path, clients: range) -> None:
    rows = ["client,date,measure,q1,q2,q3,q4,total"] + [
        f"C{c:03d},2025-02-1{s},ORS,2.5,3.0,4.5,5.0,15.0" for c in clients for s in range(3)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_file_that_cannot_be_read_is_a_one_line_error_naming_it(tmp_path, capsys):
    from caseload.cli import main

    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["import", "--db", str(tmp_path / "store.duckdb"), str(folder)]) == 2
    assert capsys.readouterr().err.strip() == f"caseload: {folder}: is a folder, not a file"
    missing = tmp_path / "nope.csv"
    assert main(["import", "--db", str(tmp_path / "store.duckdb"), str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"caseload: {missing}: cannot be read") and "\n" not in err


def test_every_file_of_one_command_is_imported_the_first_read_while_the_store_opens(tmp_path, capsys):
    import json

    from caseload.cli import main

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    _small_export(first, range(0, 4))
    _small_export(second, range(2, 7))  # clients 2 and 3 repeat the first file's ratings
    assert main(["import", "--db", str(tmp_path / "store.duckdb"), "--json", str(first), str(second)]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["rows_read"], r["rows_imported"], r["rows_duplicate"]) for r in reports] == [
        ("first.csv", 12, 12, 0),
        ("second.csv", 15, 9, 6),
    ]
