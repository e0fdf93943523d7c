"""How episodes end (issue 8): endings from the export or recorded in the app, per-client gaps and age groups."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from _engine_store import TODAY, put, series

from caseload.client_settings import client_settings, record_ending, save_client_settings
from caseload.engine import caseload_overview, client_detail
from caseload.episodes import episodes


def plain(values) -> list:
    """Values with missing ones as None (pandas 3 shows a missing text as NaN)."""
    return [None if pd.isna(v) else v for v in values]


def overview(con, registry):
    return caseload_overview(con, registry, today=TODAY, trajectory="default")


def test_an_ending_in_the_export_closes_the_episode_even_when_the_last_rating_is_recent(con, registry):
    rows = series("A", "ORS", [18, 22, 27])
    rows[-1]["ending"] = "planned"
    put(con, rows)
    put(con, series("B", "ORS", [18, 22, 27]))
    table = episodes(con, today=TODAY).set_index("client_id")
    assert table.loc["A", ["ending", "ending_source", "active", "closed_by"]].tolist() == [
        "planned",
        "export",
        False,
        "recorded",
    ]
    assert pd.Timestamp(table.loc["A", "ended_on"]).date() == TODAY
    assert "ended as planned" in table.loc["A", "episode_label"]
    assert bool(table.loc["B", "active"]) is True and pd.isna(table.loc["B", "ending"])
    frame = overview(con, registry).set_index("client_id")
    assert frame.loc["A", ["episode_ending", "episode_closed_by", "episode_active"]].tolist() == [
        "planned",
        "recorded",
        False,
    ]


def test_a_rating_after_a_recorded_ending_starts_a_new_episode_however_short_the_gap(con, registry):
    first = series("A", "ORS", [15, 20, 24], end=TODAY - timedelta(days=28))
    first[-1]["ending"] = "unplanned"
    put(con, first)
    put(con, series("A", "ORS", [12, 14], end=TODAY, first_number=4))  # 21 days later, far below 90
    table = episodes(con, today=TODAY)
    assert table["episode"].tolist() == [1, 2]
    assert plain(table["ending"]) == ["unplanned", None]
    assert table["active"].tolist() == [False, True]
    frame = overview(con, registry).sort_values("episode")
    # The new episode has its own intake (12), not the first episode's (15).
    assert frame["first_score"].tolist() == [15.0, 12.0]
    assert plain(frame["episode_ending"]) == ["unplanned", None]


def test_an_ending_recorded_in_the_app_closes_the_episode_and_can_be_taken_back(con, registry):
    put(con, series("A", "ORS", [18, 22, 27]))
    record_ending(con, "A", TODAY, "unplanned", recorded_by="kim")
    table = episodes(con, today=TODAY)
    assert table[["ending", "ending_source", "closed_by"]].iloc[0].tolist() == [
        "unplanned",
        "app",
        "recorded",
    ]
    detail = client_detail(con, registry, "A", today=TODAY, trajectory="default")
    assert detail["episodes"][0]["ending"] == "unplanned"
    record_ending(con, "A", TODAY, None)
    again = episodes(con, today=TODAY)
    assert pd.isna(again["ending"].iloc[0]) and bool(again["active"].iloc[0]) is True


def test_the_apps_record_wins_over_the_exports_bare_end(con):
    rows = series("A", "CORE10", [20, 16, 12])
    rows[-1]["ending"] = "ended"
    put(con, rows)
    assert episodes(con, today=TODAY)["ending"].tolist() == ["ended"]
    record_ending(con, "A", TODAY, "planned")
    assert episodes(con, today=TODAY)[["ending", "ending_source"]].iloc[0].tolist() == ["planned", "app"]


def test_only_planned_or_unplanned_can_be_recorded(con):
    with pytest.raises(ValueError, match="planned or unplanned"):
        record_ending(con, "A", TODAY, "finished")


def test_a_gap_set_for_one_client_in_the_app_changes_only_that_clients_episodes(con, registry):
    for client in ("A", "B"):
        put(con, series(client, "ORS", [15, 18], end=date(2026, 1, 5)))
        put(con, series(client, "ORS", [14, 20], end=TODAY, first_number=3))  # about 170 days later
    assert episodes(con, today=TODAY).groupby("client_id").size().to_dict() == {"A": 2, "B": 2}
    save_client_settings(con, "A", gap_days=365, age_group=None)
    assert client_settings(con, "A").gap_days == 365
    assert episodes(con, today=TODAY).groupby("client_id").size().to_dict() == {"A": 1, "B": 2}
    frame = overview(con, registry)
    assert frame.groupby("client_id").size().to_dict() == {"A": 1, "B": 2}
    save_client_settings(con, "A", gap_days=None, age_group=None)
    assert episodes(con, today=TODAY).groupby("client_id").size().to_dict() == {"A": 2, "B": 2}


def test_an_age_group_set_in_the_app_applies_where_the_export_has_none(con, registry):
    put(con, series("TEEN", "ORS", [20, 27.5]))
    put(con, series("STATED", "ORS", [20, 27.5], age_group="adult"))
    save_client_settings(con, "TEEN", gap_days=None, age_group="adolescent")
    save_client_settings(con, "STATED", gap_days=None, age_group="adolescent")
    frame = overview(con, registry).set_index("client_id")
    assert frame.loc[
        "TEEN", ["age_group", "age_group_source", "population", "cutoff", "change_category"]
    ].tolist() == [
        "adolescent",
        "client setting",
        "adolescent",
        28,
        "improved",
    ]
    # The export's own age group is the record and wins over the setting.
    assert frame.loc["STATED", ["age_group", "age_group_source", "cutoff"]].tolist() == [
        "adult",
        "export",
        25,
    ]


def test_settings_are_checked_before_they_are_saved(con):
    with pytest.raises(ValueError, match="between 1 and"):
        save_client_settings(con, "A", gap_days=0, age_group=None)
    with pytest.raises(ValueError, match="adult, adolescent, child"):
        save_client_settings(con, "A", gap_days=None, age_group="senior")
