"""The engine's output on a generated caseload stays exactly what it was before the speed work.

The expected output is a SNAPSHOT (tests/golden/engine_overview.json) computed from the engine as it stood
before the overview was made faster (commit 501321c): it pins behaviour during a refactor, it does not prove
the figures right (the other engine and alert tests do that). Regenerate it only for an intended change of
results: ``CASELOAD_UPDATE_GOLDEN=1 pytest tests/test_engine_golden.py``, and say why in the commit.
"""

from __future__ import annotations

import json
import math
import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caseload.engine import caseload_overview, client_detail
from caseload.ingest import import_file
from caseload.sample import generate_caseload, sample_csv_bytes
from caseload.trajectories import CalibrationRules

GOLDEN = Path(__file__).resolve().parent / "golden" / "engine_overview.json"
TODAY = date(2026, 6, 30)
UPDATE = os.environ.get("CASELOAD_UPDATE_GOLDEN") == "1"


def _canonical(value):
    """JSON-safe and exactly comparable: NaN as the string 'NaN', dates as ISO text, numpy as Python."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in list(value)]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, date)):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return "NaN" if math.isnan(value) else float(value)
    return value


def _frame_snapshot(frame: pd.DataFrame) -> dict:
    return {
        "columns": list(frame.columns),
        "dtypes": {c: str(frame[c].dtype) for c in frame.columns},
        "rows": [
            {c: _canonical(v) for c, v in zip(frame.columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)
        ],
    }


@pytest.fixture(scope="module")
def store(registry):
    from caseload.store import connect

    con = connect(":memory:")
    ratings = generate_caseload(300, 20260630, today=TODAY)
    report = import_file(
        con, sample_csv_bytes(ratings), file_name="golden.csv", registry=registry, today=TODAY
    )
    assert report.rows_rejected == 0
    yield con
    con.close()


def _outputs(con, registry) -> dict:
    clinician = con.execute("select min(clinician_id) from ratings").fetchall()[0][0]
    cases = {
        "auto": caseload_overview(con, registry, today=TODAY),
        "default": caseload_overview(con, registry, today=TODAY, trajectory="default"),
        "calibrated_small_n": caseload_overview(
            con, registry, today=TODAY, calibration_rules=CalibrationRules(min_n=5)
        ),
        "clinician_active": caseload_overview(
            con, registry, today=TODAY, clinician_id=clinician, active_only=True
        ),
    }
    out = {name: _frame_snapshot(frame) for name, frame in cases.items()}
    whole = cases["auto"]
    busiest = whole.sort_values(["sessions", "client_id"], ascending=[False, True])["client_id"].iloc[0]
    picks = sorted({str(busiest), *whole["client_id"].drop_duplicates().sort_values().head(3).tolist()})
    out["client_detail"] = {c: _canonical(client_detail(con, registry, c, today=TODAY)) for c in picks}
    return out


def test_the_overview_and_client_detail_match_the_snapshot_taken_before_the_speed_work(store, registry):
    actual = json.loads(json.dumps(_outputs(store, registry)))
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=None, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert actual.keys() == expected.keys()
    for name in ("auto", "default", "calibrated_small_n", "clinician_active"):
        got, want = actual[name], expected[name]
        assert got["columns"] == want["columns"]
        assert got["dtypes"] == want["dtypes"]
        assert len(got["rows"]) == len(want["rows"]), name
        for i, (g, w) in enumerate(zip(got["rows"], want["rows"], strict=True)):
            for column in want["columns"]:
                assert g[column] == w[column], (name, i, w["client_id"], column)
    assert actual["client_detail"] == expected["client_detail"]


def test_the_snapshot_covers_the_alert_rules_and_both_band_models():
    """A snapshot without these would pin too little to trust the refactor."""
    expected = json.loads(GOLDEN.read_text())
    rows = expected["auto"]["rows"] + expected["calibrated_small_n"]["rows"]
    rules = {a["rule"] for r in rows for a in r["alerts"]}
    assert {"off_track", "at_risk", "no_reliable_change", "suspicious_intake", "risk_item"} <= rules
    assert {r["expected_model"] for r in rows} >= {"default", "calibrated"}
    assert {r["status"] for r in rows} >= {"on_track", "at_risk", "off_track", "not_enough_data"}


def test_without_alert_lists_the_overview_is_the_same_but_for_the_lists(store, registry):
    """The Caseload and Supervision pages ask for the top alert only; every other figure must not move."""
    full = caseload_overview(store, registry, today=TODAY)
    lean = caseload_overview(store, registry, today=TODAY, alert_lists=False)
    assert list(lean.columns) == list(full.columns)
    assert lean["alerts"].isna().all()
    assert full["alert_count"].tolist() == [len(a) for a in full["alerts"]]
    tops = [a[0]["message"] if a else None for a in full["alerts"]]
    assert [None if pd.isna(t) else t for t in full["top_alert"]] == tops
    assert (full["alert_count"] > 1).sum() > 50, "too few rows with several alerts to test the ranking"
    for column in full.columns.drop("alerts"):
        pd.testing.assert_series_equal(lean[column], full[column], check_names=True)
