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
    SEVERITY_SYMBOL,
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


def _severity_rank(severity: object) -> int:
    """Rank of the row's most severe alert (the engine's top_severity; 0 = critical); 9 without alerts."""
    if not isinstance(severity, str):
        return 9
    return SEVERITY_RANK.get(severity.lower(), 8)


def most_urgent_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The overview sorted so the rows to look at first come first.

    Order: active episodes before closed ones; within them a critical alert (an endorsed risk item)
    first whatever the status; then status (off track, at risk, on track, not enough data), alliance
    concerns, the most severe alert, more alerts, and the longest time since the last session.
    """
    if frame.empty:
        return frame.copy()
    severity = frame["top_severity"].map(_severity_rank)
    keys = pd.DataFrame(
        {
            "closed": (~frame["episode_active"].fillna(False).astype(bool)).astype(int),
            "critical": (severity != SEVERITY_RANK["critical"]).astype(int),
            "status": frame["status"].map(status_rank),
            "alliance": (frame["alliance_status"] != "concern").astype(int),
            "severity": severity,
            "alerts": -frame["alert_count"].fillna(0).astype(int),
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
    or after its start) and rows without dates (they cannot be shown to fall outside it); the search matches client codes case-insensitively anywhere in the code.
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
        latest = pd.to_datetime(frame["latest_date"])
        keep &= latest.isna() | latest.ge(pd.Timestamp(date_from))
    if date_to is not None:
        first = pd.to_datetime(frame["first_date"])
        keep &= first.isna() | first.le(pd.Timestamp(date_to))
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


def _alert_cell(severity: object, top: object) -> str:
    """The top alert in words, led by its severity symbol so the most serious reason shows first."""
    text = alert_text(top)
    if not text:
        return ""
    rank = _severity_rank(severity)
    symbol = next((SEVERITY_SYMBOL[k] for k, v in SEVERITY_RANK.items() if v == rank), "")
    return f"{symbol} {text}".strip()


def caseload_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The caseload as people read it: status and alliance in symbols and words, the top alert in words
    beside the client (it explains why a row sorts where it does)."""
    out = pd.DataFrame(
        {
            "Status": frame["status"].map(status_label),
            "Client": frame["client_id"].astype(str),
            "Top alert": [
                _alert_cell(s, t) for s, t in zip(frame["top_severity"], frame["top_alert"], strict=True)
            ],
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
        }
    )
    return out.reset_index(drop=True)


STATUS_FILTER_OPTIONS = ["off_track", "at_risk", "alliance_concern", "on_track", "not_enough_data"]


def status_filter_label(option: str) -> str:
    """Words for the status filter's options, including the alliance concern pseudo-status."""
    if option == "alliance_concern":
        return ALLIANCE["concern"].label
    return status_label(option)


# --- one client (caseload.engine.client_detail) -------------------------------------------------------


def entry_ratings(entry: dict) -> list[dict]:
    """The ratings of one measure entry of an episode (the engine's per-session records)."""
    for key in ("ratings", "sessions", "scores"):
        value = entry.get(key)
        if isinstance(value, list):
            return value
    return []


def entry_key(entry: dict) -> str:
    """How the measure switcher names an entry: the code, with the rater when it is not the client."""
    rater = entry.get("rater") or "self"
    return str(entry["measure"]) if rater == "self" else f"{entry['measure']} ({rater})"


def episode_entries(episode: dict) -> tuple[list[dict], list[dict]]:
    """An episode's outcome and alliance measure entries that have ratings, self-ratings first."""
    outcome, alliance = [], []
    for entry in episode.get("measures", []):
        if not entry_ratings(entry):
            continue
        (alliance if entry.get("kind") == "alliance" else outcome).append(entry)
    order = lambda e: ((e.get("rater") or "self") != "self", str(e["measure"]))  # noqa: E731
    return sorted(outcome, key=order), sorted(alliance, key=order)


def ratings_frame(entry: dict, date_from: date | None = None, date_to: date | None = None) -> pd.DataFrame:
    """One measure's ratings as session, date, score and items, optionally limited to a date range.

    Ratings without a date are kept (they cannot be shown to fall outside the range).
    """
    rows = [
        {
            "session": r.get("session"),
            "date": pd.Timestamp(r["date"]) if r.get("date") is not None else pd.NaT,
            "score": r.get("total"),
            "items": r.get("items"),
        }
        for r in entry_ratings(entry)
        if r.get("session") is not None and r.get("total") is not None
    ]
    frame = pd.DataFrame(rows, columns=["session", "date", "score", "items"])
    if frame.empty:
        return frame
    frame["date"] = pd.to_datetime(frame["date"])
    keep = pd.Series(True, index=frame.index)
    if date_from is not None:
        keep &= frame["date"].isna() | (frame["date"] >= pd.Timestamp(date_from))
    if date_to is not None:
        keep &= frame["date"].isna() | (frame["date"] <= pd.Timestamp(date_to))
    return frame.loc[keep].sort_values("session").reset_index(drop=True)


def band_frame(entry: dict) -> pd.DataFrame:
    """The expected band per session for the chart: 25th-75th percentile, median and the 10th percentile
    (below it the engine calls the client off track)."""
    bands = (entry.get("expected") or {}).get("bands") or []
    frame = pd.DataFrame(bands)
    if frame.empty or not {"session", "p25", "p75"} <= set(frame.columns):
        return pd.DataFrame(columns=["session", "low", "high", "median", "floor"])
    return pd.DataFrame(
        {
            "session": frame["session"].astype(int),
            "low": frame["p25"],
            "high": frame["p75"],
            "median": frame.get("p50"),
            "floor": frame.get("p10"),
        }
    )


def band_caption(entry: dict) -> str:
    """Which expected-response model drew the band and on how many clients it rests (one line per fact)."""
    expected = entry.get("expected") or {}
    bands = expected.get("bands") or []
    model = expected.get("model") or (bands[-1].get("model") if bands else None)
    n = expected.get("n") or (bands[-1].get("n") if bands else None)
    intake = entry.get("first_score")
    intake_text = "" if intake is None else f" with an intake of {intake:g}"
    if model == "calibrated":
        source = f"calibrated on {n:,} episodes in this store" if n else "calibrated on this store's history"
    else:
        source = "Caseload's default model (our own documented model, not a licensed trajectory)"
    return (
        f"Shaded band: where the middle half of clients{intake_text} were expected to be.\nModel: {source}."
    )


def entry_alerts(alerts: list[dict], code: str, rules: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The alerts of one measure (optionally of some rules) as session and message, for chart markers."""
    rows = [
        {"session": a.get("session"), "message": a.get("message", ""), "rule": a.get("rule")}
        for a in alerts
        if a.get("measure") == code
        and a.get("session") is not None
        and (rules is None or a.get("rule") in rules)
    ]
    return pd.DataFrame(rows, columns=["session", "message", "rule"])


def session_table(episode: dict) -> pd.DataFrame:
    """Every rating of an episode, one row per session: date and each measure's total (raters apart)."""
    rows = []
    for entry in episode.get("measures", []):
        name = entry_key(entry)
        for r in entry_ratings(entry):
            rows.append(
                {"Session": r.get("session"), "Date": r.get("date"), "measure": name, "total": r.get("total")}
            )
    if not rows:
        return pd.DataFrame(columns=["Session", "Date"])
    long = pd.DataFrame(rows)
    long["Date"] = pd.to_datetime(long["Date"])
    names = list(dict.fromkeys(long["measure"]))
    table = long.pivot_table(index="Session", columns="measure", values="total", aggfunc="first")
    table = table.reindex(columns=names)
    table.insert(0, "Date", long.groupby("Session")["Date"].min().dt.date)
    table.columns.name = None
    return table.reset_index().sort_values("Session").reset_index(drop=True)


def date_span(episode: dict) -> tuple[date, date] | None:
    """The first and latest rating date of an episode, or None when no rating has a date."""
    dates = [
        pd.Timestamp(r["date"]).date()
        for entry in episode.get("measures", [])
        for r in entry_ratings(entry)
        if r.get("date") is not None
    ]
    return (min(dates), max(dates)) if dates else None
