"""``caseload user``, ``audit``, ``backup``, ``restore`` and ``check`` as a person runs them."""

from __future__ import annotations

import io
import json

import pytest
from _team import PASSWORD, TWO_CLINICIANS, add_ratings, fast_hashing  # noqa: F401 - fixture

from caseload import audit, auth, backup, store
from caseload.cli import main

pytestmark = pytest.mark.usefixtures("fast_hashing")


def run(capsys, monkeypatch, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_adding_the_first_admin_turns_sign_in_on_and_is_audited(db_path, capsys, monkeypatch):
    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "admin1",
        "--role",
        "admin",
        "--password-stdin",
        "--db",
        str(db_path),
        stdin=PASSWORD + "\n",
    )
    assert code == 0
    assert "Added admin admin1" in out and "Sign-in is now ON" in out
    con = store.connect(db_path)
    assert auth.authenticate(con, "admin1", PASSWORD).role == "admin"
    entries = audit.entries(con, action="user_add")
    assert entries["username"].tolist() == [audit.COMMAND_LINE]
    assert json.loads(entries["detail"][0]) == {"role": "admin", "user": "admin1"}
    con.close()


def test_a_clinician_a_supervisor_and_the_list(db_path, capsys, monkeypatch):
    db = ["--db", str(db_path)]
    for args in (
        ["admin1", "--role", "admin"],
        ["ann", "--role", "clinician", "--clinician", "T01"],
        ["sue", "--role", "supervisor", "--supervises", "T01", "T02"],
    ):
        assert run(capsys, monkeypatch, "user", "add", *args, "--password-stdin", *db, stdin=PASSWORD)[0] == 0
    code, out, _ = run(capsys, monkeypatch, "user", "list", *db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["admin1", "admin"]
    assert lines[1].split() == ["ann", "clinician", "clinician", "T01"]
    assert lines[2].split() == ["sue", "supervisor", "supervises", "T01,", "T02"]
    code, out, _ = run(capsys, monkeypatch, "user", "supervise", "sue", "T03", *db)
    assert "sue supervises T03." in out
    code, out, _ = run(capsys, monkeypatch, "user", "list", "--json", *db)
    assert [u["supervises"] for u in json.loads(out)] == [[], [], ["T03"]]


def test_user_errors_are_one_line_with_exit_code_2(db_path, capsys, monkeypatch):
    db = ["--db", str(db_path)]
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "ann",
        "--role",
        "clinician",
        "--clinician",
        "T01",
        "--password-stdin",
        *db,
        stdin=PASSWORD,
    )
    assert code == 2 and err.startswith("caseload: The first user must be an admin") and err.count("\n") == 1
    code, _, err = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "admin1",
        "--role",
        "admin",
        "--password-stdin",
        *db,
        stdin="short",
    )
    assert code == 2 and "at least 10 characters" in err
    code, _, err = run(capsys, monkeypatch, "user", "remove", "nobody", *db)
    assert code == 2 and "no user 'nobody'" in err


def test_without_a_terminal_the_password_must_come_from_stdin(db_path, capsys, monkeypatch):
    code, _, err = run(
        capsys, monkeypatch, "user", "add", "admin1", "--role", "admin", "--db", str(db_path), stdin=""
    )
    assert code == 2 and "--password-stdin" in err


def test_passwd_and_remove(db_path, capsys, monkeypatch):
    db = ["--db", str(db_path)]
    run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "admin1",
        "--role",
        "admin",
        "--password-stdin",
        *db,
        stdin=PASSWORD,
    )
    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "passwd",
        "admin1",
        "--password-stdin",
        *db,
        stdin="a new long password\n",
    )
    assert code == 0 and "open sessions were ended" in out
    con = store.connect(db_path)
    assert auth.authenticate(con, "admin1", "a new long password")
    con.close()
    code, out, _ = run(capsys, monkeypatch, "user", "remove", "admin1", *db)
    assert code == 0 and "sign-in is now OFF" in out


def test_the_audit_command_prints_csv_with_text_neutralised(db_path, capsys, monkeypatch):
    con = store.connect(db_path)
    audit.record(con, "ann", "view_client", client_id="C001")
    audit.record(con, "-x", "export", format="csv")
    con.close()
    code, out, _ = run(capsys, monkeypatch, "audit", "--csv", "--db", str(db_path))
    assert code == 0
    header, first, second = out.strip().splitlines()
    assert header == "entry_id,logged_at,username,action,what,client_id,detail"
    assert ",'-x,export," in first  # a username starting with '-' cannot run as a formula
    assert ",ann,view_client,viewed a client,C001," in second
    code, out, _ = run(capsys, monkeypatch, "audit", "--user", "ann", "--json", "--db", str(db_path))
    assert [e["client_id"] for e in json.loads(out)] == ["C001"]


def test_backup_check_and_restore_from_the_command_line(db_path, capsys, monkeypatch):
    db = ["--db", str(db_path)]
    con = store.connect(db_path)
    add_ratings(con, TWO_CLINICIANS)
    con.close()
    code, out, _ = run(capsys, monkeypatch, "backup", *db)
    assert code == 0 and ".manual.duckdb" in out
    code, out, _ = run(capsys, monkeypatch, "check", *db)
    assert code == 0 and f"ratings {len(TWO_CLINICIANS)}" in out
    code, out, _ = run(capsys, monkeypatch, "restore", *db)
    assert "newest first" in out and "before manual" in out
    with open(db_path, "r+b") as f:
        f.truncate(100)
    code, _, err = run(capsys, monkeypatch, "check", *db)
    assert code == 2 and "caseload restore latest" in err
    code, out, _ = run(capsys, monkeypatch, "restore", "latest", *db)
    assert code == 0 and f"{len(TWO_CLINICIANS)} ratings" in out and "is kept as" in out
    assert len(backup.list_backups(db_path)) == 1


def test_session_timeouts_can_be_shown_and_set(db_path, capsys, monkeypatch):
    db = ["--db", str(db_path)]
    code, out, _ = run(capsys, monkeypatch, "user", "timeouts", *db)
    assert "after 30 minutes without use, and 12 hours after sign-in" in out
    code, out, _ = run(
        capsys, monkeypatch, "user", "timeouts", "--idle-minutes", "10", "--max-hours", "8", *db
    )
    assert code == 0 and "after 10 minutes without use, and 8 hours" in out
    con = store.connect(db_path)
    assert [t.total_seconds() for t in auth.session_limits(con)] == [600, 8 * 3600]
    con.close()
    code, _, err = run(capsys, monkeypatch, "user", "timeouts", "--idle-minutes", "0", *db)
    assert code == 2 and "between 1 and 1440" in err


def test_command_line_exports_are_audited_and_overview_csv_is_neutralised(
    db_path, tmp_path, capsys, monkeypatch
):
    db = ["--db", str(db_path)]
    con = store.connect(db_path)
    add_ratings(con, [("=1+2", "@T01", 1, 20.0), ("=1+2", "@T01", 2, 25.0), ("C002", "T02", 1, 18.0)])
    con.close()
    code, out, _ = run(capsys, monkeypatch, "overview", "--csv", *db)
    assert code == 0
    rows = out.strip().splitlines()
    assert any(r.startswith("'=1+2,'@T01,") for r in rows), rows
    assert not any(r.startswith(("=", "@", "+", "-")) for r in rows)
    code, out, _ = run(capsys, monkeypatch, "export", "--out", str(tmp_path / "all.csv"), *db)
    assert code == 0
    con = store.connect(db_path)
    details = [json.loads(d) for d in audit.entries(con, action="export")["detail"]]
    con.close()
    assert {"format": "csv", "rows": 3, "what": "ratings"} in details
    assert any(d["what"] == "overview" for d in details)
