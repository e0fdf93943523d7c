"""Put hand-made ratings straight into a store, for engine and alert tests that need exact numbers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from caseload.store import now_utc

TODAY = date(2026, 6, 30)


def put(con, rows: list[dict[str, Any]]) -> None:
    """Store rating dicts (client_id, session_date, session_number, measure, total; optional items, rater,
    age_group, episode_id, clinician_id, ending) under one import."""
    if not con.execute("select count(*) from imports where import_id = 1").fetchall()[0][0]:
        con.execute(
            "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
            " rows_duplicate, rows_rejected) values (1, 'hand-made.csv', 'x', ?, 0, 0, 0, 0)",
            [now_utc()],
        )
    frame = pd.DataFrame(
        {
            "client_id": [r["client_id"] for r in rows],
            "clinician_id": [r.get("clinician_id", "T01") for r in rows],
            "episode_id": pd.Series([r.get("episode_id") for r in rows], dtype=object),
            "age_group": pd.Series([r.get("age_group") for r in rows], dtype=object),
            "session_date": [r.get("session_date") for r in rows],
            "session_number": pd.array([r.get("session_number") for r in rows], dtype="Int64"),
            "measure": [r["measure"] for r in rows],
            "rater": [r.get("rater", "self") for r in rows],
            "items": pd.Series([r.get("items") for r in rows], dtype=object),
            "total": [float(r["total"]) for r in rows],
            "ending": pd.Series([r.get("ending") for r in rows], dtype=object),
        }
    )
    con.register("_incoming", frame)
    con.execute(
        "insert into ratings (client_id, clinician_id, episode_id, age_group, session_date, session_number,"
        " measure, rater, items, total, import_id, ending) select client_id, clinician_id, episode_id, age_group,"
        " session_date::date, session_number, measure, rater, items::double[], total, 1, ending::varchar"
        " from _incoming"
    )
    con.unregister("_incoming")


def series(
    client: str,
    measure: str,
    totals: list[float | None],
    end: date = TODAY,
    every: int = 7,
    first_number: int = 1,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Weekly ratings ending at ``end``; None leaves a session out (its number is kept)."""
    n = len(totals)
    out = []
    for k, total in enumerate(totals):
        if total is None:
            continue
        out.append(
            {
                "client_id": client,
                "measure": measure,
                "session_number": first_number + k,
                "session_date": end - timedelta(days=every * (n - 1 - k)),
                "total": total,
                **extra,
            }
        )
    return out
