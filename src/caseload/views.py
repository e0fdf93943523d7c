"""Frames the caseload screens and exports show, derived from the engine's overview: filtered, sorted most
urgent first, summarised into tiles and turned into words. No Streamlit here, so pages stay thin and the
same tables go into the Excel export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from caseload.labels import (
    ALLIANCE,
    IMPROVED_CATEGORIES,
    SEVERITY_RANK,
    alliance_label,
    category_label,
    status_label,
    status_rank,
)


def alert_text(alert: object) -> str:
    """The words of an alert (a dict from the engine, or already a string); '' when there is none."""
    if alert is None or (isinstance(alert, float) and alert != alert):
        return ""
    if isinstance(alert, dict):
        return str(alert.get("message") or alert.get("rule") or "")
    return str(alert)


def _severity(alert: object) -> int:
    if isinstance(alert, dict):
        return SEVERITY_RANK.get(str(alert.get("severity", "")).lower(), 5)
    return 5 if not alert_text(alert) else 4


def _n_alerts(alerts: object) -> int:
    return len(alerts) if isinstance(alerts, (list, tuple)) else 0


def most_urgent_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The overview sorted so the rows to look at first come first.

    Order: status (off track, at risk, on track, not enough data), then alliance concerns, then the most
    severe alert, more alerts, and the longest time since the last session.
    """
    if frame.empty:
        return frame.copy()
    keys = pd.DataFrame(
        {
            "status": frame["status"].map(status_rank),
            "alliance": (frame["alliance_status"] != "concern").astype(int),
            "severity": frame["top_alert"].map(_severity),
            "alerts": -frame["alerts"].map(_n_alerts),
            "days": -frame["days_since_last"].fillna(0),
            "client": frame["client_id"],
        },
        index=frame.index,
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def filter_caseload(
    frame: pd.DataFrame,
    *,
    statuses: list[str] | None = None,
    measures: list[str] | None = None,
    active_within_days: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    search: str | None = None,
) -> pd.DataFrame:
    """Rows matching every filter given; a filter left empty keeps every row.

    The date range keeps rows whose sessions overlap it (first session on or before its end, latest on
    or after its start); the search matches client codes case-insensitively anywhere in the code.
    """
    keep = pd.Series(True, index=frame.index)
    if statuses:
        keep &= frame["status"].isin(statuses) | (
            frame["alliance_status"].eq("concern") & ("alliance_concern" in statuses)
        )
    if measures:
        keep &= frame["measure"].isin(measures)
    if active_within_days is not None and active_within_days > 0:
        keep &= frame["days_since_last"].le(active_within_days).fillna(False)
    if date_from is not None:
        keep &= pd.to_datetime(frame["latest_date"]).ge(pd.Timestamp(date_from)).fillna(False)
    if date_to is not None:
        keep &= pd.to_datetime(frame["first_date"]).le(pd.Timestamp(date_to)).fillna(False)
    if search and search.strip():
        keep &= frame["client_id"].astype(str).str.contains(search.strip(), case=False, regex=False)
    return frame.loc[keep]


def main_outcome_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (client, episode): the outcome measure rated most often (ties: alphabetical).

    Shares of improved or off-track clients count each episode once, not once per measure.
    """
    if frame.empty:
        return frame.copy()
    ordered = frame.sort_values(
        ["client_id", "episode", "sessions", "measure"], ascending=[True, True, False, True], kind="stable"
    )
    return ordered.drop_duplicates(["client_id", "episode"], keep="first").reset_index(drop=True)


@dataclass(frozen=True)
class Tiles:
    """The caseload at a glance: counts of clients, and the share improved among closed episodes."""

    active_clients: int
    off_track: int
    at_risk: int
    alliance_concerns: int
    closed_episodes: int
    improved_or_recovered: int

    @property
    def improved_share(self) -> float | None:
        return self.improved_or_recovered / self.closed_episodes if self.closed_episodes else None


def caseload_tiles(frame: pd.DataFrame) -> Tiles:
    """Tiles for an overview: statuses count active episodes' clients; the share counts closed episodes."""
    if frame.empty:
        return Tiles(0, 0, 0, 0, 0, 0)
    active = frame[frame["episode_active"].fillna(False).astype(bool)]
    off = set(active.loc[active["status"] == "off_track", "client_id"])
    risk = set(active.loc[active["status"] == "at_risk", "client_id"]) - off
    closed = main_outcome_rows(frame[~frame["episode_active"].fillna(False).astype(bool)])
    return Tiles(
        active_clients=int(active["client_id"].nunique()),
        off_track=len(off),
        at_risk=len(risk),
        alliance_concerns=int(active.loc[active["alliance_status"] == "concern", "client_id"].nunique()),
        closed_episodes=len(closed),
        improved_or_recovered=int(closed["change_category"].isin(IMPROVED_CATEGORIES).sum()),
    )


def caseload_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The caseload as people read it: status and alliance in symbols and words, alert in words."""
    out = pd.DataFrame(
        {
            "Status": frame["status"].map(status_label),
            "Client": frame["client_id"].astype(str),
            "Clinician": frame["clinician_id"],
            "Episode": frame["episode"],
            "Measure": frame["measure"],
            "Sessions": frame["sessions"],
            "First score": frame["first_score"],
            "Latest score": frame["latest_score"],
            "Change": frame["change"],
            "Category": frame["change_category"].map(category_label),
            "Latest alliance": frame["latest_alliance"],
            "Alliance": frame["alliance_status"].map(alliance_label),
            "Days since last": frame["days_since_last"],
            "Last session": pd.to_datetime(frame["latest_date"]).dt.date,
            "Top alert": frame["top_alert"].map(alert_text),
        }
    )
    return out.reset_index(drop=True)


STATUS_FILTER_OPTIONS = ["off_track", "at_risk", "alliance_concern", "on_track", "not_enough_data"]


def status_filter_label(option: str) -> str:
    """Words for the status filter's options, including the alliance concern pseudo-status."""
    if option == "alliance_concern":
        return ALLIANCE["concern"].label
    return status_label(option)
