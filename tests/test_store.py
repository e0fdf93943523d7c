"""The DuckDB store: schema, migrations, transactions and locking."""

import duckdb
import pytest
from _stores import ratings_indexes

from caseload import store


def test_a_new_store_is_migrated_to_the_current_schema(db_path):
    con = store.connect(db_path)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert store.counts(con) == {"ratings": 0, "clients": 0, "clinicians": 0, "imports": 0}
    con.close()
    con = store.connect(db_path)  # reopening does not migrate twice
    assert store.schema_version(con) == store.SCHEMA_VERSION
    con.close()


def test_a_failed_transaction_leaves_nothing_behind(con):
    with pytest.raises(duckdb.Error):
        with store.transaction(con):
            con.execute(
                "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
                " rows_duplicate, rows_rejected) values (1, 'a.csv', 'x', now(), 1, 1, 0, 0)"
            )
            con.execute(
                "insert into ratings (client_id, measure, total, import_id) values ('C1', 'ORS', 20, 1)"
            )
    assert store.counts(con)["imports"] == 0


def test_a_store_from_a_newer_version_is_refused(db_path):
    con = store.connect(db_path)
    con.execute("update meta set value = '999' where key = 'schema_version'")
    con.close()
    with pytest.raises(store.StoreError, match="newer Caseload"):
        store.connect(db_path)


def test_the_db_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CASELOAD_DB", str(tmp_path / "x.duckdb"))
    assert store.default_db_path() == tmp_path / "x.duckdb"


def test_a_file_that_is_not_a_store_gets_a_clear_message(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(store.StoreError, match="could not be read|Cannot open"):
        store.connect(bad)


def test_a_store_left_without_its_client_index_gets_it_back_when_opened(db_path):
    con = store.connect(db_path)
    con.execute("drop index ratings_client")  # as if an import died between dropping and rebuilding it
    con.close()
    con = store.connect(db_path)
    assert ratings_indexes(con) == ["ratings_client"]
    con.execute(
        "insert into ratings (client_id, measure, total, import_id, session_number)"
        " select 'C' || (i % 500), 'ORS', 20, 1, i // 500 + 1 from range(10000) t(i)"
    )
    plan = con.execute("explain analyze select * from ratings where client_id = 'C7'").fetchall()[0][1]
    assert "Index Scan" in plan
    con.close()


def test_a_version_3_store_keeps_its_ratings_and_can_record_endings_added_later(db_path):
    con = duckdb.connect(str(db_path))
    for version in (1, 2, 3):
        for statement in store._MIGRATIONS[version]:
            con.execute(statement)
    con.execute("insert into meta values ('schema_version', '3')")
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'march.csv', 'x', now(), 1, 1, 0, 0)"
    )
    con.execute(
        "insert into ratings (client_id, session_number, measure, total, import_id, ending)"
        " values ('C1', 1, 'ORS', 20, 1, 'planned')"
    )
    con.close()
    con = store.connect(db_path)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert con.execute("select client_id, ending, ending_import_id from ratings").fetchall() == [
        ("C1", "planned", None)
    ]
    assert con.execute("select file_name, endings_added from imports").fetchall() == [("march.csv", 0)]
    con.close()


def test_a_version_5_store_keeps_every_rating_as_it_was_with_enum_columns(db_path, tmp_path):
    con = duckdb.connect(str(db_path))
    for version in range(1, 6):
        for statement in store._MIGRATIONS[version]:
            con.execute(statement)
    con.execute("insert into meta values ('schema_version', '5')")
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'march.csv', 'x', now(), 6, 6, 0, 0)"
    )
    raters = ["self", "parent", "partner", "teacher", "other", "clinician"]
    for n, rater in enumerate(raters, start=1):
        con.execute(
            "insert into ratings (client_id, clinician_id, age_group, session_number, measure, rater, items, total,"
            " total_source, import_id, source_row, ending, ending_import_id) values (?, 'T1', ?, ?, 'ORS', ?,"
            " [1.5, 2.0, 3.0, 4.0], 10.5, ?, 1, ?, ?, ?)",
            [
                f"C{n % 2}",
                ["adult", "child", None][n % 3],
                n,
                rater,
                ["items", "total", "prorated"][n % 3],
                n + 1,
                ["planned", "unplanned", "ended", None][n % 4],
                None if n % 4 == 3 else 1,
            ],
        )
    before = con.execute("select * from ratings order by session_number").fetchall()
    con.close()

    con = store.connect(db_path)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert con.execute("select * from ratings order by session_number").fetchall() == before
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'ratings'"
        ).fetchall()
    )
    assert types["rater"].startswith("ENUM") and types["ending"].startswith("ENUM")
    assert types["age_group"].startswith("ENUM") and types["total_source"].startswith("ENUM")
    assert ratings_indexes(con) == ["ratings_client"]
    # an ENUM sorts as its text did, and a value outside it is refused as the CHECK refused it before
    assert [r[0] for r in con.execute("select rater from ratings order by rater").fetchall()] == sorted(
        raters
    )
    with pytest.raises(duckdb.Error):
        con.execute(
            "insert into ratings (client_id, session_number, measure, rater, total, import_id)"
            " values ('C9', 1, 'ORS', 'friend', 20, 1)"
        )
    con.close()


def test_the_enum_columns_take_every_value_the_importer_and_the_app_write():
    from caseload.ingest.layouts import AGE_GROUP_VALUES, ENDING_VALUES, RATER_VALUES
    from caseload.measures import AGE_GROUPS

    enums = store.ENUM_TYPES
    assert enums["rater_kind"] == tuple(sorted(set(RATER_VALUES.values())))
    assert (
        enums["age_group_kind"] == tuple(sorted(AGE_GROUPS)) == tuple(sorted(set(AGE_GROUP_VALUES.values())))
    )
    assert (
        enums["ending_kind"]
        == tuple(sorted(store.ENDINGS))
        == tuple(sorted(set(ENDING_VALUES.values()) - {""}))
    )
    for name, values in enums.items():
        assert list(values) == sorted(values), name  # so that ENUM order is text order
