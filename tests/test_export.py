"""Getting every rating back out: the export re-imports into an empty store as the same caseload."""

from datetime import date

import pandas as pd
import pytest
from openpyxl import load_workbook

from caseload import store
from caseload.export import export_csv_bytes, export_frame, export_xlsx_bytes, write_export
from caseload.ingest import import_file
from caseload.sample import generate_caseload, sample_csv_bytes

TODAY = date(2026, 11, 1)


def _store_with_sample(registry, n_clients=25, seed=3):
    con = store.connect(":memory:")
    ratings = generate_caseload(n_clients, seed, today=TODAY)
    report = import_file(
        con, sample_csv_bytes(ratings), file_name="sample.csv", registry=registry, today=TODAY
    )
    assert report.rows_rejected == 0
    return con


def _comparable(con) -> pd.DataFrame:
    frame = export_frame(con)
    return frame.sort_values(["client_id", "measure", "rater", "session_date", "session_number"]).reset_index(
        drop=True
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_reimported_into_an_empty_store_reproduces_every_rating(registry, tmp_path, suffix):
    con = _store_with_sample(registry)
    out = tmp_path / f"everything{suffix}"
    n = write_export(con, out)
    assert n == store.counts(con)["ratings"] > 0

    fresh = store.connect(":memory:")
    report = import_file(fresh, out, registry=registry, today=TODAY)
    assert report.rows_rejected == 0 and report.rows_duplicate == 0
    pd.testing.assert_frame_equal(_comparable(con), _comparable(fresh))


def test_the_export_keeps_items_episodes_raters_and_age_groups(registry):
    con = _store_with_sample(registry)
    frame = export_frame(con)
    assert {"episode_id", "rater", "age_group", "item_1", "total"} <= set(frame.columns)
    assert frame["episode_id"].notna().all()
    ors = frame[frame["measure"] == "ORS"]
    items = ors[["item_1", "item_2", "item_3", "item_4"]].astype(float)
    with_items = items.notna().all(axis=1)
    assert with_items.any()
    assert (items[with_items].sum(axis=1).round(1) == ors.loc[with_items, "total"].round(1)).all()


def test_text_that_a_spreadsheet_would_run_is_neutralised_in_csv_and_xlsx():
    frame = pd.DataFrame(
        {
            "client_id": ['=HYPERLINK("http://x")', "+1", "@SUM(A1)", "C-1"],
            "clinician_id": ["-T1", "T2", "T3", "T4"],
            "session_date": [date(2026, 1, 5)] * 4,
            "measure": ["ORS"] * 4,
            "total": [-1.0, 20.0, 21.0, 22.0],
        }
    )
    text = export_csv_bytes(frame).decode()
    assert "'=HYPERLINK" in text and "'@SUM" in text and "'-T1" in text
    assert ",-1.0" in text  # numbers are not text: left alone
    assert "\n+1,T2," in text  # nor is text that is just a signed number: a spreadsheet reads it as one
    wb = load_workbook(__import__("io").BytesIO(export_xlsx_bytes(frame)))
    values = [c.value for c in wb["ratings"]["A"]][1:]
    assert values == ['\'=HYPERLINK("http://x")', "+1", "'@SUM(A1)", "C-1"]
    assert wb["ratings"].freeze_panes == "A2"


def test_an_empty_store_exports_a_header_only(tmp_path):
    con = store.connect(":memory:")
    assert write_export(con, tmp_path / "empty.csv") == 0
    assert (tmp_path / "empty.csv").read_text().startswith("client_id,")


def test_an_unknown_extension_is_refused(tmp_path):
    con = store.connect(":memory:")
    with pytest.raises(ValueError, match="csv or .xlsx"):
        write_export(con, tmp_path / "x.pdf")


def test_endings_and_age_groups_set_in_the_app_travel_with_the_export(registry, tmp_path):
    from caseload.client_settings import record_ending, save_client_settings
    from caseload.episodes import episodes

    con = _store_with_sample(registry)
    table = episodes(con, today=TODAY)
    open_one = table[table["ending"].isna()].iloc[0]
    record_ending(con, open_one["client_id"], pd.Timestamp(open_one["end_date"]).date(), "unplanned")
    adult = con.execute("select min(client_id) from ratings where age_group = 'adult'").fetchall()[0][0]
    con.execute("update ratings set age_group = null where client_id = ?", [adult])
    save_client_settings(con, adult, gap_days=None, age_group="adolescent")
    out = tmp_path / "everything.csv"
    write_export(con, out)

    fresh = store.connect(":memory:")
    report = import_file(fresh, out, registry=registry, today=TODAY)
    assert report.rows_rejected == 0
    columns = ["client_id", "episode", "start_date", "end_date", "sessions", "ending", "active"]
    before, after = episodes(con, today=TODAY)[columns], episodes(fresh, today=TODAY)[columns]
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
    mine = episodes(fresh, today=TODAY, client_id=open_one["client_id"])
    assert mine["ending"].tolist()[-1] == "unplanned"
    ages = fresh.execute("select distinct age_group from ratings where client_id = ?", [adult]).fetchall()
    assert ages == [("adolescent",)]
