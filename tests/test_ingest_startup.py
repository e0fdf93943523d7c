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
