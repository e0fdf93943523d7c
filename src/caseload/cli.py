"""The ``caseload`` command: the same library functions the pages use, printed as text, JSON or CSV.

Exit codes: 0 success, 1 a finding the user asked to fail on (e.g. --strict rejected rows),
2 unusable input (unreadable file, bad measures file, locked store) with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from caseload import __version__


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _clean(value: Any) -> Any:
    """NaN and NaT become null so the JSON is valid."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Print data as indented JSON, with dates as ISO strings and NaN as null."""
    print(json.dumps(_clean(data), indent=2, default=_json_default, ensure_ascii=False))


def _registry(args: argparse.Namespace):
    from caseload.measures import MeasureError, load_measures

    try:
        return load_measures(args.measures)
    except MeasureError as exc:
        raise CliError(str(exc)) from None


def _store(args: argparse.Namespace, read_only: bool = False):
    from caseload.store import StoreError, connect

    try:
        return connect(args.db, read_only=read_only)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def cmd_app(args: argparse.Namespace) -> int:
    """Start the Streamlit app on 127.0.0.1 (or --address) with the chosen store."""
    import os

    from streamlit.web import cli as stcli

    from caseload.paths import app_script

    if args.db:
        os.environ["CASELOAD_DB"] = str(Path(args.db).expanduser().resolve())
    if args.measures:
        os.environ["CASELOAD_MEASURES"] = str(Path(args.measures).expanduser().resolve())
    sys.argv = [
        "streamlit",
        "run",
        str(app_script()),
        f"--server.address={args.address}",
        f"--server.port={args.port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
    ]
    return stcli.main()


def cmd_measures(args: argparse.Namespace) -> int:
    """List the measure registry with its sources."""
    registry = _registry(args)
    if args.json:
        print_json([m.to_dict() for m in registry.values()])
        return 0
    for m in registry.values():
        rc, strict = m.reliable_change_threshold()
        direction = "higher is better" if m.higher_is_better else "higher is worse"
        cut = m.cutoff if m.cutoff is not None else "-"
        extra = ", ".join(f"{k} {v:g}" for k, v in m.cutoffs.items())
        rc_text = (
            "-"
            if rc is None
            else f"{rc:.2f}".rstrip("0").rstrip(".") + (" (strictly exceeded)" if strict else "")
        )
        print(f"{m.code:8} {m.name} [{m.kind}; {m.min:g}-{m.max:g}; {direction}]")
        print(
            f"         cutoff {cut}{' (' + extra + ')' if extra else ''}; reliable change {rc_text}; origin {m.origin}"
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import export files into the store, one all-or-nothing transaction per file.

    Exit 0 when every file was imported (rejected rows are reported, not fatal), 1 when a file was refused
    (direct identifiers, or --strict with bad rows), 2 when a file cannot be read at all.
    """
    import os

    # The importer does no linear algebra: numpy's OpenBLAS would start a thread per core at import that
    # spins for a while beside DuckDB's and pyarrow's threads (~0.1 s CPU on a 1M-row import).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from caseload.ingest.ahead import ReadAhead

    # The first file is read and parsed on another thread while DuckDB is imported and the store opened.
    ahead = ReadAhead(Path(args.files[0]), sheet=args.sheet) if args.files else None
    from caseload.ingest import ImportError_, import_file

    registry = _registry(args)
    con = _store(args)
    mapping = None
    if args.mapping:
        try:
            mapping = json.loads(Path(args.mapping).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"{args.mapping}: cannot read the mapping file ({exc})") from None
        if not isinstance(mapping, dict):
            raise CliError(f"{args.mapping}: the mapping file must hold a JSON object")
    reports, failed = [], False
    for k, name in enumerate(args.files):
        path = Path(name)
        try:
            report = import_file(
                con,
                ahead if k == 0 and ahead is not None else path,
                registry=registry,
                mapping=mapping,
                strict=args.strict,
                drop_identifiers=args.drop_identifiers,
                progress=_progress_printer(path.name),
                sheet=args.sheet,
                actor="command-line",
            )
        except ImportError_ as exc:
            raise CliError(str(exc)) from None
        reports.append(report)
        if report.refused:
            failed = True
    if args.json:
        print_json([r.to_dict() for r in reports])
    else:
        for r in reports:
            print(r.summary())
            for e in r.errors[:20]:
                where = f"row {e.row} (line {e.line})" + (f", sheet {e.sheet}" if e.sheet else "")
                print(f"  {where}: {e.message}")
            if len(r.errors) > 20:
                print(f"  ... and {len(r.errors) - 20} more (see --json or the Import page)")
            for w in r.warnings:
                print(f"  note: {w}")
    return 1 if failed else 0


def _progress_printer(file_name: str):
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, text: str) -> None:
        sys.stderr.write(f"\r{file_name}: {text} {fraction:4.0%}   ")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def cmd_settings(args: argparse.Namespace) -> int:
    """Show the site's episode rules and default age group; change any that are given."""
    from caseload.engine import DEFAULT_AGE_GROUP_SETTING
    from caseload.episodes import CLOSE_AFTER_SETTING, GAP_DAYS_SETTING, EpisodeRules
    from caseload.measures import AGE_GROUPS
    from caseload.store import get_setting, set_setting

    con = _store(args)
    for name, value in (("--gap-days", args.gap_days), ("--close-after-days", args.close_after_days)):
        if value is not None and not 1 <= value <= 3650:
            raise CliError(f"{name} must be between 1 and 3650 days, not {value}")
    if args.default_age_group is not None and args.default_age_group not in AGE_GROUPS:
        raise CliError(f"--default-age-group must be one of {', '.join(AGE_GROUPS)}")
    if args.gap_days is not None:
        set_setting(con, GAP_DAYS_SETTING, str(args.gap_days))
    if args.close_after_days is not None:
        set_setting(con, CLOSE_AFTER_SETTING, str(args.close_after_days))
    if args.default_age_group is not None:
        set_setting(con, DEFAULT_AGE_GROUP_SETTING, args.default_age_group)
    rules = EpisodeRules.from_settings(con)
    shown = {
        "episode_gap_days": rules.gap_days,
        "episode_close_after_days": rules.close_after_days,
        "default_age_group": get_setting(con, DEFAULT_AGE_GROUP_SETTING, "adult"),
    }
    if args.json:
        print_json(shown)
    else:
        print(f"A new episode starts after more than {shown['episode_gap_days']} days without a rating.")
        print(
            f"An episode without a rating for more than {shown['episode_close_after_days']} days is closed."
        )
        print(f"Clients whose export gives no age group are read with {shown['default_age_group']} norms.")
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    """One line per client (episode) and outcome measure: scores, change, category, status and alerts."""
    from caseload.engine import caseload_overview, overview_records

    registry = _registry(args)
    con = _store(args)
    frame = caseload_overview(
        con,
        registry,
        clinician_id=args.clinician,
        active_only=args.active,
        today=_today_arg(args.today),
        trajectory=args.trajectory,
        keep_summaries=False,  # one call per process: nothing would read them again
    )
    if args.json:
        print_json(overview_records(frame))
    elif args.csv:
        flat = frame.copy()
        if "alerts" in flat:
            flat["alerts"] = flat["alerts"].map(lambda a: "; ".join(x["message"] for x in a))
        from caseload.cli_team import audit_cli
        from caseload.safety import neutralise_frame

        neutralise_frame(flat).to_csv(sys.stdout, index=False)
        audit_cli(con, "export", what="overview", format="csv", rows=len(flat))
    else:
        if frame.empty:
            print("No ratings in the store yet. Try: caseload import FILE, or caseload sample --out DIR")
        else:
            cols = [
                c
                for c in (
                    "client_id",
                    "clinician_id",
                    "episode",
                    "measure",
                    "sessions",
                    "first_score",
                    "latest_score",
                    "change",
                    "change_category",
                    "status",
                    "alliance_status",
                    "top_severity",
                )
                if c in frame
            ]
            print(frame[cols].to_string(index=False))
    return 0


def cmd_client(args: argparse.Namespace) -> int:
    """One client's sessions, expected band, alerts and change categories."""
    from caseload.engine import client_detail

    registry = _registry(args)
    con = _store(args)
    detail = client_detail(
        con, registry, args.client_id, today=_today_arg(args.today), trajectory=args.trajectory
    )
    if detail is None:
        raise CliError(f"No client {args.client_id!r} in the store.")
    if args.json:
        print_json(detail)
        return 0
    print(f"Client {detail['client_id']} (clinician {detail['clinician_id']}, {detail['age_group']})")
    for ep in detail["episodes"]:
        print(f"\n{ep['episode_label']}; norms: {', '.join(ep['population']) or '-'}")
        for m in ep["measures"]:
            scores = " ".join(f"{s['total']:g}" for s in m["sessions"])
            line = f"  {m['measure']:6} {m['rater']:8} {scores}"
            if "status" in m:
                band = m["expected"]
                source = (
                    f"calibrated on {band['n']} similar clients"
                    if band["model"] == "calibrated"
                    else "default model"
                )
                line += f"  -> {m['change_category']}, {m['status']} ({source})"
            print(line)
        for a in ep["alerts"]:
            print(f"  [{a['severity']}] {a['message']}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a synthetic sample caseload (CSV and XLSX) for demos and tests."""
    from caseload.sample import write_sample

    today = None
    if args.today:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            raise CliError(f"--today must be a date like 2026-11-22, not {args.today!r}") from None
    written = write_sample(Path(args.out), n_clients=args.clients, seed=args.seed, today=today)
    for path in written:
        print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write every stored rating in the canonical long layout (.csv or .xlsx) for backup or another tool."""
    from caseload.export import write_export

    con = _store(args)
    out = Path(args.out)
    try:
        n = write_export(con, out)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    from caseload.cli_team import audit_cli

    audit_cli(con, "export", what="ratings", format=out.suffix.lstrip(".").lower() or "none", rows=n)
    print(f"Wrote {n} ratings to {out}")
    return 0


def _today_arg(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"--today must be a date like 2026-11-22, not {value!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    """Write one client's one-page plain-language feedback summary as PDF (or list the guide's prompts)."""
    from caseload.engine import client_detail
    from caseload.guide import discussion_guide
    from caseload.reports.client_summary import client_summary_pdf

    registry = _registry(args)
    con = _store(args)
    detail = client_detail(con, registry, args.client_id, today=_today_arg(args.today))
    if detail is None:
        raise CliError(f"No client {args.client_id!r} in the store.")
    guide = discussion_guide(detail, registry)
    if args.list_prompts:
        for p in guide:
            print(f"{p.id}\t[{p.section}; {', '.join(p.triggers)}]\t{p.client}")
        return 0
    if not args.out:
        raise CliError("--out FILE.pdf is required (or use --list-prompts to see the prompt ids).")
    ids = [i.strip() for i in (args.prompts or "").split(",") if i.strip()]
    unknown = sorted(set(ids) - {p.id for p in guide})
    if unknown:
        raise CliError(
            f"Unknown prompt id(s) for {args.client_id}: {', '.join(unknown)}. "
            f"See: caseload report {args.client_id} --list-prompts"
        )
    data = client_summary_pdf(detail, registry, ids, paper=args.paper)
    out = Path(args.out)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"{out}: cannot write the PDF ({exc.strerror})") from None
    from caseload.cli_team import audit_cli

    audit_cli(con, "print", client_id=args.client_id, what="client-summary")
    print(f"Wrote the feedback summary for {args.client_id} to {out} ({len(ids)} topic(s) for next time)")
    return 0


def cmd_packet(args: argparse.Namespace) -> int:
    """Write the supervision packet (cover page, then one page per client to discuss) as PDF."""
    from caseload.reports.packet import supervision_packet_pdf

    registry = _registry(args)
    con = _store(args)
    data = supervision_packet_pdf(
        con, registry, clinician_id=args.clinician, today=_today_arg(args.today), paper=args.paper
    )
    out = Path(args.out)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"{out}: cannot write the PDF ({exc.strerror})") from None
    from caseload.cli_team import audit_cli

    audit_cli(con, "print", what="supervision-packet", clinician=args.clinician)
    print(f"Wrote the supervision packet{' for ' + args.clinician if args.clinician else ''} to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        help="the DuckDB store file (default: $CASELOAD_DB or ~/.local/share/caseload/caseload.duckdb)",
    )
    common.add_argument("--measures", help="a TOML file that adds or overrides measures")

    parser = argparse.ArgumentParser(prog="caseload", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"caseload {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("app", parents=[common], help="start the dashboard in the browser (127.0.0.1)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument(
        "--address", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)"
    )
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("import", parents=[common], help="import CSV/XLSX exports")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="print one JSON report per file")
    p.add_argument("--mapping", help="a JSON column mapping to use instead of recognising the layout")
    p.add_argument("--strict", action="store_true", help="write nothing from a file with any bad row")
    p.add_argument(
        "--drop-identifiers",
        action="store_true",
        help="drop columns that hold direct identifiers and import the rest (default: refuse the file)",
    )
    p.add_argument("--sheet", help="import only this sheet of a workbook (default: every sheet with ratings)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "overview", parents=[common], help="the caseload: status, change and alerts per client"
    )
    p.add_argument("--clinician")
    p.add_argument("--active", action="store_true", help="active episodes only")
    p.add_argument("--today", help="evaluate as of this date (default: today), e.g. 2026-11-22")
    p.add_argument(
        "--trajectory",
        choices=["auto", "default"],
        default="auto",
        help="expected bands: calibrated from this caseload where it has enough history (auto) or the default model",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_overview)

    p = sub.add_parser(
        "settings", parents=[common], help="show or change the episode rules and the default age group"
    )
    p.add_argument("--gap-days", type=int, help="days without a rating after which a new episode starts (90)")
    p.add_argument(
        "--close-after-days", type=int, help="days without a rating after which an episode is closed (60)"
    )
    p.add_argument(
        "--default-age-group", help="norms for clients whose export gives none: adult, adolescent, child"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("client", parents=[common], help="one client's sessions, bands and alerts")
    p.add_argument("client_id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--today", help="evaluate as of this date (default: today), e.g. 2026-11-22")
    p.add_argument("--trajectory", choices=["auto", "default"], default="auto")
    p.set_defaults(func=cmd_client)

    p = sub.add_parser("export", parents=[common], help="write every stored rating to CSV or XLSX")
    p.add_argument("--out", required=True, help="FILE.csv or FILE.xlsx")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("measures", parents=[common], help="the measure registry and its sources")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_measures)

    p = sub.add_parser("sample", help="write a synthetic sample caseload")
    p.add_argument("--out", required=True, help="directory to write sample CSV and XLSX into")
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--today", help="the generation day the dates lead up to (default: today), e.g. 2026-11-22"
    )
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("report", parents=[common], help="one client's plain-language feedback summary (PDF)")
    p.add_argument("client_id")
    p.add_argument("--out", help="FILE.pdf to write")
    p.add_argument(
        "--paper", type=str.lower, choices=["a4", "letter"], default="a4", help="A4 (default) or letter"
    )
    p.add_argument(
        "--prompts", help="discussion-guide prompt ids to list as topics for next time, comma-separated"
    )
    p.add_argument(
        "--list-prompts", action="store_true", help="print the client's prompt ids and wording, write nothing"
    )
    p.add_argument("--today", help="the day statuses are judged on (default: today), e.g. 2026-11-22")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "packet",
        parents=[common],
        help="supervision packet: caseload cover and one page per client to discuss (PDF)",
    )
    p.add_argument("--clinician", help="only this clinician's clients (default: everyone)")
    p.add_argument("--out", required=True, help="FILE.pdf to write")
    p.add_argument(
        "--paper", type=str.lower, choices=["a4", "letter"], default="a4", help="A4 (default) or letter"
    )
    p.add_argument("--today", help="the day statuses are judged on (default: today), e.g. 2026-11-22")
    p.set_defaults(func=cmd_packet)
    from caseload.cli_team import add_team_commands  # user, audit, backup, restore, check

    add_team_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``caseload`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except CliError as exc:
        print(f"caseload: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        code = 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
