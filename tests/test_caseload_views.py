"""The caseload table a therapist reads: filters, most-urgent-first order, tiles and words for statuses."""

from __future__ import annotations

from datetime import date

from _frames import overview_frame, overview_row

from caseload.labels import status_label
from caseload.views import (
    caseload_table,
    caseload_tiles,
    filter_caseload,
    main_outcome_rows,
    most_urgent_first,
)


def _alert(severity: str, message: str = "x") -> dict[str, object]:
    return {"rule": "r", "severity": severity, "message": message, "session": 3}


def test_most_urgent_first_puts_off_track_then_at_risk_then_alliance_concerns():
    frame = overview_frame(
        [
            overview_row("C1", status="on_track"),
            overview_row("C2", status="not_enough_data"),
            overview_row("C3", status="on_track", alliance_status="concern"),
            overview_row("C4", status="at_risk"),
            overview_row("C5", status="off_track"),
        ]
    )
    assert list(most_urgent_first(frame)["client_id"]) == ["C5", "C4", "C3", "C1", "C2"]


def test_within_a_status_the_more_severe_alert_and_longer_absence_come_first():
    frame = overview_frame(
        [
            overview_row("C1", status="off_track", alerts=[_alert("low")], days_since_last=3),
            overview_row("C2", status="off_track", alerts=[_alert("high")], days_since_last=3),
            overview_row("C3", status="off_track", alerts=[_alert("low")], days_since_last=30),
        ]
    )
    assert list(most_urgent_first(frame)["client_id"]) == ["C2", "C3", "C1"]


def test_a_critical_risk_alert_comes_first_even_when_the_client_is_on_track():
    frame = overview_frame(
        [
            overview_row("C1", status="off_track", alerts=[_alert("high")]),
            overview_row("C2", status="on_track", alerts=[_alert("critical", "Risk item endorsed")]),
        ]
    )
    assert list(most_urgent_first(frame)["client_id"]) == ["C2", "C1"]


def test_closed_episodes_come_after_every_active_one():
    frame = overview_frame(
        [
            overview_row("C1", status="off_track", episode_active=False, alerts=[_alert("critical")]),
            overview_row("C2", status="on_track"),
        ]
    )
    assert list(most_urgent_first(frame)["client_id"]) == ["C2", "C1"]


def test_filters_combine_and_an_empty_filter_keeps_everything():
    frame = overview_frame(
        [
            overview_row("C001", status="off_track", measure="ORS", days_since_last=3),
            overview_row("C002", status="on_track", measure="PHQ9", days_since_last=40),
            overview_row(
                "X003", status="on_track", measure="ORS", alliance_status="concern", days_since_last=10
            ),
        ]
    )
    assert len(filter_caseload(frame)) == 3
    assert list(filter_caseload(frame, statuses=["off_track"])["client_id"]) == ["C001"]
    assert list(filter_caseload(frame, statuses=["alliance_concern"])["client_id"]) == ["X003"]
    assert list(filter_caseload(frame, measures=["PHQ9"])["client_id"]) == ["C002"]
    assert list(filter_caseload(frame, active_within_days=14)["client_id"]) == ["C001", "X003"]
    assert list(filter_caseload(frame, search="c00")["client_id"]) == ["C001", "C002"]
    assert filter_caseload(frame, search="nobody").empty


def test_date_range_keeps_clients_whose_sessions_overlap_it():
    frame = overview_frame(
        [
            overview_row("C1", first_date="2026-01-01", latest_date="2026-03-01"),
            overview_row("C2", first_date="2026-05-01", latest_date="2026-07-01"),
            overview_row("C3", first_date=None, latest_date=None),
        ]
    )
    kept = filter_caseload(frame, date_from=date(2026, 2, 15), date_to=date(2026, 4, 1))
    assert list(kept["client_id"]) == ["C1", "C3"]  # undated ratings cannot be shown to fall outside


def test_tiles_count_active_clients_and_the_improved_share_of_closed_episodes():
    frame = overview_frame(
        [
            overview_row("C1", status="off_track"),
            overview_row("C1", status="at_risk", measure="PHQ9"),  # counted once, as off track
            overview_row("C2", status="at_risk", alliance_status="concern"),
            overview_row("C3", status="on_track"),
            overview_row("C4", episode_active=False, change_category="recovered"),
            overview_row("C5", episode_active=False, change_category="unchanged"),
            overview_row("C6", episode_active=False, change_category="improved", status="off_track"),
        ]
    )
    tiles = caseload_tiles(frame)
    assert (tiles.active_clients, tiles.off_track, tiles.at_risk, tiles.alliance_concerns) == (3, 1, 1, 1)
    assert (tiles.closed_episodes, tiles.improved_or_recovered) == (3, 2)
    assert tiles.improved_share == 2 / 3


def test_each_episode_counts_once_on_its_most_rated_measure():
    frame = overview_frame(
        [
            overview_row("C1", measure="PHQ9", sessions=3),
            overview_row("C1", measure="ORS", sessions=8),
            overview_row("C1", episode=2, measure="GAD7", sessions=2),
        ]
    )
    main = main_outcome_rows(frame)
    assert list(zip(main["episode"], main["measure"], strict=True)) == [(1, "ORS"), (2, "GAD7")]


def test_the_table_shows_status_as_symbol_and_word_and_the_alert_in_words():
    frame = overview_frame(
        [
            overview_row(
                "C1", status="off_track", alerts=[_alert("high", "Score fell below the expected range")]
            )
        ]
    )
    table = caseload_table(frame)
    assert table.loc[0, "Status"] == status_label("off_track") == "▼ Off track"
    assert table.loc[0, "Top alert"] == "▼ Score fell below the expected range"  # led by its severity
    assert list(table.columns[:3]) == ["Status", "Client", "Top alert"]
    assert table.loc[0, "Category"] == "Reliably improved"


def test_an_empty_overview_gives_zero_tiles_and_an_empty_table():
    frame = overview_frame([])
    assert caseload_tiles(frame).active_clients == 0
    assert caseload_tiles(frame).improved_share is None
    assert most_urgent_first(frame).empty
    assert caseload_table(frame).empty
