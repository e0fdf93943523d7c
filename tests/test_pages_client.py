"""The Client page: charts with cutoff, bands and alerts, measure and date filters, items, sessions, odd data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from _stores import odd_store, sample_store
from streamlit.testing.v1 import AppTest

from caseload.engine import caseload_overview, client_detail
from caseload.labels import status_label
from caseload.measures import load_measures
from caseload.store import connect

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    return sample_store(tmp_path_factory.mktemp("sample") / "sample.duckdb")


@pytest.fixture(scope="module")
def odd_db(tmp_path_factory) -> Path:
    return odd_store(tmp_path_factory.mktemp("odd") / "odd.duckdb")


@pytest.fixture(scope="module")
def sample_overview(sample_db) -> pd.DataFrame:
    con = connect(sample_db)
    try:
        return caseload_overview(con, load_measures())
    finally:
        con.close()


def _open(db: Path, monkeypatch, client: str | None = None, **params: str) -> AppTest:
    monkeypatch.setenv("CASELOAD_DB", str(db))
    monkeypatch.delenv("CASELOAD_MEASURES", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/client.py")
    if client is not None:
        at.query_params["client"] = client
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _charts(at: AppTest) -> list[dict]:
    """The Vega-Lite specs on the page, with the datasets Streamlit ships apart put back by name."""
    import pyarrow as pa

    specs = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec.setdefault("datasets", {}).update(
            {ds.name: pa.ipc.open_stream(ds.data.data).read_all().to_pylist() for ds in chart.proto.datasets}
        )
        specs.append(spec)
    return specs


def _rows(spec: dict, layer: dict) -> list[dict]:
    """A layer's data rows, inline or in the spec's named datasets."""
    data = layer["data"]
    return data["values"] if "values" in data else spec["datasets"][data["name"]]


def _titles(specs: list[dict]) -> list[str]:
    return [s["title"]["text"] if isinstance(s.get("title"), dict) else s.get("title") for s in specs]


def _texts(at: AppTest) -> str:
    return "\n".join(str(x.value) for x in [*at.markdown, *at.caption, *at.info, *at.warning, *at.success])


def _several_measures(overview: pd.DataFrame) -> str:
    counts = overview[overview["sessions"] > 1].groupby(["client_id", "episode"])["measure"].nunique()
    return counts[counts > 1].index[0][0]


def test_without_a_client_the_page_asks_for_one(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch)
    assert not at.exception
    assert "Choose a client" in at.info[0].value
    assert not at.get("vega_lite_chart")


def test_an_unknown_client_in_the_url_is_explained(sample_db, monkeypatch):
    at = _open(sample_db, monkeypatch, "NO-SUCH")
    assert not at.exception
    assert "no client “NO-SUCH”" in at.warning[0].value


def test_a_client_from_the_url_shows_status_outcome_and_alliance_charts(
    sample_db, sample_overview, monkeypatch
):
    row = sample_overview[(sample_overview["sessions"] >= 3) & (sample_overview["measure"] == "ORS")].iloc[0]
    at = _open(sample_db, monkeypatch, row["client_id"])
    assert not at.exception
    assert at.selectbox(key="client").value == row["client_id"]
    specs = _charts(at)
    titles = _titles(specs)
    assert "ORS — Outcome Rating Scale" in titles
    assert "SRS — Session Rating Scale" in titles
    outcome = specs[titles.index("ORS — Outcome Rating Scale")]
    rules = [
        r["value"]
        for layer in outcome["layer"]
        if (layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]) == "rule"
        and "color" in layer.get("encoding", {})
        for r in _rows(outcome, layer)
    ]
    assert rules == [25]  # the adult ORS cutoff from the registry
    assert any("default model" in line or "calibrated" in line for line in outcome["title"]["subtitle"])
    assert status_label(row["status"]) in _texts(at)


def test_alerts_are_listed_with_the_rule_that_fired_and_why(sample_db, sample_overview, monkeypatch):
    flagged = sample_overview[sample_overview["alerts"].map(len) > 0].iloc[0]
    at = _open(sample_db, monkeypatch, flagged["client_id"])
    text = _texts(at)
    con = connect(sample_db)
    try:
        detail = client_detail(con, load_measures(), flagged["client_id"])
    finally:
        con.close()
    episode = detail["episodes"][-1]
    for alert in episode["alerts"]:
        assert alert["message"] in text
        assert f"Rule `{alert['rule']}`" in text
    assert f"Alerts ({len(episode['alerts'])})" in [h.value for h in at.subheader]


def test_the_measure_switcher_changes_the_outcome_chart(sample_db, sample_overview, monkeypatch):
    client = _several_measures(sample_overview)
    at = _open(sample_db, monkeypatch, client)
    switch = at.segmented_control(key="measure")
    options = list(switch.options)
    assert len(options) > 1
    first_titles = _titles(_charts(at))
    switch.set_value(options[1]).run()
    assert not at.exception
    titles = _titles(_charts(at))
    assert titles != first_titles
    assert any(t.startswith(str(options[1]).split(" ")[0]) for t in titles)


def test_the_measure_comes_from_the_url(sample_db, sample_overview, monkeypatch):
    client = _several_measures(sample_overview)
    measures = sorted(sample_overview[sample_overview["client_id"] == client]["measure"].unique())
    at = _open(sample_db, monkeypatch, client, measure=measures[-1])
    assert any(t.startswith(measures[-1]) for t in _titles(_charts(at)))


def test_a_date_range_limits_the_points_shown(sample_db, sample_overview, monkeypatch):
    row = sample_overview[(sample_overview["sessions"] >= 4) & (sample_overview["measure"] == "ORS")].iloc[0]
    at = _open(sample_db, monkeypatch, row["client_id"])
    widget = next(w for w in at.date_input if w.key.startswith("client_dates"))
    start = pd.Timestamp(row["latest_date"]).date()
    widget.set_value((start, start)).run()
    assert not at.exception
    outcome = next(s for s in _charts(at) if s["title"]["text"].startswith("ORS"))
    points = next(
        layer
        for layer in outcome["layer"]
        if (layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]) == "point"
    )
    assert len(_rows(outcome, points)) == 1


def test_item_scores_and_the_session_table_are_shown(sample_db, sample_overview, monkeypatch):
    row = sample_overview[(sample_overview["sessions"] >= 3) & (sample_overview["measure"] == "ORS")].iloc[0]
    at = _open(sample_db, monkeypatch, row["client_id"])
    titles = _titles(_charts(at))
    assert "ORS items by session" in titles
    assert "SRS items" not in titles  # only the open tab is drawn
    assert [t.label for t in at.tabs] == ["ORS", "SRS"]
    sessions = next(d.value for d in at.dataframe if "Session" in d.value.columns)  # not the episode list
    assert {"Session", "Date", "ORS", "SRS"} <= set(sessions.columns)
    assert len(sessions) >= row["sessions"]


def test_the_alliance_items_tab_draws_small_multiples_when_opened(sample_db, sample_overview, monkeypatch):
    row = sample_overview[(sample_overview["sessions"] >= 3) & (sample_overview["measure"] == "ORS")].iloc[0]
    at = _open(sample_db, monkeypatch, row["client_id"])
    at.session_state[f"items_{row['client_id']}_{row['episode']}"] = "SRS"
    at.run()
    assert not at.exception
    titles = _titles(_charts(at))
    assert "SRS items" in titles and "ORS items by session" not in titles


def test_the_page_ends_with_preparing_the_next_session(sample_db, sample_overview, monkeypatch):
    at = _open(sample_db, monkeypatch, sample_overview.iloc[0]["client_id"])
    assert "Prepare the next session" in [h.value for h in at.subheader]


def test_a_client_with_one_rating_gets_a_chart_with_one_point_and_a_note(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-ONE")
    assert not at.exception
    assert "One rating so far" in _texts(at)
    outcome = _charts(at)[0]
    assert outcome["title"]["text"].startswith("ORS")
    assert "No alliance ratings (SRS)" in _texts(at)


def test_a_client_without_alliance_ratings_gets_a_note_instead_of_an_empty_chart(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-NOSRS")
    assert not at.exception
    assert _titles(_charts(at)) == ["ORS — Outcome Rating Scale"]
    assert "No alliance ratings (SRS)" in _texts(at)


def test_a_client_with_alliance_ratings_only_has_no_empty_outcome_chart(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-SRSONLY")
    assert not at.exception
    assert "No outcome ratings in this episode" in _texts(at)
    assert _titles(_charts(at)) == ["SRS — Session Rating Scale"]


def test_undated_sessions_are_charted_without_a_date_filter(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-NODATE")
    assert not at.exception
    assert not [w for w in at.date_input if w.key.startswith("client_dates")]
    assert _titles(_charts(at))[0].startswith("ORS")


def test_a_second_episode_is_shown_by_default_and_the_first_can_be_chosen(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-TWOEP")
    assert not at.exception
    episode = at.selectbox(key="episode")
    assert episode.value == "2"
    assert "No alliance ratings" in _texts(at)
    episode.select("1").run()
    assert not at.exception
    assert "SRS — Session Rating Scale" in _titles(_charts(at))


def test_a_symptom_measure_with_items_gets_a_heat_map(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-PHQ")
    assert not at.exception
    titles = _titles(_charts(at))
    assert titles[0].startswith("PHQ9")
    assert "PHQ9 items by session" in titles


def test_today_is_not_needed_to_read_a_closed_episode(odd_db, monkeypatch):
    at = _open(odd_db, monkeypatch, "C-TWOEP", episode="1")
    assert not at.exception
    assert date.today().isoformat() not in _texts(at)
