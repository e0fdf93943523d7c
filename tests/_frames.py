"""Hand-built caseload overviews in the engine's column layout, for tests of what is derived from it."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

OVERVIEW_COLUMNS = [
    "client_id",
    "clinician_id",
    "episode",
    "episode_active",
    "episode_ending",
    "age_group",
    "population",
    "measure",
    "sessions",
    "first_date",
    "latest_date",
    "days_since_last",
    "first_score",
    "latest_score",
    "change",
    "change_category",
    "status",
    "alliance_status",
    "latest_alliance",
    "alerts",
    "alert_count",
    "top_alert",
    "top_severity",
    "expected_model",
    "expected_n",
]


def overview_row(client_id: str, **values: object) -> dict[str, object]:
    """One overview row with plausible defaults; keyword arguments override them."""
    first = float(values.pop("first_score", 18.0))
    latest = float(values.pop("latest_score", 24.0))
    days = int(values.pop("days_since_last", 7))
    sessions = int(values.pop("sessions", 5))
    today = date(2026, 11, 20)
    alerts = values.pop("alerts", [])
    row: dict[str, object] = {
        "client_id": client_id,
        "clinician_id": "T01",
        "episode": 1,
        "episode_active": True,
        "episode_ending": None,
        "age_group": "adult",
        "population": "adult",
        "measure": "ORS",
        "sessions": sessions,
        "first_date": pd.Timestamp(today - timedelta(days=days + 7 * (sessions - 1))),
        "latest_date": pd.Timestamp(today - timedelta(days=days)),
        "days_since_last": days,
        "first_score": first,
        "latest_score": latest,
        "change": latest - first,
        "change_category": "improved",
        "status": "on_track",
        "alliance_status": "ok",
        "latest_alliance": 38.0,
        "alerts": alerts,
        "alert_count": len(alerts),
        # The engine gives the most severe alert's message and severity (alerts are sorted that way).
        "top_alert": alerts[0]["message"] if alerts else None,
        "top_severity": alerts[0]["severity"] if alerts else None,
        "expected_model": "test model",
        "expected_n": 100,
    }
    row.update(values)
    return row


def overview_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """An overview frame from rows made by ``overview_row``."""
    return pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)
