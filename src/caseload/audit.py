"""The audit trail: who signed in, imported, viewed a client, exported or printed what, and when.

Entries hold a username, an action from a fixed list, at most one client code and a few structured
details (counts, ids, formats). Nothing else is accepted: no file names (they may contain a person's
name), no free text, so the trail never holds an identifier beyond a client code. Admins read it on
the Audit page or with ``caseload audit``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd  # only for annotations: importing pandas costs ~0.6 s at start-up

from caseload.store import now_utc

ACTIONS = {
    "sign_in": "signed in",
    "sign_in_failed": "failed to sign in",
    "sign_out": "signed out",
    "import": "imported a file",
    "undo_import": "undid an import",
    "load_sample": "loaded the synthetic sample",
    "view_client": "viewed a client",
    "view_caseload": "viewed the caseload",
    "view_supervision": "viewed supervision aggregates",
    "export": "exported data",
    "print": "printed or downloaded a report",
    "record_ending": "recorded how an episode ended",
    "client_settings": "changed a client's episode gap or age group",
    "user_add": "added a user",
    "user_remove": "removed a user",
    "password_change": "changed a password",
    "supervision_change": "changed whom a supervisor supervises",
    "backup": "backed up the store",
    "restore": "restored the store from a backup",
    "view_audit": "read the audit trail",
}
COMMAND_LINE = "command-line"  # the actor for CLI actions (whoever can run it can read the store file)

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class AuditError(ValueError):
    """An audit entry that would hold something other than the allowed fields."""


def _check_detail(detail: dict[str, object]) -> str | None:
    if not detail:
        return None
    clean: dict[str, object] = {}
    for key, value in detail.items():
        if not _DETAIL_KEY.match(key):
            raise AuditError(f"audit detail key {key!r} is not allowed")
        if value is None or isinstance(value, bool | int | float):
            clean[key] = value
        elif isinstance(value, str) and _CODE.match(value):
            clean[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) and _CODE.match(v) for v in value):
            clean[key] = list(value)
        else:
            raise AuditError(
                f"audit detail {key}={value!r} is not a number, flag or code; free text is never audited"
            )
    return json.dumps(clean, sort_keys=True)


def record(
    con: duckdb.DuckDBPyConnection,
    username: str,
    action: str,
    client_id: str | None = None,
    at: datetime | None = None,
    **detail: object,
) -> None:
    """Append one entry; AuditError if the action is unknown or a detail is not a number, flag or code."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action {action!r}")
    if client_id is not None and not _CODE.match(str(client_id)):
        raise AuditError(f"client code {client_id!r} cannot be audited")
    con.execute(
        "insert into audit_log (logged_at, username, action, client_id, detail) values (?, ?, ?, ?, ?)",
        [at or now_utc(), username, action, client_id, _check_detail(detail)],
    )


def entries(
    con: duckdb.DuckDBPyConnection,
    username: str | None = None,
    action: str | None = None,
    client_id: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """Audit entries, newest first, optionally for one user, action, client or from a time on."""
    where, params = ["true"], []
    for column, value in (("username", username), ("action", action), ("client_id", client_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("logged_at >= ?")
        params.append(since)
    frame = con.execute(
        f"""select entry_id, logged_at, username, action, client_id, detail from audit_log
            where {" and ".join(where)} order by logged_at desc, entry_id desc limit {int(limit)}""",
        params,
    ).df()
    frame.insert(4, "what", frame["action"].map(ACTIONS).astype("str"))
    return frame
