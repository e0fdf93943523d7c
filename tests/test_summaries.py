"""The whole-store overview reads per-client summaries kept beside the store. After every kind of change a
therapist can make (import, undo, a recorded ending, a client's settings, the site's rules) it must equal the
overview computed straight from the ratings, and it must recompute only the clients that changed."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from _stores import odd_csv

from caseload import engine, frames, summaries
from caseload.alerts import AlertConfig
from caseload.client_settings import record_ending, save_client_settings
from caseload.episodes import GAP_DAYS_SETTING
from caseload.ingest import import_file
from caseload.ingest.load import undo_import
from caseload.sample import load_sample
from caseload.store import connect, set_setting


@pytest.fixture
def sample(registry):
    con = connect(":memory:")
    load_sample(con, registry)
    yield con
    con.close()


@pytest.fixture
def recomputed(monkeypatch):
    """The client ids each summary refresh recomputes, one list per refresh that recomputed any."""
    seen: list[list[str]] = []
    fill = engine._fill_summaries

    def spy(con, clients, tables, create, **kw):
        every = "(select distinct client_id from ratings)"  # None: every client, rebuilt
        seen.append(sorted(r[0] for r in con.execute(f"select client_id from {clients or every}").fetchall()))
        return fill(con, clients, tables, create, **kw)

    monkeypatch.setattr(engine, "_fill_summaries", spy)
    return seen


def from_ratings(con, registry, monkeypatch, **kw) -> pd.DataFrame:
    """The overview computed from the ratings, without the summaries."""
    with monkeypatch.context() as m:
        m.setattr(summaries, "can_cache", lambda con: False)
        return engine.caseload_overview(con, registry, **kw)


def assert_same_overview(con, registry, monkeypatch, **kw) -> None:
    cached = engine.caseload_overview(con, registry, **kw)
    assert len(cached) > 0
    pd.testing.assert_frame_equal(cached, from_ratings(con, registry, monkeypatch, **kw))


def test_the_first_whole_store_overview_builds_the_summaries_and_equals_the_one_from_ratings(
    sample, registry, monkeypatch, recomputed
):
    assert_same_overview(sample, registry, monkeypatch)
    clients = sorted(r[0] for r in sample.execute("select distinct client_id from ratings").fetchall())
    assert recomputed == [clients]
    assert_same_overview(sample, registry, monkeypatch)
    assert len(recomputed) == 1  # nothing changed: nothing recomputed


def test_an_import_recomputes_only_the_clients_in_the_file_and_an_undo_only_those_again(
    sample, registry, monkeypatch, recomputed
):
    engine.caseload_overview(sample, registry)
    totals, items = odd_csv()
    report = import_file(sample, totals, file_name="odd_totals.csv", registry=registry)
    assert report.rows_rejected == 0
    assert_same_overview(sample, registry, monkeypatch)
    odd = ["C-NODATE", "C-NOSRS", "C-ONE", "C-SRSONLY", "C-TWOEP"]
    assert recomputed[-1] == odd
    undo_import(sample, report.import_id)
    assert_same_overview(sample, registry, monkeypatch)
    assert recomputed[-1] == odd  # their summaries are dropped, as their ratings are
    assert not sample.execute(
        f"select count(*) from {summaries.table('episodes')} where client_id like 'C-%'"
    ).fetchall()[0][0]


def test_a_recorded_ending_and_a_clients_gap_setting_change_that_clients_episodes_only(
    sample, registry, monkeypatch, recomputed
):
    engine.caseload_overview(sample, registry)
    client, last = sample.execute(
        "select client_id, max(session_date) from ratings group by client_id order by count(*) desc limit 1"
    ).fetchall()[0]
    middle = sample.execute(
        "select session_date from ratings where client_id = ? order by session_date limit 1 offset 6",
        [client],
    ).fetchall()[0][0]
    episodes = len(engine.client_detail(sample, registry, client)["episodes"])
    record_ending(sample, client, middle, "planned")
    assert_same_overview(sample, registry, monkeypatch)
    assert recomputed[-1] == [client]
    assert len(engine.client_detail(sample, registry, client)["episodes"]) == episodes + 1

    other = sample.execute("select min(client_id) from ratings where client_id <> ?", [client]).fetchall()[0][
        0
    ]
    save_client_settings(sample, other, gap_days=3, age_group="adolescent")
    assert_same_overview(sample, registry, monkeypatch)
    assert recomputed[-1] == [other]


def test_a_change_of_the_sites_rules_or_alert_settings_rebuilds_every_summary(
    sample, registry, monkeypatch, recomputed
):
    engine.caseload_overview(sample, registry)
    n = sample.execute("select count(distinct client_id) from ratings").fetchall()[0][0]
    set_setting(sample, GAP_DAYS_SETTING, "20")
    assert_same_overview(sample, registry, monkeypatch)
    assert len(recomputed) == 2 and len(recomputed[-1]) == n
    config = AlertConfig(long_gap_days=10, sudden_loss_pct=0.1)
    assert_same_overview(sample, registry, monkeypatch, alert_config=config)
    assert len(recomputed) == 3 and len(recomputed[-1]) == n


def test_a_later_rating_of_a_stored_client_is_seen_at_once(sample, registry, monkeypatch):
    engine.caseload_overview(sample, registry)
    client, last, number = sample.execute(
        "select client_id, max(session_date), max(session_number) from ratings where measure = 'ORS'"
        " group by client_id order by client_id limit 1"
    ).fetchall()[0]
    before = engine.caseload_overview(sample, registry)
    row = (
        "client_id,clinician_id,session_date,session_number,measure,total\n"
        f"{client},T01,{(last + timedelta(days=1)).isoformat()},{number + 1},ORS,39.5\n"
    )
    import_file(sample, row.encode(), file_name="later.csv", registry=registry)
    after = engine.caseload_overview(sample, registry)
    mine = after[(after["client_id"] == client) & (after["measure"] == "ORS")].iloc[-1]
    was = before[(before["client_id"] == client) & (before["measure"] == "ORS")].iloc[-1]
    assert mine["sessions"] == was["sessions"] + 1
    assert mine["latest_score"] == 39.5
    pd.testing.assert_frame_equal(after, from_ratings(sample, registry, monkeypatch))


def test_a_read_only_store_is_read_from_its_ratings(tmp_path, registry):
    path = tmp_path / "store.duckdb"
    con = connect(path)
    load_sample(con, registry)
    expected = engine.caseload_overview(con, registry, today=date.today())
    con.close()
    ro = connect(path, read_only=True)
    assert not summaries.can_cache(ro)
    pd.testing.assert_frame_equal(engine.caseload_overview(ro, registry, today=date.today()), expected)
    ro.close()


def test_sudden_losses_kept_with_the_summaries_equal_those_found_from_the_ratings(con, registry, monkeypatch):
    from _engine_store import TODAY, put

    from caseload.sample import SampleConfig, simulate_caseload, store_rows

    sim = simulate_caseload(250, 21, today=TODAY, config=SampleConfig(sessions_mean=12.0))
    rows = store_rows(sim.ratings, registry, 1)
    put(con, rows.drop(columns=["total_source", "import_id", "source_row"]).to_dict("records"))
    cached = engine.caseload_overview(con, registry, today=TODAY)
    losses = [a for alerts in cached["alerts"] for a in alerts if a["rule"] == "sudden_loss"]
    assert len(losses) >= 3
    assert con.execute(f"select count(*) from {summaries.table('losses')}").fetchall()[0][0] > 0
    pd.testing.assert_frame_equal(cached, from_ratings(con, registry, monkeypatch, today=TODAY))
    lean = engine.caseload_overview(con, registry, today=TODAY, alert_lists=False)
    direct = from_ratings(con, registry, monkeypatch, today=TODAY, alert_lists=False)
    pd.testing.assert_frame_equal(lean, direct)


def test_frames_read_through_arrow_have_the_values_and_dtypes_duckdb_gives_pandas():
    con = connect(":memory:")
    sql = """select * from (values
        (1, true, 'a', null::varchar, date '2020-01-02', [1.5, 2.0]::double[], [1, 2], 7::integer, 2.5, 9::bigint),
        (null, null, null, null, null, null, null, 8::integer, null, 10::bigint)
    ) t(i, b, s, none_text, d, scores, sessions, n, f, big)"""
    pd.testing.assert_frame_equal(frames.frame_of(con, sql), con.execute(sql).df())
    empty = f"select * from ({sql}) where false"
    pd.testing.assert_frame_equal(frames.frame_of(con, empty), con.execute(empty).df())


def test_the_ratings_enum_columns_are_read_as_the_text_duckdb_gives_for_strings():
    con = connect(":memory:")
    con.execute(
        "insert into ratings (client_id, session_number, measure, rater, total, total_source, import_id, ending)"
        " values ('C1', 1, 'ORS', 'parent', 20, 'items', 1, 'planned'), ('C1', 2, 'ORS', 'self', 21, 'total', 1, null)"
    )
    columns = "client_id, age_group, rater, total_source, ending"
    read = frames.frame_of(con, f"select {columns} from ratings order by session_number")
    as_text = con.execute(
        "select client_id, age_group::varchar as age_group, rater::varchar as rater,"
        " total_source::varchar as total_source, ending::varchar as ending from ratings order by session_number"
    ).df()
    assert con.execute(f"select {columns} from ratings").df()["rater"].dtype == "category"  # what .df() gives
    pd.testing.assert_frame_equal(read, as_text)
    assert read["ending"].tolist()[0] == "planned" and pd.isna(read["ending"].tolist()[1])
    assert read["age_group"].tolist() == [None, None]


def test_a_one_off_overview_can_skip_the_summaries_and_gives_the_same_rows(sample, registry):
    lean = engine.caseload_overview(sample, registry, keep_summaries=False)
    assert not sample.execute(
        f"select count(*) from duckdb_tables() where database_name = '{summaries.CACHE_DB}'"
        " and table_name like 'summary_%'"
    ).fetchall()[0][0]
    pd.testing.assert_frame_equal(lean, engine.caseload_overview(sample, registry))
