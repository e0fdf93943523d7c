"""Store files for page tests (the synthetic sample caseload, a small store of odd but valid data) and what
store tests ask of a store."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from caseload.ingest import import_file
from caseload.measures import load_measures
from caseload.sample import load_sample
from caseload.store import connect

ODD_CLIENTS = {
    "C-ONE": "a single ORS rating",
    "C-NOSRS": "four ORS ratings and no alliance ratings",
    "C-SRSONLY": "alliance ratings only",
    "C-NODATE": "session numbers without dates",
    "C-TWOEP": "two episodes, a year apart",
    "C-PHQ": "PHQ-9 with item scores, higher is worse",
}


def sample_store(path: Path) -> Path:
    """A store holding the synthetic sample caseload (40 clients), dated up to today."""
    con = connect(path)
    load_sample(con, load_measures())
    con.close()
    return path


def odd_csv(today: date | None = None) -> bytes:
    """A canonical long CSV with the odd cases of ODD_CLIENTS, dated up to ``today``."""
    today = today or date.today()

    def day(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    rows = ["client_id,clinician_id,session_date,session_number,measure,total"]
    rows.append(f"C-ONE,T9,{day(3)},1,ORS,18.5")
    for i, score in enumerate([17.0, 19.5, 21.0, 26.5], start=1):
        rows.append(f"C-NOSRS,T9,{day(40 - 7 * i)},{i},ORS,{score}")
    for i, score in enumerate([35.0, 38.0], start=1):
        rows.append(f"C-SRSONLY,T9,{day(20 - 7 * i)},{i},SRS,{score}")
    for i, score in enumerate([12.0, 14.0, 11.0], start=1):
        rows.append(f"C-NODATE,T8,,{i},ORS,{score}")
    for i, score in enumerate([15.0, 20.0, 24.0], start=1):
        rows.append(f"C-TWOEP,T8,{day(420 - 7 * i)},{i},ORS,{score}")
        rows.append(f"C-TWOEP,T8,{day(420 - 7 * i)},{i},SRS,{37 + i * 0.5}")
    for i, score in enumerate([22.0, 12.0], start=1):
        rows.append(f"C-TWOEP,T8,{day(30 - 7 * i)},{i + 3},ORS,{score}")
    body = "\n".join(rows) + "\n"
    items = [
        "client_id,clinician_id,session_date,session_number,measure,item_1,item_2,item_3,item_4,item_5,item_6,item_7,item_8,item_9,total"
    ]
    for i, values in enumerate(
        [[3, 3, 2, 2, 2, 1, 2, 1, 0], [2, 2, 2, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 1, 0, 0]], start=1
    ):
        items.append(f"C-PHQ,T9,{day(30 - 7 * i)},{i},PHQ9,{','.join(map(str, values))},{sum(values)}")
    return body.encode(), ("\n".join(items) + "\n").encode()


def odd_store(path: Path) -> Path:
    """A store with the odd cases of ODD_CLIENTS; fails loudly if the importer rejects any row."""
    registry = load_measures()
    con = connect(path)
    totals, items = odd_csv()
    for name, data in (("odd_totals.csv", totals), ("odd_items.csv", items)):
        report = import_file(con, data, file_name=name, registry=registry)
        assert report.rows_rejected == 0, report.to_dict()
    con.close()
    return path


def ratings_indexes(con) -> list[str]:
    """The names of the indexes on the ratings table (the client index is 'ratings_client')."""
    return [
        r[0]
        for r in con.execute(
            "select index_name from duckdb_indexes() where table_name = 'ratings'"
        ).fetchall()
    ]
