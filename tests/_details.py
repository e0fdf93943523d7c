"""Hand-built client details in the shape of ``caseload.engine.client_detail``, for guide and report tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

START = date(2026, 3, 2)


def sessions(totals: list[float], items: list[list[float] | None] | None = None, codes: tuple[str, ...] = ()):
    """Session dicts (session, date, total, items by code), weekly from START."""
    out = []
    for i, total in enumerate(totals):
        its = items[i] if items is not None else None
        out.append(
            {
                "session": i + 1,
                "session_number": i + 1,
                "date": START + timedelta(days=7 * i),
                "total": float(total),
                "items": None if its is None else dict(zip(codes, [float(v) for v in its], strict=True)),
            }
        )
    return out


def bands(first_session: int, rows: list[tuple[float, float, float, float, float]]) -> dict[str, Any]:
    """An expected-band block: one (p10, p25, p50, p75, p90) tuple per session from ``first_session``."""
    return {
        "model": "default",
        "n": None,
        "population": "adult",
        "calibrated_episodes": None,
        "bands": [
            {
                "t": i + 1,
                "session": first_session + i,
                **dict(zip(("p10", "p25", "p50", "p75", "p90"), r, strict=True)),
            }
            for i, r in enumerate(rows)
        ],
    }


def outcome(
    code: str,
    totals: list[float],
    *,
    status: str = "on_track",
    category: str = "unchanged",
    population: str = "adult",
    items: list[list[float] | None] | None = None,
    item_codes: tuple[str, ...] = (),
    expected: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One outcome measure entry of an episode."""
    return {
        "measure": code,
        "kind": "outcome",
        "rater": "self",
        "sessions": sessions(totals, items, item_codes),
        "status": status,
        "change_category": category,
        "population": population,
        "expected": expected,
    }


def alliance(code: str, totals: list[float], items: list[list[float]] | None = None) -> dict[str, Any]:
    """One alliance measure entry (SRS items: relationship, goals, approach, overall)."""
    return {
        "measure": code,
        "kind": "alliance",
        "rater": "self",
        "sessions": sessions(totals, items, ("relationship", "goals", "approach", "overall")),
    }


def alert(
    rule: str,
    message: str,
    *,
    measure: str | None = "ORS",
    session: int | None = None,
    severity: str = "medium",
    **values: Any,
):
    return {
        "rule": rule,
        "severity": severity,
        "message": message,
        "session": session,
        "measure": measure,
        "values": values,
    }


def detail(
    *measures: dict[str, Any], alerts: list[dict[str, Any]] | None = None, client_id: str = "C-0042"
) -> dict[str, Any]:
    """A client_detail dict with one episode holding ``measures`` and ``alerts``."""
    return {
        "client_id": client_id,
        "clinician_id": "T-SECRET-7",
        "age_group": "adult",
        "episodes": [
            {
                "client_id": client_id,
                "episode": 1,
                "clinician_id": "T-SECRET-7",
                "measures": list(measures),
                "alerts": list(alerts or []),
            }
        ],
        "alerts": list(alerts or []),
    }


ORS_ITEMS = ("individual", "interpersonal", "social", "overall")


def off_track_client() -> dict[str, Any]:
    """ORS 14 -> 16 over five sessions, below the 10th percentile; SRS dropping with a low goals item."""
    ors = [14.0, 15.5, 15.0, 16.5, 16.0]
    items = [[3.0, 3.5, 4.0, 3.5], [4, 4, 4, 3.5], [4, 3.5, 4, 3.5], [4, 4.5, 4, 4], [4.5, 3.5, 4, 4]]
    band_rows = [(14, 14, 14, 14, 14)] + [
        (14 + s * 0.9, 14 + s * 1.5, 14 + s * 2.2, 14 + s * 2.9, 14 + s * 3.4) for s in range(1, 8)
    ]
    return detail(
        outcome(
            "ORS", ors, status="off_track", items=items, item_codes=ORS_ITEMS, expected=bands(1, band_rows)
        ),
        alliance(
            "SRS",
            [39.0, 38.5, 38.0, 34.5],
            [[9.5, 9.5, 9.5, 9.5], [9.5, 9.5, 9.5, 9.5], [9.5, 9.5, 9.5, 9.5], [9.5, 7.0, 9.0, 9.0]],
        ),
        alerts=[
            alert(
                "off_track",
                "ORS 16 at session 5 is below the range 90% of similar clients had reached (17.6–31.0).",
                session=5,
                severity="high",
                p10=17.6,
                p25=21.5,
                p50=25.0,
                p75=28.5,
                p90=31.0,
            ),
            alert(
                "no_reliable_change",
                "ORS has moved +2 points since intake (14 → 16) by session 5.",
                session=5,
            ),
            alert(
                "alliance_below_cutoff",
                "SRS 34.5 at session 4 is below the alliance cutoff of 36.",
                measure="SRS",
                session=4,
            ),
            alert(
                "alliance_drop",
                "SRS fell 3.5 points from the previous rating (38 → 34.5) at session 4.",
                measure="SRS",
                session=4,
            ),
            alert(
                "low_alliance_item",
                "SRS at session 4: Goals and topics 7 — below 9.",
                measure="SRS",
                session=4,
                severity="low",
            ),
        ],
    )
