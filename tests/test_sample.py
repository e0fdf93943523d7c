"""The synthetic sample caseload: canonical layout, realistic content, deterministic by seed."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from caseload.cli import main
from caseload.sample import (
    EXPORT_COLUMNS,
    ITEM_COLUMNS,
    generate_caseload,
    simulate_caseload,
    write_sample,
)

TODAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def sim():
    return simulate_caseload(40, 7, today=TODAY)


def test_the_same_seed_and_day_give_the_same_caseload(sim):
    again = simulate_caseload(40, 7, today=TODAY)
    pd.testing.assert_frame_equal(sim.ratings, again.ratings)
    other = simulate_caseload(40, 8, today=TODAY)
    assert not sim.ratings.equals(other.ratings)


def test_a_later_generation_day_shifts_the_dates_and_nothing_else(sim):
    later = simulate_caseload(40, 7, today=date(2027, 1, 1))
    shift = pd.Timestamp("2027-01-01") - pd.Timestamp(TODAY)
    assert (later.ratings["session_date"] - sim.ratings["session_date"] == shift).all()
    pd.testing.assert_frame_equal(
        later.ratings.drop(columns="session_date"), sim.ratings.drop(columns="session_date")
    )


def test_the_ratings_use_the_canonical_long_layout_without_the_truth(sim):
    assert list(sim.ratings.columns) == EXPORT_COLUMNS
    assert not {"latent_class", "eventual_category", "episode"} & set(sim.ratings.columns)
    assert sim.ratings["client_id"].str.fullmatch(r"S-\d{4}").all()
    assert sim.ratings["clinician_id"].str.fullmatch(r"T\d{2}").all()
    assert set(sim.ratings["measure"]) == {"ORS", "SRS", "PHQ9", "GAD7"}
    assert set(sim.ratings["rater"]) <= {"self", "parent"}
    key = ["client_id", "measure", "rater", "session_number"]
    assert not sim.ratings.duplicated(key).any()


def test_totals_are_the_exact_sum_of_items_within_each_measures_range(sim, registry):
    r = sim.ratings
    for code, group in r.groupby("measure"):
        m = registry[code]
        items = group[ITEM_COLUMNS[: m.n_items]]
        assert items.isna().all(axis=1).sum() < len(group)  # most ratings carry items
        assert group[ITEM_COLUMNS[m.n_items :]].isna().all().all()
        scored = items.notna().all(axis=1)
        sums = items[scored].sum(axis=1).round(1)
        assert np.allclose(sums, group.loc[scored, "total"])
        assert group["total"].between(m.min, m.max).all()
        assert ((items >= m.item_min) & (items <= m.item_max) | items.isna()).all().all()


def test_the_newest_sessions_are_recent_and_many_clients_are_active(sim):
    last = sim.ratings.groupby("client_id")["session_date"].max()
    assert last.max() >= pd.Timestamp(TODAY) - pd.Timedelta(days=14)
    assert last.max() <= pd.Timestamp(TODAY)
    assert (last >= pd.Timestamp(TODAY) - pd.Timedelta(days=30)).mean() >= 0.3


def test_a_small_sample_holds_every_kind_of_client_a_demo_needs(sim):
    c = sim.clients
    assert {"early_responder", "slow_improver", "non_responder", "deteriorator", "above_cutoff"} <= set(
        c["latent_class"]
    )
    assert (c["sessions_total"] == 1).sum() >= 1
    assert "unplanned" in set(c["ending"])
    assert c["has_phq"].any()
    r = sim.ratings
    ors_sessions = r[r.measure == "ORS"].groupby("client_id")["session_number"].apply(set)
    srs_sessions = r[r.measure == "SRS"].groupby("client_id")["session_number"].apply(set)
    missing_srs = sum(len(ors_sessions[c] - srs_sessions.get(c, set())) for c in ors_sessions.index)
    assert missing_srs >= 1
    first_ors = r[r.measure == "ORS"].sort_values("session_number").groupby("client_id")["total"].first()
    assert (first_ors >= 25).sum() >= 3


def test_clients_who_come_back_after_a_long_break_continue_their_session_numbers():
    sim = simulate_caseload(200, 3, today=TODAY)
    returning = sim.clients[sim.clients["episode"] == 2]["client_id"]
    assert len(returning) >= 3
    r = sim.ratings[sim.ratings.client_id.isin(returning) & (sim.ratings.measure == "ORS")]
    for _, g in r.groupby("client_id"):
        dates = g.sort_values("session_number")["session_date"]
        assert dates.is_monotonic_increasing
        assert dates.diff().max() > pd.Timedelta(days=90)


def test_a_large_caseload_lands_near_the_published_outcome_rates():
    clients = simulate_caseload(1500, 11, today=TODAY).clients
    rated = clients[clients["eventual_category"] != "not_enough_data"]
    share = rated["eventual_category"].value_counts(normalize=True)
    improved = share.get("improved", 0) + share.get("recovered", 0)
    worse = share.get("deteriorated", 0) + share.get("harmed", 0)
    assert 0.33 <= improved <= 0.55  # formats-and-norms 3.5: reliable improvement 40-55%
    assert 0.03 <= worse <= 0.10  # deterioration 5-10%
    assert 4.5 <= clients["sessions_total"].mean() <= 7.5  # OpenFIT 5.8 visits on average
    assert (clients["sessions_total"] >= 20).mean() < 0.05


def test_generate_caseload_keeps_the_truth_beside_the_frame():
    frame = generate_caseload(12, 5, today=TODAY)
    assert list(frame.columns) == EXPORT_COLUMNS
    truth = frame.attrs["clients"]
    assert set(truth["client_id"]) == set(frame["client_id"])
    assert (
        truth["eventual_category"]
        .isin(["recovered", "improved", "unchanged", "deteriorated", "harmed", "not_enough_data"])
        .all()
    )


def test_write_sample_writes_a_csv_and_an_xlsx_with_the_same_rows(tmp_path):
    paths = write_sample(tmp_path, n_clients=15, seed=2, today=TODAY)
    assert [p.name for p in paths] == ["sample_caseload.csv", "sample_caseload.xlsx"]
    csv = pd.read_csv(paths[0], dtype={"client_id": str}, parse_dates=["session_date"])
    xlsx = pd.read_excel(paths[1], engine="calamine")
    assert list(csv.columns) == EXPORT_COLUMNS == list(xlsx.columns)
    pd.testing.assert_frame_equal(csv, xlsx, check_dtype=False)
    again = write_sample(tmp_path / "again", n_clients=15, seed=2, today=TODAY)
    assert again[1].read_bytes() == paths[1].read_bytes()  # regenerating does not churn the committed file


def test_the_csv_writes_ors_with_one_decimal_and_phq9_as_whole_numbers(tmp_path):
    path = write_sample(tmp_path, n_clients=30, seed=4, today=TODAY)[0]
    lines = path.read_text().splitlines()
    total = lines[0].split(",").index("total")
    ors = next(line for line in lines if ",ORS," in line and ",,,,,," in line)
    assert ors.split(",")[total].count(".") == 1
    phq = next(line for line in lines if ",PHQ9," in line)
    assert "." not in phq.split(",", 7)[-1]


def test_endings_are_written_only_on_the_last_session_of_a_finished_course():
    sim = simulate_caseload(80, 5, today=TODAY)
    ratings, truth = sim.ratings, sim.clients
    ended = ratings[ratings["ending"].notna()]
    assert set(ended["ending"]) <= {"planned", "unplanned"} and len(ended) > 0
    for client, rows in ended.groupby("client_id"):
        mine = ratings[ratings["client_id"] == client]
        course = truth[truth["client_id"] == client]
        finished = course[~course["in_progress"]]
        # Each ending sits on the last session of a finished course and says how that course ended.
        for session, at in rows.groupby("session_number"):
            assert set(at["ending"]) <= set(finished["ending"])
            later = mine[mine["session_number"] > session]
            assert later.empty or (later["session_date"].min() - at["session_date"].max()).days > 90
    open_clients = set(truth.loc[truth["in_progress"], "client_id"]) - set(
        truth.loc[~truth["in_progress"], "client_id"]
    )
    assert not (set(ended["client_id"]) & open_clients)
    # Most finished courses say how they ended; some leave it to the clinician.
    finished = truth[~truth["in_progress"] & (truth["sessions_held"] > 0)]
    share = ended.groupby(["client_id", "session_number"]).ngroups / len(finished)
    assert 0.6 < share < 0.95


def test_caseload_sample_writes_the_files(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path), "--clients", "5", "--seed", "3"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "sample_caseload.csv"), str(tmp_path / "sample_caseload.xlsx")]
    assert (tmp_path / "sample_caseload.csv").stat().st_size > 0


def test_load_sample_imports_every_row_through_the_importer_labelled_as_synthetic(con, registry):
    from caseload.engine import caseload_overview
    from caseload.sample import SAMPLE_IMPORT_NAME, load_sample

    report = load_sample(con, registry, n_clients=12, seed=3, today=TODAY)
    expected = simulate_caseload(12, 3, today=TODAY).ratings
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (len(expected), len(expected), 0)
    assert con.execute("select file_name from imports").fetchall() == [(SAMPLE_IMPORT_NAME,)]
    assert "synthetic" in SAMPLE_IMPORT_NAME
    stored = con.execute("select rater, count(*) from ratings group by rater order by rater").fetchall()
    assert dict(stored) == expected["rater"].value_counts().to_dict()
    frame = caseload_overview(con, registry, today=TODAY)
    assert set(frame["client_id"]) == set(expected["client_id"])


@pytest.mark.parametrize("name", ["sample_caseload.csv", "sample_caseload.xlsx"])
def test_the_committed_sample_files_import_without_a_rejected_row(con, registry, name):
    from pathlib import Path

    from caseload.ingest import import_file

    path = Path(__file__).resolve().parent.parent / "sample_data" / name
    report = import_file(con, path, registry=registry)
    assert report.rows_read == report.rows_imported > 300
    assert report.rows_rejected == 0
