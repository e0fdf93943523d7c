"""Every example export imports through `caseload import --json` with exactly what its manifest states.

The manifest (../shared/data/exports/manifest.json) and expected_records.csv list, per file, the data rows,
imported / duplicate / rejected rows, every valid rating (client, measure, session, date, total, items),
the identifier columns and the cases where more than one behaviour is defensible ('ambiguous').

Our decisions for the ambiguous cases, checked here:
- rows that carry no rating at all (OpenFIT row with both measures skipped, REDCap enrolment events and
  empty session events) are *rejected* with reason 'no_scores' (reported, never a 0, not fatal for --strict);
- CORE-10 rows with one blank item are *imported* with a prorated total (sum x 10/9, total_source 'prorated',
  the blank item stored as null), because the registry allows one missing CORE-10 item with mean proration.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import duckdb
import pytest

from caseload.cli import main
from caseload.store import connect

MANIFEST_PATH = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "exports" / "manifest.json"
)


def _manifest_files() -> list[str]:
    if not MANIFEST_PATH.is_file():
        return []
    return [f["file"] for f in json.loads(MANIFEST_PATH.read_text())["files"]]


@pytest.fixture(scope="module")
def exports(shared_data) -> Path:
    return shared_data / "exports"


@pytest.fixture(scope="module")
def manifest(exports) -> dict:
    return json.loads((exports / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def expected_records(exports) -> dict[str, list[dict]]:
    by_file: dict[str, list[dict]] = {}
    with (exports / "expected_records.csv").open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            by_file.setdefault(rec["file"], []).append(rec)
    return by_file


def run_import(capsys, db: Path, *args: str) -> tuple[int, list[dict], str]:
    """Run `caseload import --json ...` in-process; returns exit code, reports and stderr."""
    code = main(["import", "--db", str(db), "--json", *args])
    out = capsys.readouterr()
    reports = json.loads(out.out) if out.out.strip() else []
    return code, reports, out.err


def stored_records(db: Path, import_id: int) -> dict[tuple[str, str, int], dict]:
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            """select client_id, measure, session_number, session_date, total, items, total_source, rater
               from ratings where import_id = ?""",
            [import_id],
        ).fetchall()
    finally:
        con.close()
    out = {}
    for client, measure, session, day, total, items, source, rater in rows:
        key = (client, measure, int(session))
        assert key not in out, f"rating {key} stored twice"
        out[key] = {"date": day.isoformat(), "total": total, "items": items, "source": source, "rater": rater}
    return out


def _same_total(measure: str, ours: float, theirs: float) -> bool:
    if measure in ("ORS", "SRS", "CORS"):
        return round(ours, 1) == round(theirs, 1)
    return math.isclose(ours, theirs, abs_tol=1e-4)


def _expected_items(text: str) -> list[float | None] | None:
    if not text:
        return None
    return [float(v) if v != "" else None for v in text.split("|")]


@pytest.mark.parametrize("file_name", _manifest_files())
def test_each_example_export_imports_exactly_as_its_manifest_states(
    file_name, exports, manifest, expected_records, tmp_path, capsys
):
    entry = next(f for f in manifest["files"] if f["file"] == file_name)
    exp = entry["expected"]
    db = tmp_path / "store.duckdb"
    args = [str(exports / file_name)]
    if any(
        f.get("kind") in ("name", "email", "date_of_birth") for f in entry.get("should_refuse_or_flag", [])
    ):
        args.append("--drop-identifiers")
    code, (report,), err = run_import(capsys, db, *args)
    assert code == 0, err
    assert not report["refused"], report["refused_reason"]

    # Every data row is accounted for, exactly once.
    assert report["rows_read"] == exp["data_rows"]
    assert report["rows_imported"] + report["rows_duplicate"] + report["rows_rejected"] == report["rows_read"]
    ambiguous = {a["row"] for a in exp["ambiguous_rows"]}
    rejected = {e["row"] for e in report["errors"] if e["row_outcome"] == "rejected"}
    assert len(rejected) == report["rows_rejected"]
    assert rejected - ambiguous == {r["row"] for r in exp["rejected"]}
    assert report["rows_duplicate"] == exp["rows_duplicate"]
    assert report["rows_imported"] == exp["rows_imported"] + len(ambiguous - rejected)

    # Rejected rows are reported at the column and value the manifest names.
    for want in exp["rejected"]:
        got = [e for e in report["errors"] if e["row"] == want["row"]]
        assert any(
            e["column"] == want["column"] and (e["value"] or "") == (want["value"] or "") for e in got
        ), (
            want,
            got,
        )
        assert all(e["line"] == want["line"] for e in got)
        assert all(e["message"] for e in got)
    for want in exp["errors_in_imported_rows"]:
        got = [e for e in report["errors"] if e["row"] == want["row"] and e["column"] == want["column"]]
        assert got and got[0]["reason"] == want["reason"] and got[0]["row_outcome"] == "imported"

    # The stored ratings are exactly the valid records (plus ambiguous ones we chose to keep, checked too).
    stored = stored_records(db, report["import_id"])
    valid, maybe = {}, {}
    for rec in expected_records[file_name]:
        key = (rec["client_id"], rec["measure"], int(rec["session_number"]))
        (valid if rec["status"] == "valid" else maybe)[key] = rec
    assert set(valid) <= set(stored), f"missing: {sorted(set(valid) - set(stored))[:10]}"
    assert set(stored) <= set(valid) | set(maybe), (
        f"unexpected: {sorted(set(stored) - set(valid) - set(maybe))[:10]}"
    )
    assert report["records_added"] == len(stored)
    for key, ours in stored.items():
        theirs = valid.get(key) or maybe[key]
        assert ours["date"] == theirs["session_date"], key
        assert ours["rater"] == "self"
        items = _expected_items(theirs["items"])
        assert (ours["items"] is None) == (items is None), key
        if items is not None:
            assert ours["items"] == items, key
        if theirs["status"] == "valid":
            assert _same_total(key[1], ours["total"], float(theirs["total"])), (key, ours, theirs)
            assert ours["source"] == ("total" if theirs["source"] == "total" else "items"), key
        else:  # an ambiguous CORE-10 row kept: prorated, never the plain 9-item sum
            note = json.loads(theirs["note"])
            assert ours["source"] == "prorated"
            assert math.isclose(ours["total"], note["prorated_10_over_9"], abs_tol=1e-4)
    kept_ambiguous = set(stored) & set(maybe)
    assert len(stored) == exp["valid_records"] + len(kept_ambiguous)
    counts = {}
    for _c, measure, _s in set(valid):
        counts[measure] = counts.get(measure, 0) + 1
    assert counts == exp["valid_records_by_measure"]

    # Clients and sessions per client and measure.
    assert sorted({k[0] for k in stored}) == sorted(exp["client_ids"])
    per_client: dict[str, dict[str, int]] = {}
    for client, measure, _s in stored:
        per_client.setdefault(client, {}).setdefault(measure, 0)
        per_client[client][measure] += 1
    assert per_client == exp.get("sessions_per_client_if_prorated", exp["sessions_per_client"])
    for client, measures in exp["sample_clients"].items():
        for measure, sessions in measures.items():
            for s in sessions:
                ours = stored[(client, measure, s["session"])]
                assert ours["date"] == s["date"]
                if s["total"] is not None:  # None: an ambiguous CORE-10 row, checked above
                    assert _same_total(measure, ours["total"], s["total"])

    # Importing the same file again changes nothing: every imported row is now a duplicate.
    code, (again,), err = run_import(capsys, db, *args)
    assert code == 0, err
    assert again["records_added"] == 0
    assert again["rows_imported"] == 0
    assert again["rows_duplicate"] == report["rows_imported"] + report["rows_duplicate"]
    assert again["rows_rejected"] == report["rows_rejected"]


def test_the_later_overlapping_export_adds_only_its_new_ratings(exports, manifest, tmp_path, capsys):
    exp = next(f for f in manifest["files"] if f["file"] == "caseload_export_2026-06.csv")["expected"]
    after = exp["after_importing_source_file"]
    db = tmp_path / "store.duckdb"
    run_import(capsys, db, str(exports / "caseload_export_2026-03.csv"))
    code, (report,), _err = run_import(capsys, db, str(exports / "caseload_export_2026-06.csv"))
    assert code == 0
    assert report["rows_duplicate"] == after["rows_duplicate"]
    assert report["rows_imported"] == after["rows_imported"]
    assert report["rows_rejected"] == after["rows_rejected"]
    assert report["records_added"] == after["new_records"]
    assert report["conflicts"] == []
    con = connect(db, read_only=True)
    try:
        assert (
            con.execute("select count(*) from ratings").fetchall()[0][0] == after["records_in_db_after_both"]
        )
        new_clients = {
            r[0]
            for r in con.execute(
                "select distinct client_id from ratings where import_id = ? and client_id not in "
                "(select client_id from ratings where import_id = 1)",
                [report["import_id"]],
            ).fetchall()
        }
    finally:
        con.close()
    assert new_clients == set(after["clients_new_in_reexport"])


def test_a_file_with_identifiers_is_refused_by_default_naming_the_columns(exports, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    code, (report,), _err = run_import(capsys, db, str(exports / "client_list_with_identifiers.csv"))
    assert code == 1
    assert report["refused"]
    for column in ("Client Name", "Email", "DOB", "Notes"):
        assert repr(column) in report["refused_reason"]
    assert report["rows_imported"] == 0 and report["rows_rejected"] == report["rows_read"] == 69
    con = connect(db, read_only=True)
    try:
        assert con.execute("select count(*) from ratings").fetchall()[0][0] == 0
        assert con.execute("select count(*) from imports").fetchall()[0][0] == 0
    finally:
        con.close()


def _all_text_in_store(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        parts = []
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        for table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_name = ? "
                    "and data_type in ('VARCHAR', 'VARCHAR[]')",
                    [table],
                ).fetchall()
            ]
            for col in cols:
                parts += [str(r[0]) for r in con.execute(f'select "{col}" from "{table}"').fetchall()]
    finally:
        con.close()
    return "\n".join(parts)


def test_all_exports_together_give_the_corpus_totals_and_leak_no_identifier(
    exports, manifest, tmp_path, capsys
):
    db = tmp_path / "store.duckdb"
    outputs = []
    # A refused attempt first: its report and messages must not leak either.
    code, reports, err = run_import(capsys, db, str(exports / "client_list_with_identifiers.csv"))
    outputs.append(json.dumps(reports) + err)
    for name in manifest["corpus_totals"]["import_order"]:
        code, reports, err = run_import(capsys, db, str(exports / name), "--drop-identifiers")
        assert code == 0, err
        outputs.append(json.dumps(reports) + err)
    totals = manifest["corpus_totals"]
    con = connect(db, read_only=True)
    try:
        n_ratings, n_clients = con.execute(
            "select count(*), count(distinct client_id) from ratings"
        ).fetchall()[0]
        prorated = con.execute("select count(*) from ratings where total_source = 'prorated'").fetchall()[0][
            0
        ]
        rejected_csv = con.execute("select * from rejected_rows").df().to_csv()
    finally:
        con.close()
    assert prorated == totals["ambiguous_records_not_counted"]
    assert n_ratings == totals["distinct_valid_records"] + prorated
    assert n_clients == totals["distinct_clients"]
    forbidden = [s for f in manifest["files"] for s in f.get("forbidden_strings", [])]
    assert forbidden
    text = "\n".join(outputs) + _all_text_in_store(db) + rejected_csv
    raw = db.read_bytes() + (
        db.with_suffix(".duckdb.wal").read_bytes() if db.with_suffix(".duckdb.wal").exists() else b""
    )
    for s in forbidden:
        assert s not in text, f"{s!r} leaked"
        assert s.encode() not in raw, f"{s!r} found in the store file"
