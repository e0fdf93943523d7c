"""Episodes of care: explicit ids from the export, gaps that start a new episode, active and closed."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from caseload.episodes import EpisodeRules, assign_episodes, episode_ratings, episodes
from caseload.store import set_setting

TODAY = date(2026, 6, 30)


def ratings(rows):
    """A small ratings frame from (client, date, session_number, measure, total[, episode_id]) tuples."""
    records = []
    for row in rows:
        client, when, number, measure, total, *rest = row
        records.append(
            {
                "client_id": client,
                "clinician_id": "T01",
                "episode_id": rest[0] if rest else None,
                "session_date": pd.Timestamp(when) if when else None,
                "session_number": number,
                "measure": measure,
                "rater": "self",
                "total": total,
            }
        )
    return pd.DataFrame(records)


def weekly(client, start, n, first_number=1, measure="ORS"):
    return [(client, start + timedelta(days=7 * k), first_number + k, measure, 20.0) for k in range(n)]


def test_a_gap_of_exactly_the_limit_stays_in_the_same_episode():
    rows = [("A", date(2026, 1, 1), 1, "ORS", 20.0), ("A", date(2026, 4, 1), 2, "ORS", 22.0)]  # 90 days
    rated, table = assign_episodes(ratings(rows), today=TODAY)
    assert (date(2026, 4, 1) - date(2026, 1, 1)).days == 90
    assert list(rated["episode"]) == [1, 1]
    assert len(table) == 1


def test_one_day_more_than_the_limit_starts_a_new_episode_with_its_own_session_count():
    rows = [
        ("A", date(2026, 1, 1), 1, "ORS", 20.0),
        ("A", date(2026, 1, 1), 1, "SRS", 38.0),
        ("A", date(2026, 1, 8), 2, "ORS", 21.0),
        ("A", date(2026, 4, 9), 3, "ORS", 15.0),  # 91 days after the previous rating
        ("A", date(2026, 4, 16), 4, "ORS", 17.0),
    ]
    rated, table = assign_episodes(ratings(rows), today=TODAY)
    rated = rated.sort_values(["session_date", "measure"])
    assert list(rated["episode"]) == [1, 1, 1, 2, 2]
    assert list(rated["episode_session"]) == [1, 1, 2, 1, 2]
    assert list(table["sessions"]) == [2, 2]
    assert list(table["start_date"].dt.date) == [date(2026, 1, 1), date(2026, 4, 9)]


def test_the_gap_is_configurable():
    rows = [("A", date(2026, 1, 1), 1, "ORS", 20.0), ("A", date(2026, 2, 15), 2, "ORS", 22.0)]  # 45 days
    rated, _ = assign_episodes(ratings(rows), rules=EpisodeRules(gap_days=30), today=TODAY)
    assert list(rated["episode"]) == [1, 2]
    rated, _ = assign_episodes(ratings(rows), rules=EpisodeRules(gap_days=45), today=TODAY)
    assert list(rated["episode"]) == [1, 1]


def test_episode_ids_from_the_export_are_used_as_given():
    rows = [
        ("A", date(2026, 1, 1), 1, "ORS", 20.0, "case-7"),
        ("A", date(2026, 1, 8), 2, "ORS", 21.0, "case-7"),
        ("A", date(2026, 1, 15), 1, "ORS", 12.0, "case-9"),  # a new case one week later, numbering restarts
        ("A", date(2026, 1, 22), 2, "ORS", 14.0, "case-9"),
        (
            "A",
            date(2026, 9, 1),
            3,
            "ORS",
            16.0,
            "case-9",
        ),  # a long gap inside an explicit episode stays in it
    ]
    rated, table = assign_episodes(ratings(rows), today=TODAY)
    rated = rated.sort_values("session_date")
    assert list(rated["episode"]) == [1, 1, 2, 2, 2]
    assert list(rated["episode_session"]) == [1, 2, 1, 2, 3]
    assert list(table["episode_id"]) == ["case-7", "case-9"]
    assert list(table["episode_source"]) == ["export", "export"]
    assert table["episode_label"].iloc[0].startswith("case-7 (2026-01-01 to 2026-01-08")


def test_an_episode_closes_one_day_after_the_close_limit():
    rows = [
        ("A", TODAY - timedelta(days=60), 1, "ORS", 20.0),
        ("B", TODAY - timedelta(days=61), 1, "ORS", 20.0),
    ]
    _, table = assign_episodes(ratings(rows), today=TODAY)
    assert dict(zip(table["client_id"], table["active"], strict=True)) == {"A": True, "B": False}
    assert list(table["days_since_last"]) == [60, 61]
    assert table["episode_label"].iloc[1].endswith("closed)")
    _, table = assign_episodes(ratings(rows), rules=EpisodeRules(close_after_days=61), today=TODAY)
    assert table["active"].all()


def test_ratings_without_a_date_belong_to_the_latest_episode():
    rows = [
        ("A", date(2026, 1, 1), 1, "ORS", 20.0),
        ("A", date(2026, 6, 1), 2, "ORS", 20.0),
        ("A", None, 3, "ORS", 23.0),
    ]
    rated, table = assign_episodes(ratings(rows), today=TODAY)
    assert list(rated.sort_values("session_number")["episode"]) == [1, 2, 2]
    assert list(rated.sort_values("session_number")["episode_session"]) == [1, 1, 2]


def test_a_client_without_any_dates_is_one_active_episode_numbered_by_session():
    rows = [("A", None, 4, "ORS", 20.0), ("A", None, 5, "ORS", 23.0)]
    rated, table = assign_episodes(ratings(rows), today=TODAY)
    assert list(rated["episode"]) == [1, 1]
    assert sorted(rated["episode_session"]) == [1, 2]
    assert bool(table["active"].iloc[0]) is True
    assert "no dates" in table["episode_label"].iloc[0]


@pytest.fixture
def stored(con):
    """A store with two clients: A has two episodes (gap 120 days), B one episode with another clinician."""
    rows = weekly("A", date(2025, 10, 1), 3) + weekly("A", date(2026, 2, 11), 2, first_number=4)
    rows += weekly("B", date(2026, 6, 1), 2)
    frame = ratings(rows)
    frame.loc[frame.client_id == "B", "clinician_id"] = "T02"
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'x.csv', 'x', now(), 7, 7, 0, 0)"
    )
    frame["import_id"] = 1
    con.register("incoming", frame)
    con.execute(
        "insert into ratings (client_id, clinician_id, episode_id, session_date, session_number, measure,"
        " rater, total, import_id) select client_id, clinician_id, episode_id, session_date::date,"
        " session_number, measure, rater, total, import_id from incoming"
    )
    con.unregister("incoming")
    return con


def test_the_store_is_split_into_episodes_in_one_pass(stored):
    table = episodes(stored, today=TODAY)
    assert list(zip(table["client_id"], table["episode"], strict=True)) == [("A", 1), ("A", 2), ("B", 1)]
    assert list(table["active"]) == [False, False, True]
    rated = episode_ratings(stored, client_id="A")
    assert list(rated["episode_session"]) == [1, 2, 3, 1, 2]


def test_the_gap_saved_in_settings_applies(stored):
    set_setting(stored, "episode_gap_days", "200")
    assert len(episodes(stored, today=TODAY, client_id="A")) == 1


def test_one_clients_gap_can_be_overridden(stored):
    table = episodes(stored, today=TODAY, gap_overrides={"A": 365})
    assert list(table["client_id"]) == ["A", "B"]


def test_filtering_by_clinician_keeps_whole_clients(stored):
    table = episodes(stored, today=TODAY, clinician_id="T02")
    assert list(table["client_id"]) == ["B"]
