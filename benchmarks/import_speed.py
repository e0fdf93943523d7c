"""Import speed and memory: `caseload import` next to the raw readers, on 1,000,000 CSV and 100,000 XLSX ratings.

Generates (not timed) benchmarks/_data/ratings_1m.csv (canonical long layout: client, clinician, date,
session, measure ORS/SRS, four items with one decimal and the matching total) and ratings_100k.xlsx (the
same columns, real date cells). Then runs, each in its own subprocess so the figures do not share a heap:

- raw CSV: DuckDB ``create table t as select * from read_csv(file)`` (in memory)
- raw XLSX: ``pandas.read_excel(file, engine="calamine")``
- ``caseload import --json FILE`` into a fresh store file (read, recognise, check identifiers, validate
  every item and total, deduplicate against the store, write in one transaction)
- after each CSV import (not timed with it): 50 client lookups like the Client page's, on the
  imported store, to show the client index is there and used (median and max, and the scan type)

Caseload's own modules are byte-compiled first, as pip does for an installed package and as the venv's
packages (DuckDB, pyarrow ...) already are: with PYTHONDONTWRITEBYTECODE set (as on the development
machines) an editable checkout would otherwise compile its source in every process (~0.06 s).

For each: the wall time of the whole process (Python start included), its CPU time (user + system, all
threads: on a shared machine CPU time shows what the work costs, wall time what a user waits), the time
of the work itself as the process measured it, and the process's peak resident memory (ru_maxrss from
os.wait4). The best of ``--repeat`` runs by wall time is reported, with every run's wall and CPU time
beside it. Raw reads and imports run in turn (raw, import, raw, import ...), so that a machine busier in
one minute than the next weighs on both alike; each such pair's ratio is printed too.

Targets: import within 3x the raw CSV read and 1.5x the raw XLSX read; peak memory < 1.5 GB for the
1M-row CSV. Ratios are given for the process wall times (what a user waits for) and the work times.

    python benchmarks/import_speed.py [--rows 1000000] [--xlsx-rows 100000] [--repeat 3] [--regenerate]
                                      [--wait-idle 0.9]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "_data"
TARGETS = {"csv_ratio": 3.0, "xlsx_ratio": 1.5, "csv_peak_gb": 1.5}
HEADER = [
    "client_id",
    "clinician_id",
    "session_date",
    "session_number",
    "measure",
    "item_1",
    "item_2",
    "item_3",
    "item_4",
    "total",
]


def ratings_columns(n: int, seed: int = 11) -> dict[str, np.ndarray]:
    """n synthetic ORS/SRS ratings as text columns: ~40 clients per clinician, sessions a week apart."""
    rng = np.random.default_rng(seed)
    n_clients = max(n // 20, 1)
    client = rng.integers(0, n_clients, n)
    order = np.lexsort((rng.random(n), client))
    client = client[order]
    first = np.r_[True, client[1:] != client[:-1]]
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    position = np.arange(n) - start_idx
    session = position // 2 + 1
    measure = np.where(position % 2 == 0, "ORS", "SRS")
    start = rng.integers(0, 400, n_clients)
    day = start[client] + 7 * (session - 1)
    base = date(2024, 1, 1)
    dates = np.array([(base + timedelta(days=int(d))).isoformat() for d in range(int(day.max()) + 1)])[day]
    items = rng.integers(0, 101, size=(n, 4))
    total = items.sum(axis=1)

    def one_decimal(v: np.ndarray) -> np.ndarray:
        return np.char.add(np.char.add((v // 10).astype(str), "."), (v % 10).astype(str))

    return {
        "client_id": np.char.add("C", np.char.zfill(client.astype(str), 6)),
        "clinician_id": np.char.add("T", np.char.zfill((client // 40).astype(str), 4)),
        "session_date": dates,
        "session_number": session.astype(str),
        "measure": measure,
        **{f"item_{k + 1}": one_decimal(items[:, k]) for k in range(4)},
        "total": one_decimal(total),
    }


def write_csv(path: Path, n: int) -> None:
    cols = ratings_columns(n)
    lines = cols[HEADER[0]]
    for name in HEADER[1:]:
        lines = np.char.add(np.char.add(lines, ","), cols[name])
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(HEADER) + "\n")
        for chunk in range(0, n, 100_000):
            fh.write("\n".join(lines[chunk : chunk + 100_000].tolist()) + "\n")


def write_xlsx(path: Path, n: int) -> None:
    """openpyxl in write-only mode (streams rows); real date cells and numeric scores."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    cols = ratings_columns(n, seed=12)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Ratings")
    ws.append(HEADER)
    dates = [date.fromisoformat(d) for d in cols["session_date"].tolist()]
    numeric = {name: cols[name].astype(float).tolist() for name in HEADER[5:]}
    sessions = cols["session_number"].astype(int).tolist()
    clients, clinicians, measures = (cols[c].tolist() for c in ("client_id", "clinician_id", "measure"))
    for i in range(n):
        d = WriteOnlyCell(ws, value=dates[i])
        d.number_format = "dd/mm/yyyy"
        ws.append(
            [clients[i], clinicians[i], d, sessions[i], measures[i], *(numeric[c][i] for c in HEADER[5:])]
        )
    wb.save(path)


RAW_CSV = """
import json, resource, sys, time
t = time.perf_counter()
import duckdb
con = duckdb.connect()
con.execute("create table t as select * from read_csv(?)", [sys.argv[1]])
n = con.execute("select count(*) from t").fetchall()[0][0]
print(json.dumps({"work_s": time.perf_counter() - t, "rows": n}))
"""

RAW_XLSX = """
import json, sys, time
t = time.perf_counter()
import pandas as pd
frame = pd.read_excel(sys.argv[1], engine="calamine")
print(json.dumps({"work_s": time.perf_counter() - t, "rows": len(frame)}))
"""

IMPORT = """
import json, sys, time, io, contextlib
t = time.perf_counter()
from caseload.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["import", "--db", sys.argv[2], "--json", sys.argv[1]])
report = json.loads(out.getvalue())[0]
print(json.dumps({"work_s": time.perf_counter() - t, "rows": report["rows_read"], "code": code,
                  "imported": report["rows_imported"], "rejected": report["rows_rejected"],
                  "ratings": report["records_added"]}))
"""


LOOKUP = """
import json, random, statistics, sys, time
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
clients = [r[0] for r in con.execute("select distinct client_id from ratings").fetchall()]
random.Random(5).shuffle(clients)
times = []
for client in clients[:60]:
    t = time.perf_counter()
    con.execute("select * from ratings where client_id = ? order by measure, session_number", [client]).fetchall()
    times.append(time.perf_counter() - t)
plan = con.execute("explain analyze select * from ratings where client_id = ?", [clients[0]]).fetchall()[0][1]
timed = times[10:] or times  # the first lookups warm the buffer cache
print(json.dumps({"median_ms": 1000 * statistics.median(timed), "max_ms": 1000 * max(timed), "n": len(timed),
                  "index_scan": "Index Scan" in plan, "work_s": 0, "rows": len(clients)}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run code in a fresh Python; its wall time, its own timing and its peak RSS (ru_maxrss, KiB on Linux)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,):
        raise RuntimeError(f"child failed ({proc.returncode}): {err.decode()[-2000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, peak_mb=usage.ru_maxrss / 1024)
    return result


def one_run(code: str, *args: str, fresh_db: bool = False, after=None) -> dict:
    """One run; with fresh_db it imports into a new store, which ``after`` may inspect."""
    if not fresh_db:
        return run_child(code, *args)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.duckdb")
        run = run_child(code, *args, db)
        if after is not None:
            run["after"] = after(db)
        return run


def best(runs: list[dict]) -> dict:
    """The run with the least wall time, with the highest peak memory and every run's wall time beside it."""
    chosen = dict(min(runs, key=lambda r: r["wall_s"]))
    chosen["peak_mb"] = max(r["peak_mb"] for r in runs)
    chosen["wall_all"] = [round(r["wall_s"], 2) for r in runs]
    chosen["cpu_all"] = [round(r["cpu_s"], 2) for r in runs]
    return chosen


def idle_share(seconds: float) -> float:
    """The share of all CPUs' time that was idle over the next ``seconds`` (from /proc/stat; 1.0 elsewhere)."""
    try:
        before = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        time.sleep(seconds)
        after = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 1.0
    spent = [a - b for a, b in zip(after, before, strict=True)]
    return (spent[3] + spent[4]) / max(sum(spent), 1)  # idle + iowait


def wait_for_idle(share: float, timeout: float = 300.0) -> float:
    """Wait (at most ``timeout`` seconds) until the machine was at least ``share`` idle for 2 s; the share seen."""
    deadline = time.monotonic() + timeout
    seen = idle_share(2.0)
    while seen < share and time.monotonic() < deadline:
        seen = idle_share(2.0)
    return seen


WAIT_IDLE = 0.0  # set from --wait-idle


def alternating(repeat: int, raw: tuple, imported: tuple) -> tuple[dict, dict, list[float]]:
    """The best raw read and the best import of ``repeat`` runs each, run in turn (raw, import, raw, ...)
    so that a machine busier in one minute than the next weighs on both alike; and each pair's ratio.
    With --wait-idle each pair starts once the machine is that idle (other work on a shared machine)."""
    raw_runs, import_runs = [], []
    for _ in range(repeat):
        if WAIT_IDLE:
            print(f"  ({wait_for_idle(WAIT_IDLE):.0%} idle before this pair)", flush=True)
        raw_runs.append(one_run(*raw[0], **raw[1]))
        import_runs.append(one_run(*imported[0], **imported[1]))
    ratios = [round(i["wall_s"] / r["wall_s"], 2) for r, i in zip(raw_runs, import_runs, strict=True)]
    return best(raw_runs), best(import_runs), ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="before each raw/import pair wait until the machine was this idle for 2 s, e.g. 0.9 (shared machines)",
    )
    args = parser.parse_args()
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle
    DATA.mkdir(parents=True, exist_ok=True)
    csv_path = DATA / f"ratings_{args.rows}.csv"
    xlsx_path = DATA / f"ratings_{args.xlsx_rows}.xlsx"
    if args.regenerate or not csv_path.exists():
        t = time.perf_counter()
        write_csv(csv_path, args.rows)
        print(
            f"generated {csv_path.name} ({csv_path.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
    if args.regenerate or not xlsx_path.exists():
        t = time.perf_counter()
        write_xlsx(xlsx_path, args.xlsx_rows)
        print(
            f"generated {xlsx_path.name} ({xlsx_path.stat().st_size / 2**20:.1f} MB) in {time.perf_counter() - t:.1f} s"
        )

    compileall.compile_dir(ROOT / "src" / "caseload", quiet=1)
    results: dict[str, dict] = {}
    results["csv_raw"], results["csv_import"], csv_pairs = alternating(
        args.repeat,
        ((RAW_CSV, str(csv_path)), {}),
        ((IMPORT, str(csv_path)), {"fresh_db": True, "after": lambda db: run_child(LOOKUP, db)}),
    )
    results["xlsx_raw"], results["xlsx_import"], xlsx_pairs = alternating(
        args.repeat, ((RAW_XLSX, str(xlsx_path)), {}), ((IMPORT, str(xlsx_path)), {"fresh_db": True})
    )
    for key in ("csv_import", "xlsx_import"):
        r = results[key]
        assert r["code"] == 0 and r["rejected"] == 0, r
    print(
        f"\n{'':28}{'process wall':>14}{'CPU':>9}{'work':>10}{'peak RSS':>12}   rows   (wall / CPU of all runs)"
    )
    labels = {
        "csv_raw": f"DuckDB read_csv ({args.rows:,})",
        "csv_import": "caseload import CSV",
        "xlsx_raw": f"pandas calamine ({args.xlsx_rows:,})",
        "xlsx_import": "caseload import XLSX",
    }
    for key, r in results.items():
        print(
            f"{labels[key]:28}{r['wall_s']:>12.2f} s{r['cpu_s']:>7.2f} s{r['work_s']:>8.2f} s{r['peak_mb']:>9.0f} MB"
            f"   {r['rows']:,}   {r['wall_all']} / {r['cpu_all']}"
        )
    csv_ratio = results["csv_import"]["wall_s"] / results["csv_raw"]["wall_s"]
    xlsx_ratio = results["xlsx_import"]["wall_s"] / results["xlsx_raw"]["wall_s"]
    csv_work = results["csv_import"]["work_s"] / results["csv_raw"]["work_s"]
    xlsx_work = results["xlsx_import"]["work_s"] / results["xlsx_raw"]["work_s"]
    peak_gb = results["csv_import"]["peak_mb"] / 1024
    checks = [
        ("CSV import / raw read (process)", csv_ratio, TARGETS["csv_ratio"]),
        ("XLSX import / raw read (process)", xlsx_ratio, TARGETS["xlsx_ratio"]),
        ("CSV import peak memory (GB)", peak_gb, TARGETS["csv_peak_gb"]),
    ]
    print()
    for label, value, target in checks:
        print(f"{label:36}{value:8.2f}   target < {target:g}   {'OK' if value <= target else 'MISSED'}")
    lookup = results["csv_import"]["after"]
    print(
        f"{'Client lookup after the CSV import':36}{lookup['median_ms']:8.1f} ms median, {lookup['max_ms']:.1f} ms max"
        f" over {lookup['n']} of {lookup['rows']:,} clients ({'index scan' if lookup['index_scan'] else 'NO index scan'})"
    )
    print(f"{'CSV import / raw read, run by run':36}    {csv_pairs}")
    print(f"{'XLSX import / raw read, run by run':36}    {xlsx_pairs}")
    csv_cpu = results["csv_import"]["cpu_s"] / results["csv_raw"]["cpu_s"]
    xlsx_cpu = results["xlsx_import"]["cpu_s"] / results["xlsx_raw"]["cpu_s"]
    print(f"{'CSV import / raw read (CPU)':36}{csv_cpu:8.2f}")
    print(f"{'XLSX import / raw read (CPU)':36}{xlsx_cpu:8.2f}")
    print(f"{'CSV import / raw read (work only)':36}{csv_work:8.2f}")
    print(f"{'XLSX import / raw read (work only)':36}{xlsx_work:8.2f}")
    print(
        json.dumps(
            {
                "results": results,
                "csv_ratio": csv_ratio,
                "xlsx_ratio": xlsx_ratio,
                "peak_gb": peak_gb,
                "csv_ratios_run_by_run": csv_pairs,
                "xlsx_ratios_run_by_run": xlsx_pairs,
            }
        )
    )
    return 0 if all(v <= t for _l, v, t in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
