"""``caseload user``, ``audit``, ``backup``, ``restore`` and ``check``: running Caseload for a team.

Passwords are read from the terminal (asked twice) or, for scripts, from the first line of standard
input with --password-stdin; never from the command line, where other users could see them in ``ps``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime
from pathlib import Path

from caseload.cli import CliError, print_json


def audit_cli(con, action: str, client_id: str | None = None, **detail: object) -> None:  # noqa: ANN001
    """Record a command-line action in the audit trail (user 'command-line'); never fails the command."""
    from caseload import audit

    try:
        audit.record(con, audit.COMMAND_LINE, action, client_id=client_id, **detail)
    except audit.AuditError:  # a client code the trail cannot hold verbatim: the action is still recorded
        audit.record(con, audit.COMMAND_LINE, action, unusual_client_code=True)


def _store(args: argparse.Namespace):
    from caseload.store import StoreError, connect

    try:
        return connect(args.db)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _db_path(args: argparse.Namespace) -> Path:
    from caseload.store import default_db_path

    return Path(args.db).expanduser() if args.db else default_db_path()


def _read_password(args: argparse.Namespace, username: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CliError("--password-stdin: standard input was empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: pipe it in with --password-stdin")
    first = getpass.getpass(f"Password for {username}: ")
    if getpass.getpass("Again: ") != first:
        raise CliError("the two passwords differ; nothing was changed")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Add, remove, list users, change a password or whom a supervisor supervises."""
    from caseload import audit, auth
    from caseload.store import set_setting

    con = _store(args)
    try:
        if args.action == "list":
            users = auth.list_users(con)
            if args.json:
                print_json([u.__dict__ for u in users])
            elif not users:
                print("No users: sign-in is off (a single user on this computer).")
            else:
                for u in users:
                    extra = f" clinician {u.clinician_id}" if u.clinician_id else ""
                    sup = f" supervises {', '.join(u.supervises)}" if u.supervises else ""
                    print(f"{u.username:20} {u.role:10}{extra}{sup}")
            return 0
        if args.action == "add":
            was_on = auth.signin_required(con)
            password = _read_password(args, args.username)
            user = auth.add_user(
                con, args.username, password, args.role, args.clinician, args.supervises or ()
            )
            audit.record(con, audit.COMMAND_LINE, "user_add", user=user.username, role=user.role)
            print(f"Added {user.role} {user.username}.")
            if not was_on:
                print("Sign-in is now ON: every page of the app asks for a username and password.")
        elif args.action == "remove":
            auth.remove_user(con, args.username)
            audit.record(con, audit.COMMAND_LINE, "user_remove", user=args.username)
            print(f"Removed {args.username}.")
            if not auth.signin_required(con):
                print("No users are left: sign-in is now OFF.")
        elif args.action == "passwd":
            if auth.get_user(con, args.username) is None:
                raise auth.AuthError(f"There is no user {args.username!r}.")
            auth.set_password(con, args.username, _read_password(args, args.username))
            audit.record(con, audit.COMMAND_LINE, "password_change", user=args.username)
            print(f"Changed the password of {args.username}; their open sessions were ended.")
        elif args.action == "timeouts":
            if args.idle_minutes is not None:
                if not 1 <= args.idle_minutes <= 24 * 60:
                    raise auth.AuthError("--idle-minutes must be between 1 and 1440")
                set_setting(con, "auth.idle_minutes", str(args.idle_minutes))
            if args.max_hours is not None:
                if not 0.1 <= args.max_hours <= 24 * 7:
                    raise auth.AuthError("--max-hours must be between 0.1 and 168")
                set_setting(con, "auth.max_hours", f"{args.max_hours:g}")
            idle, lifetime = auth.session_limits(con)
            print(
                f"Sessions end after {idle.total_seconds() / 60:g} minutes without use, "
                f"and {lifetime.total_seconds() / 3600:g} hours after sign-in at the latest."
            )
        elif args.action == "supervise":
            user = auth.set_supervisees(con, args.username, args.codes)
            audit.record(
                con, audit.COMMAND_LINE, "supervision_change", user=user.username, codes=list(user.supervises)
            )
            print(f"{user.username} supervises {', '.join(user.supervises) or 'nobody'}.")
    except auth.AuthError as exc:
        raise CliError(str(exc)) from None
    finally:
        con.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit trail, newest first."""
    from caseload import audit
    from caseload.safety import neutralise_frame

    since = None
    if args.since:
        try:
            since = datetime.combine(date.fromisoformat(args.since), datetime.min.time())
        except ValueError:
            raise CliError(f"--since must be a date like 2026-11-01, not {args.since!r}") from None
    con = _store(args)
    frame = audit.entries(con, args.user, args.action, args.client, since, args.limit)
    con.close()
    if args.json:
        print_json(frame.to_dict(orient="records"))
    elif args.csv:
        neutralise_frame(frame).to_csv(sys.stdout, index=False)
    elif frame.empty:
        print("The audit trail is empty.")
    else:
        print(frame.drop(columns=["entry_id", "action"]).to_string(index=False))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Take a backup now (Caseload also takes one before every import and migration)."""
    from caseload import audit
    from caseload.backup import backup_store
    from caseload.store import StoreError

    con = _store(args)
    try:
        taken = backup_store(con, "manual")
        audit.record(con, audit.COMMAND_LINE, "backup")
    except StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        con.close()
    print(f"Backed up to {taken.path}" if taken else "An in-memory store has nothing to back up.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """List backups, or put one back in place of the store (the current file is kept beside the backups)."""
    from caseload.backup import backup_dir, list_backups, restore
    from caseload.store import StoreError

    db = _db_path(args)
    if not args.backup:
        backups = list_backups(db)
        if not backups:
            print(f"No automatic backups of {db} in {backup_dir(db)}.")
            return 0
        print(f"Backups of {db}, newest first:")
        for b in backups:
            print(f"  {b.describe()}  {b.size / 2**20:.1f} MB")
        print(f"Restore one with: caseload restore latest --db {db}   (or give a file name from the list)")
        return 0
    try:
        done = restore(db, args.backup)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    print(f"Restored {db} from {done.backup.describe()}: {done.counts.get('ratings', 0):,} ratings.")
    if done.replaced:
        print(f"The file it replaced is kept as {done.replaced}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Read the whole store back (every block's checksum) and say whether it is intact."""
    from caseload.backup import check_store
    from caseload.store import StoreError

    con = _store(args)
    try:
        counts = check_store(con)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        con.close()
    print(
        f"The store {_db_path(args)} reads back completely: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    return 0


def add_team_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register the team subcommands on the ``caseload`` parser."""
    from caseload.signin_limits import IDLE_MINUTES, MAX_HOURS, ROLES

    p = sub.add_parser("user", help="users for sign-in (adding the first turns sign-in on)")
    users = p.add_subparsers(dest="action", required=True)
    q = users.add_parser("add", parents=[common], help="add a user (the first must be an admin)")
    q.add_argument("username")
    q.add_argument("--role", choices=ROLES, required=True)
    q.add_argument("--clinician", help="the clinician code in the exports whose clients this user treats")
    q.add_argument("--supervises", nargs="+", metavar="CODE", help="clinician codes a supervisor supervises")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q = users.add_parser(
        "remove", parents=[common], help="remove a user (removing the last turns sign-in off)"
    )
    q.add_argument("username")
    q = users.add_parser("passwd", parents=[common], help="change a user's password")
    q.add_argument("username")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q = users.add_parser("list", parents=[common], help="list users and roles")
    q.add_argument("--json", action="store_true")
    q = users.add_parser(
        "supervise", parents=[common], help="set the clinician codes a supervisor supervises"
    )
    q.add_argument("username")
    q.add_argument("codes", nargs="*", metavar="CODE")
    q = users.add_parser("timeouts", parents=[common], help="show or set when sign-in sessions end")
    q.add_argument(
        "--idle-minutes", type=int, help=f"end a session unused this long (default {IDLE_MINUTES})"
    )
    q.add_argument(
        "--max-hours", type=float, help=f"end any session this long after sign-in (default {MAX_HOURS})"
    )
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("audit", parents=[common], help="the audit trail: who did what, when")
    p.add_argument("--user")
    p.add_argument("--action")
    p.add_argument("--client")
    p.add_argument("--since", help="a date, e.g. 2026-11-01")
    p.add_argument("--limit", type=int, default=200)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("backup", parents=[common], help="back up the store now")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", parents=[common], help="list backups, or restore one: caseload restore latest"
    )
    p.add_argument("backup", nargs="?", help="'latest' or a backup file name from the list")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("check", parents=[common], help="read the whole store back to detect damage")
    p.set_defaults(func=cmd_check)
