"""Helpers for the team-deployment tests: fast password hashing and a small two-clinician store."""

from __future__ import annotations

import pandas as pd
import pytest
from argon2 import PasswordHasher

from caseload import auth
from caseload.store import RATING_COLUMNS, now_utc

PASSWORD = "correct horse battery"


@pytest.fixture
def fast_hashing(monkeypatch):
    """Argon2id with minimal cost so tests that add users stay fast (production keeps the RFC 9106 profile)."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def add_ratings(con, rows: list[tuple[str, str | None, int, float]], measure: str = "ORS") -> None:
    """Store ratings (client, clinician, session number, total) under a fresh import, like an import would."""
    import_id = int(con.execute("select coalesce(max(import_id), 0) + 1 from imports").fetchall()[0][0])
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (?, 'test.csv', ?, ?, ?, ?, 0, 0)",
        [import_id, f"sha{import_id}", now_utc(), len(rows), len(rows)],
    )
    frame = pd.DataFrame(
        [
            {
                "client_id": client,
                "clinician_id": clinician,
                "episode_id": None,
                "age_group": "adult",
                "session_date": pd.Timestamp("2026-01-05") + pd.Timedelta(days=7 * (n - 1)),
                "session_number": n,
                "measure": measure,
                "rater": "self",
                "items": None,
                "total": total,
                "total_source": "total",
                "import_id": import_id,
                "source_row": i + 2,
            }
            for i, (client, clinician, n, total) in enumerate(rows)
        ],
        columns=RATING_COLUMNS,
    )
    con.register("incoming_test_rows", frame)
    con.execute(f"insert into ratings ({', '.join(RATING_COLUMNS)}) select * from incoming_test_rows")
    con.unregister("incoming_test_rows")


TWO_CLINICIANS = [
    ("C001", "T01", 1, 18.0),
    ("C001", "T01", 2, 22.5),
    ("C002", "T01", 1, 30.1),
    ("C101", "T02", 1, 12.0),
    ("C101", "T02", 2, 14.0),
    ("C201", "T03", 1, 25.0),
    ("C301", None, 1, 20.0),
]
