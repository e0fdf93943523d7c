"""Load test: 20 concurrent app sessions browse the Caseload and Client pages while an import runs.

A real Caseload server (``streamlit run app.py``) listens on 127.0.0.1 with sign-in on. Each session is a
WebSocket client speaking Streamlit's own protocol (the browser's BackMsg/ForwardMsg protobufs): it
signs in through the sign-in form as one user (clinicians, supervisors, an admin), then loads the
Caseload page and Client pages (``?client=CODE`` for clients it may see, and now and then one it may
not) until the time or page budget is spent. A page's latency runs from the request to the server's
"script finished". A few seconds in, an import of a large export starts *inside the server process*
(the store file can only be open in one process, so an import always runs there, as from the Import
page), so sessions browse before, during and after it.

Errors: a page that raised, a server-side compile error, a timeout, a dropped connection, a failed
sign-in, and - checked on every table a session receives - any row of a clinician the signed-in user
may not see, or a client page that shows a forbidden client. Target: no errors, p95 < 2 s.

Loopback only; bounded in sessions (20), time (--duration, default 90 s) and pages per session.

    python benchmarks/load_test.py [--sessions 20] [--duration 150] [--think 3,10] [--clients 3000] [--import-kind monthly|bulk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PASSWORD = "load-test password 1"
TIMEOUT = 60.0  # a page slower than this counts as an error
TARGET_P95 = 2.0


# ------------------------------------------------------------------ server side (a separate process)


def serve(db: str, port: int, import_file: str, trigger: str, done: str, deadline: float) -> None:
    """Run the app server; when ``trigger`` appears, import ``import_file`` in this process, again and again
    for as many seconds as the trigger file says (at least once), and report each import."""
    from streamlit.web import cli as stcli

    def importer() -> None:
        from caseload.ingest import import_file as run_import
        from caseload.measures import load_measures
        from caseload.store import connect

        while not Path(trigger).exists():
            if time.time() > deadline:
                return
            time.sleep(0.05)
        window_end = time.time() + float(Path(trigger).read_text() or 0)
        con = connect(db)  # same process, same config: DuckDB shares the app's database instance
        registry = load_measures()
        results = []
        while not results or (time.time() < window_end and time.time() < deadline):
            started = time.time()
            try:
                report = run_import(con, Path(import_file), registry=registry, actor="load-test")
                results.append(
                    {
                        "started": started,
                        "seconds": time.time() - started,
                        "rows_read": report.rows_read,
                        "rows_imported": report.rows_imported,
                        "rows_duplicate": report.rows_duplicate,
                    }
                )
            except Exception as exc:  # noqa: BLE001 - reported to the driver
                results.append({"started": started, "error": f"{type(exc).__name__}: {exc}"})
                break
        Path(done).write_text(json.dumps(results))

    threading.Thread(target=importer, daemon=True).start()
    os.environ["CASELOAD_DB"] = db
    sys.argv = [
        "streamlit",
        "run",
        str(APP),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--logger.level=warning",
    ]
    sys.exit(stcli.main())


# ------------------------------------------------------------------ data


def build_store(
    folder: Path, n_clients: int, import_kind: str, bulk_rows: int
) -> tuple[Path, Path, dict[str, list[str]], int]:
    """The practice's store (synthetic sample caseload), the users, and the export imported during the test.

    ``monthly``: the practice's whole history exported again with 10% new clients (how EHR exports arrive:
    mostly rows already stored). ``bulk``: ``bulk_rows`` rows of new clients of the same clinicians.
    """
    import numpy as np
    import pandas as pd
    from argon2 import PasswordHasher  # noqa: F401 - production hashing stays on: sign-in cost is real

    from caseload import auth
    from caseload.ingest import import_file
    from caseload.measures import load_measures
    from caseload.sample import generate_caseload, sample_csv_bytes
    from caseload.store import connect

    db = folder / "practice.duckdb"
    con = connect(db)
    ratings = generate_caseload(n_clients, seed=11)
    import_file(con, sample_csv_bytes(ratings), file_name="practice.csv", registry=load_measures())
    codes = [r[0] for r in con.execute("select distinct clinician_id from ratings order by 1").fetchall()]
    auth.add_user(con, "admin", PASSWORD, "admin")
    users: dict[str, list[str]] = {"admin": []}
    for code in codes:
        name = f"clin-{code.lower()}"
        auth.add_user(con, name, PASSWORD, "clinician", clinician_id=code)
        users[name] = [code]
    half = len(codes) // 2
    for name, team in (("sup-a", codes[:half]), ("sup-b", codes[half:])):
        auth.add_user(con, name, PASSWORD, "supervisor", supervises=team)
        users[name] = list(team)
    con.close()

    export = folder / "export.csv"
    if import_kind == "monthly":
        new = generate_caseload(max(1, n_clients // 10), seed=12)
        new["client_id"] = "N" + new["client_id"].astype(str)
        index = {c: i for i, c in enumerate(sorted(new["clinician_id"].unique()))}
        new["clinician_id"] = new["clinician_id"].map(lambda c: codes[index[c] % len(codes)])
        history = ratings.copy()
        history.attrs, new.attrs = {}, {}  # the generator's ground truth is not part of an export
        export.write_bytes(sample_csv_bytes(pd.concat([history, new], ignore_index=True)))
        return db, export, users, len(ratings) + len(new)

    # bulk: new clients of the same clinicians, canonical long layout.
    rng = np.random.default_rng(5)
    per_client = 20  # 10 sessions x ORS/SRS
    n = max(1, bulk_rows // per_client)
    client = np.repeat(np.arange(n), per_client)
    session = np.tile(np.repeat(np.arange(1, 11), 2), n)
    items = np.round(rng.uniform(0, 10, (len(client), 4)), 1)
    frame = pd.DataFrame(
        {
            "client_id": pd.Series(client).map(lambda i: f"L{i:06d}"),
            "clinician_id": pd.Series(client % len(codes)).map(lambda i: codes[i]),
            "session_date": (
                pd.Timestamp("2026-03-02") + pd.to_timedelta((session - 1) * 7, unit="D")
            ).strftime("%Y-%m-%d"),
            "session_number": session,
            "measure": np.tile(np.array(["ORS", "SRS"]), n * 10),
        }
    )
    for k in range(4):
        frame[f"item_{k + 1}"] = items[:, k]
    frame["total"] = np.round(items.sum(axis=1), 1)
    frame.to_csv(export, index=False)
    return db, export, users, len(frame)


def clients_by_clinician(db: Path) -> dict[str, list[str]]:
    """Client codes per clinician code, read before the server opens the store."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select clinician_id, client_id from ratings group by all order by all").fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for code, client in rows:
        out.setdefault(code, []).append(client)
    return out


# ------------------------------------------------------------------ client side


@dataclass
class Sample:
    session: int
    user: str
    kind: str
    started: float
    seconds: float
    error: str | None = None


@dataclass
class Session:
    index: int
    user: str
    allowed: set[str] | None  # clinician codes the user may see; None = everything
    own_clients: list[str]
    other_clients: list[str]
    samples: list[Sample] = field(default_factory=list)

    @property
    def own_set(self) -> set[str]:
        return set(self.own_clients)


def _dataframes(elements: list) -> list:
    import pyarrow as pa

    tables = []
    for element in elements:
        if element.WhichOneof("type") != "dataframe":
            continue
        data = element.dataframe.arrow_data.data
        if data:
            tables.append(pa.ipc.open_stream(data).read_all())
    return tables


async def run_page(ws, page: str, query: str, widgets: list | None = None) -> tuple[list, str | None]:
    """One page run: (elements received, error or None)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = BackMsg()
    msg.rerun_script.page_name = page
    msg.rerun_script.query_string = query
    if widgets:
        msg.rerun_script.widget_states.widgets.extend(widgets)
    await ws.send(msg.SerializeToString())
    elements, error = [], None
    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return elements, "timeout"
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
        except TimeoutError:
            return elements, "timeout"
        fwd = ForwardMsg.FromString(raw)
        kind = fwd.WhichOneof("type")
        if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            elements.append(element)
            if element.WhichOneof("type") == "exception":
                error = error or f"exception: {element.exception.type}: {element.exception.message[:120]}"
        elif kind == "page_not_found":
            error = error or f"page not found: {page}"
        elif kind == "script_finished":
            status = fwd.script_finished
            if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                elements = []  # st.rerun(): the next run follows on the same connection and replaces this one
                continue
            if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                error = error or "compile error"
            return elements, error


async def sign_in(ws, s: Session) -> str | None:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    elements, error = await run_page(ws, "", "")
    if error:
        return error
    ids = {}
    for e in elements:
        kind = e.WhichOneof("type")
        if kind == "text_input":
            ids[e.text_input.label] = e.text_input.id
        elif kind == "button" and e.button.is_form_submitter:
            ids["submit"] = e.button.id
    if not {"Username", "Password", "submit"} <= set(ids):
        return f"no sign-in form (saw {sorted(ids)})"
    widgets = [
        WidgetState(id=ids["Username"], string_value=s.user),
        WidgetState(id=ids["Password"], string_value=PASSWORD),
        WidgetState(id=ids["submit"], trigger_value=True),
    ]
    elements, error = await run_page(ws, "", "", widgets)
    if error:
        return error
    titles = [e.heading.body for e in elements if e.WhichOneof("type") == "heading"]
    if "Sign in to Caseload" in titles:
        alerts = [e.alert.body for e in elements if e.WhichOneof("type") == "alert"]
        return f"sign-in refused: {alerts}"
    return None


def shown_client(elements: list) -> str | None:
    """The client the Client page's chooser holds after the run (None when it holds none)."""
    for e in elements:
        if e.WhichOneof("type") == "selectbox" and e.selectbox.label == "Client":
            box = e.selectbox
            if box.set_value:
                return box.raw_value or None
            if box.HasField("default") and 0 <= box.default < len(box.options):
                return box.options[box.default]
            return None
    return None


def leak(s: Session, elements: list, forbidden_client: str | None) -> str | None:
    """A row or a client page the signed-in user may not see, if any."""
    if s.allowed is None:
        return None
    for table in _dataframes(elements):
        for column in ("Clinician", "clinician_id"):
            if column in table.column_names:
                seen = {v for v in table.column(column).to_pylist() if v is not None}
                if seen - s.allowed:
                    return f"leak: clinician rows {sorted(seen - s.allowed)[:3]} shown to {s.user}"
        for column in ("Client", "client_id"):
            if forbidden_client and column in table.column_names:
                if forbidden_client in set(table.column(column).to_pylist()):
                    return f"leak: client {forbidden_client} shown to {s.user}"
    if forbidden_client:  # a client who is not theirs: a notice, then at most a client of their own
        shown = shown_client(elements)
        if shown == forbidden_client:
            return f"leak: client {forbidden_client} opened for {s.user}"
        for e in elements:
            kind = e.WhichOneof("type")
            if kind in ("dataframe", "vega_lite_chart", "metric", "table") and shown not in s.own_set:
                return f"leak: {kind} shown for client {shown or forbidden_client} to {s.user}"
            text = {"heading": "heading.body", "markdown": "markdown.body", "text": "text.body"}.get(kind)
            if text and forbidden_client in str(getattr(getattr(e, kind), text.split(".")[1])):
                return f"leak: client {forbidden_client} named in a {kind} shown to {s.user}"
    return None


async def browse(
    s: Session,
    url: str,
    stop_at: float,
    max_pages: int,
    rng: random.Random,
    spread: float,
    think: tuple[float, float],
) -> None:
    import websockets

    await asyncio.sleep(rng.uniform(0, spread))  # people arrive over a few seconds, not all at one instant
    try:
        async with websockets.connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=30) as ws:
            t0 = time.time()
            error = await sign_in(ws, s)
            s.samples.append(Sample(s.index, s.user, "sign-in", t0, time.time() - t0, error))
            if error:
                return
            for n in range(max_pages):
                if time.time() >= stop_at:
                    break
                forbidden = None
                if n % 3 == 0:
                    kind, page, query = "caseload", "", ""
                elif s.allowed is not None and s.other_clients and n % 9 == 4:  # right after a Caseload page
                    forbidden = rng.choice(s.other_clients)
                    kind, page, query = "client (not theirs)", "client", f"client={forbidden}"
                else:
                    kind, page, query = "client", "client", f"client={rng.choice(s.own_clients)}"
                t0 = time.time()
                elements, error = await run_page(ws, page, query)
                seconds = time.time() - t0
                error = error or leak(s, elements, forbidden)
                s.samples.append(Sample(s.index, s.user, kind, t0, seconds, error))
                await asyncio.sleep(rng.uniform(*think))  # a person reads the page before clicking on
    except Exception as exc:  # noqa: BLE001 - a dropped connection is an error of the run
        s.samples.append(
            Sample(s.index, s.user, "connection", time.time(), 0.0, f"{type(exc).__name__}: {exc}")
        )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of browsing (bounded)")
    parser.add_argument("--max-pages", type=int, default=60, help="pages per session at most")
    parser.add_argument("--clients", type=int, default=3000, help="clients in the practice's store")
    parser.add_argument(
        "--import-kind",
        choices=("monthly", "bulk"),
        default="monthly",
        help="monthly: the whole history again plus 10%% new clients; bulk: --bulk-rows rows of new clients",
    )
    parser.add_argument("--bulk-rows", type=int, default=300_000, help="rows of a bulk import")
    parser.add_argument(
        "--import-after", type=float, default=40.0, help="seconds into browsing the import starts"
    )
    parser.add_argument(
        "--import-window",
        type=float,
        default=0.0,
        help="seconds during which imports run back to back (0: one import; 60 is a stress test)",
    )
    parser.add_argument("--arrival", type=float, default=20.0, help="sessions start within this many seconds")
    parser.add_argument(
        "--think",
        default="3,10",
        help="seconds a person looks at a page before the next click: MIN,MAX (uniform); 0.5,3 is a stress test",
    )
    parser.add_argument("--json", help="write the figures to this file as JSON")
    parser.add_argument("--serve", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        db, port, export, trigger, done, deadline = args.serve
        serve(db, int(port), export, trigger, done, float(deadline))
        return 0
    if not 1 <= args.sessions <= 50 or not 1 <= args.duration <= 600:
        parser.error("at most 50 sessions and 600 s: this test is bounded")

    think = tuple(float(x) for x in args.think.split(","))
    if len(think) != 2 or not 0 <= think[0] <= think[1] <= 60:
        parser.error("--think is MIN,MAX seconds, e.g. 0.5,3")

    with tempfile.TemporaryDirectory(prefix="caseload-load-") as tmp:
        folder = Path(tmp)
        t0 = time.time()
        db, export, users, export_rows = build_store(folder, args.clients, args.import_kind, args.bulk_rows)
        by_code = clients_by_clinician(db)
        print(
            f"store: {args.clients} clients, {len(users) - 3} clinicians; {args.import_kind} export {export_rows:,} rows "
            f"(built in {time.time() - t0:.0f} s)",
            flush=True,
        )
        every = sorted({c for cs in by_code.values() for c in cs})
        # Sessions: the admin, both supervisors, the rest clinicians (round robin over clinician accounts).
        clinicians = [u for u in users if u.startswith("clin-")]
        names = ["admin", "sup-a", "sup-b"] + [
            clinicians[i % len(clinicians)] for i in range(max(0, args.sessions - 3))
        ]
        sessions = []
        for i, name in enumerate(names[: args.sessions]):
            allowed = None if name == "admin" else set(users[name])
            own = every if allowed is None else sorted({c for code in allowed for c in by_code.get(code, [])})
            other = [] if allowed is None else sorted(set(every) - set(own))
            sessions.append(Session(i, name, allowed, own, other))

        port = free_port()
        trigger, done = folder / "start-import", folder / "import-done.json"
        deadline = time.time() + args.duration + 300
        server = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(db),
                str(port),
                str(export),
                str(trigger),
                str(done),
                str(deadline),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "server.log", "w"),  # noqa: SIM115 - closed with the folder
            start_new_session=True,
        )
        try:
            wait_healthy(port, server)
            load_before = os.getloadavg()
            cpu_before = server_cpu_seconds(server.pid)
            url = f"ws://127.0.0.1:{port}/_stcore/stream"
            start = time.time()
            stop_at = start + args.duration

            async def drive() -> None:
                rng = random.Random(3)
                tasks = [
                    asyncio.create_task(
                        browse(
                            s, url, stop_at, args.max_pages, random.Random(rng.random()), args.arrival, think
                        )
                    )
                    for s in sessions
                ]
                await asyncio.sleep(args.import_after)
                trigger.write_text(str(args.import_window))
                await asyncio.gather(*tasks)

            asyncio.run(drive())
            waited = time.time()
            while not done.exists() and time.time() - waited < 300:
                time.sleep(0.2)
            imported = (
                json.loads(done.read_text())
                if done.exists()
                else [{"started": time.time(), "error": "the import did not finish"}]
            )
            load_after = os.getloadavg()
            cpu_used = server_cpu_seconds(server.pid) - cpu_before
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            log = (folder / "server.log").read_text(errors="replace")

    samples = [x for s in sessions for x in s.samples]
    pages = [x for x in samples if x.kind not in ("sign-in", "connection")]
    errors = [x for x in samples if x.error]
    spans = [(i["started"], i["started"] + i.get("seconds", 0.0)) for i in imported]

    def overlaps(x: Sample) -> bool:
        return any(x.started < end and x.started + x.seconds > start for start, end in spans)

    during = [x for x in pages if overlaps(x)]
    import_errors = [i["error"] for i in imported if "error" in i]

    def row(label: str, xs: list[Sample]) -> dict:
        secs = [x.seconds for x in xs]
        return {
            "what": label,
            "n": len(xs),
            "errors": sum(1 for x in xs if x.error),
            "p50": percentile(secs, 50),
            "p95": percentile(secs, 95),
            "max": max(secs) if secs else float("nan"),
            "mean": statistics.fmean(secs) if secs else float("nan"),
        }

    signed_in = max((x.started + x.seconds for x in samples if x.kind == "sign-in"), default=float("inf"))
    steady = [x for x in pages if x.started > signed_in and not overlaps(x)]
    rows = [
        row("all pages", pages),
        row("pages during the import", during),
        row("pages after all sign-ins, no import", steady),
    ]
    for kind in ("caseload", "client", "client (not theirs)", "sign-in"):
        rows.append(row(kind, [x for x in samples if x.kind == kind]))
    done_ok = [i for i in imported if "seconds" in i]
    print(f"\n{len(sessions)} sessions over {args.duration:.0f} s on 127.0.0.1")
    if done_ok:
        first = done_ok[0]
        if len(done_ok) == 1:
            print(
                f"import: {first['rows_read']:,} rows in {first['seconds']:.1f} s ({first['rows_imported']:,} "
                f"with new ratings, {first['rows_duplicate']:,} already stored)"
            )
        else:
            print(
                f"imports: {len(done_ok)} back to back over {sum(i['seconds'] for i in done_ok):.0f} s, each "
                f"{first['rows_read']:,} rows ({min(i['seconds'] for i in done_ok):.1f}-"
                f"{max(i['seconds'] for i in done_ok):.1f} s; the first added {first['rows_imported']:,} rows "
                "of new ratings, the others found every row already stored)"
            )
    for problem in import_errors:
        print(f"  import error: {problem}")
    print(
        f"think time {think[0]:g}-{think[1]:g} s, arrivals over {args.arrival:g} s; server CPU {cpu_used:.0f} s "
        f"({cpu_used / max(1, len(samples)):.2f} s per page); machine load average {load_before[0]:.1f} -> "
        f"{load_after[0]:.1f} on {os.cpu_count()} cores (other work on the machine included)"
    )
    print(f"{'what':36} {'n':>5} {'errors':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for r in rows:
        print(f"{r['what']:36} {r['n']:5d} {r['errors']:6d} {r['p50']:7.2f} {r['p95']:7.2f} {r['max']:7.2f}")
    for x in errors[:10]:
        print(f"  error ({x.user}, {x.kind}): {x.error}")
    tracebacks = log.count("Traceback")
    if tracebacks:
        print(f"  server log: {tracebacks} traceback(s)")
    ok = not errors and not import_errors and bool(during) and rows[0]["p95"] < TARGET_P95
    print(
        f"target (no errors, pages served during the import, p95 < {TARGET_P95:.0f} s): {'met' if ok else 'NOT met'}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "sessions": len(sessions),
                    "duration": args.duration,
                    "think": think,
                    "arrival": args.arrival,
                    "server_cpu_seconds": cpu_used,
                    "load_average": [load_before[0], load_after[0]],
                    "import": imported,
                    "rows": rows,
                    "errors": [x.__dict__ for x in errors],
                    "server_tracebacks": tracebacks,
                },
                indent=2,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
