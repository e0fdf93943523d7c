"""What a clinician sets for one client in the app: the episode gap, the age group, and how an episode ended.

These fill in what an export does not say (issue 8). The export's own values win for the age group (an
export that states it is the record); for endings the clinician's record wins (the export rarely says
whether an ending was planned). Each change is one small write; the engine reads the tables directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from caseload.measures import AGE_GROUPS
from caseload.store import now_utc

RECORDABLE_ENDINGS = ("planned", "unplanned")
MAX_GAP_DAYS = 3650


@dataclass(frozen=True)
class ClientSettings:
    """One client's settings; None where the site-wide default applies."""

    client_id: str
    gap_days: int | None = None
    age_group: str | None = None


def client_settings(con: duckdb.DuckDBPyConnection, client_id: str) -> ClientSettings:
    """The client's saved settings (defaults where nothing is saved)."""
    row = con.execute(
        "select gap_days, age_group from client_settings where client_id = ?", [client_id]
    ).fetchall()
    if not row:
        return ClientSettings(client_id)
    return ClientSettings(client_id, row[0][0], row[0][1])


def save_client_settings(
    con: duckdb.DuckDBPyConnection, client_id: str, gap_days: int | None, age_group: str | None
) -> ClientSettings:
    """Save the client's episode gap (days) and age group; None returns either to the site default."""
    if gap_days is not None and not 1 <= int(gap_days) <= MAX_GAP_DAYS:
        raise ValueError(f"The episode gap must be between 1 and {MAX_GAP_DAYS} days, not {gap_days}.")
    if age_group is not None and age_group not in AGE_GROUPS:
        raise ValueError(f"The age group must be one of {', '.join(AGE_GROUPS)}, not {age_group!r}.")
    if gap_days is None and age_group is None:
        con.execute("delete from client_settings where client_id = ?", [client_id])
    else:
        con.execute(
            "insert or replace into client_settings values (?, ?, ?, ?)",
            [client_id, None if gap_days is None else int(gap_days), age_group, now_utc()],
        )
    return client_settings(con, client_id)


def record_ending(
    con: duckdb.DuckDBPyConnection,
    client_id: str,
    ended_on: date,
    ending: str | None,
    recorded_by: str | None = None,
) -> None:
    """Record that the client's episode whose last rating is on ``ended_on`` ended as planned or unplanned;
    ``None`` removes the record. A later rating then starts a new episode."""
    if ending is None:
        con.execute("delete from episode_endings where client_id = ? and ended_on = ?", [client_id, ended_on])
        return
    if ending not in RECORDABLE_ENDINGS:
        raise ValueError(f"An ending is recorded as {' or '.join(RECORDABLE_ENDINGS)}, not {ending!r}.")
    con.execute(
        "insert or replace into episode_endings values (?, ?, ?, ?, ?)",
        [client_id, ended_on, ending, recorded_by, now_utc()],
    )
