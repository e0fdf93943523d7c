"""Who sees which clients: Viewer and the SQL filters every client-data query uses (caseload.access)."""

from __future__ import annotations

import pytest
from _team import PASSWORD, TWO_CLINICIANS, add_ratings, fast_hashing  # noqa: F401 - fixture

from caseload import access, auth
from caseload.access import Viewer


@pytest.fixture
def store(con):
    add_ratings(con, TWO_CLINICIANS)
    return con


def _clients(con, viewer):
    return access.visible_client_ids(con, viewer)


def test_with_sign_in_off_the_viewer_sees_every_client_including_those_without_a_clinician(store):
    assert _clients(store, Viewer.everyone()) == ["C001", "C002", "C101", "C201", "C301"]
    assert Viewer.everyone().sees_all and Viewer.everyone().is_admin


def test_a_clinician_sees_only_ratings_under_their_own_code(store):
    ann = Viewer("ann", "clinician", frozenset({"T01"}))
    assert _clients(store, ann) == ["C001", "C002"]
    assert access.visible_clinician_ids(store, ann) == ["T01"]
    assert access.can_see_client(store, ann, "C001")
    assert not access.can_see_client(store, ann, "C101")
    assert not access.can_see_client(store, ann, "C301")  # no clinician code: admins only


def test_a_supervisor_sees_their_supervisees_and_nobody_else(store):
    sue = Viewer("sue", "supervisor", frozenset({"T01", "T02"}))
    assert _clients(store, sue) == ["C001", "C002", "C101"]
    assert access.visible_clinician_ids(store, sue) == ["T01", "T02"]


def test_a_viewer_with_no_codes_sees_nothing(store):
    nobody = Viewer("new-supervisor", "supervisor", frozenset())
    assert _clients(store, nobody) == []
    assert access.clinician_condition(nobody) == ("false", [])
    assert store.execute(f"select count(*) from {access.visible_ratings(nobody)} r").fetchall() == [(0,)]


@pytest.mark.usefixtures("fast_hashing")
def test_viewers_are_built_from_the_accounts_in_the_store(store):
    auth.add_user(store, "admin1", PASSWORD, "admin")
    auth.add_user(store, "ann", PASSWORD, "clinician", clinician_id="T01")
    auth.add_user(store, "sue", PASSWORD, "supervisor", clinician_id="T03", supervises=["T02"])
    assert access.viewer_for(auth.get_user(store, "admin1")).sees_all
    assert access.viewer_for(auth.get_user(store, "ann")).clinician_ids == {"T01"}
    sue = access.viewer_for(auth.get_user(store, "sue"))
    assert sue.clinician_ids == {"T02", "T03"}  # a supervisor with their own caseload sees it too
    assert _clients(store, sue) == ["C101", "C201"]


def test_the_visible_ratings_subquery_returns_only_the_viewers_rows(store):
    sue = Viewer("sue", "supervisor", frozenset({"T02", "T03"}))
    rows = store.execute(
        f"select distinct clinician_id from {access.visible_ratings(sue)} r order by 1"
    ).fetchall()
    assert rows == [("T02",), ("T03",)]
    assert access.visible_ratings(Viewer.everyone()) == "ratings"


def test_a_crafted_clinician_code_cannot_widen_the_filter(store):
    crafted = Viewer("eve", "clinician", frozenset({"T01') or true or ('x"}))
    assert store.execute(f"select count(*) from {access.visible_ratings(crafted)} r").fetchall() == [(0,)]
    assert _clients(store, crafted) == []
    with pytest.raises(ValueError):
        access.sql_literal("T01\x00")


def test_cache_keys_differ_between_viewers_who_see_different_clients():
    a = Viewer("ann", "clinician", frozenset({"T01"}))
    b = Viewer("bob", "clinician", frozenset({"T02"}))
    a2 = Viewer("ann2", "clinician", frozenset({"T01"}))
    assert a.cache_key() != b.cache_key() != Viewer.everyone().cache_key()
    assert a.cache_key() == a2.cache_key()  # same rights, same cached results


def test_store_ratings_returns_only_the_viewers_rows(store):
    from caseload.store import ratings

    ann = Viewer("ann", "clinician", frozenset({"T01"}))
    assert set(ratings(store, viewer=ann)["clinician_id"]) == {"T01"}
    assert ratings(store, client_id="C101", viewer=ann).empty
    assert len(ratings(store)) == 7  # the default viewer is everyone (sign-in off)
    assert len(ratings(store, clinician_id="T02", viewer=ann)) == 0  # a filter cannot widen the view


def test_the_ratings_export_holds_only_the_viewers_rows(store):
    from caseload.export import export_csv_bytes, export_frame

    ann = Viewer("ann", "clinician", frozenset({"T01"}))
    frame = export_frame(store, ann)
    assert set(frame["client_id"]) == {"C001", "C002"} and set(frame["clinician_id"]) == {"T01"}
    assert b"C101" not in export_csv_bytes(frame)
    assert set(export_frame(store)["client_id"]) == {"C001", "C002", "C101", "C201", "C301"}


def test_episodes_are_counted_over_the_viewers_rows_only(store):
    from caseload.episodes import episode_ratings, episodes

    sue = Viewer("sue", "supervisor", frozenset({"T02"}))
    assert set(episode_ratings(store, viewer=sue)["client_id"]) == {"C101"}
    assert episodes(store, viewer=sue)["client_id"].tolist() == ["C101"]
    assert episode_ratings(store, client_id="C001", viewer=sue).empty


def test_the_engine_reads_only_the_viewers_rows(store, registry):
    from caseload.engine import caseload_overview, client_detail

    ann = Viewer("ann", "clinician", frozenset({"T01"}))
    frame = caseload_overview(store, registry, viewer=ann)
    assert set(frame["client_id"]) == {"C001", "C002"}
    assert client_detail(store, registry, "C101", viewer=ann) is None  # as if the client did not exist
    assert client_detail(store, registry, "C001", viewer=ann)["client_id"] == "C001"
    assert caseload_overview(store, registry, clinician_id="T02", viewer=ann).empty
    assert set(caseload_overview(store, registry)["client_id"]) == {"C001", "C002", "C101", "C201", "C301"}


def test_the_supervision_packet_holds_only_the_viewers_clients(registry, tmp_path):
    from caseload.reports.packet import client_pages, supervision_packet_pdf
    from caseload.sample import load_sample
    from caseload.store import connect

    con = connect(tmp_path / "sample.duckdb")
    load_sample(con, registry)
    sue = Viewer("sue", "supervisor", frozenset({"T02"}))
    mine = set(access.visible_client_ids(con, sue))
    from caseload.engine import caseload_overview

    overview = caseload_overview(con, registry, viewer=sue)
    pages = client_pages(con, registry, overview, None, viewer=sue)
    assert pages and {p.client_id for p in pages} <= mine
    assert supervision_packet_pdf(con, registry, viewer=sue).startswith(b"%PDF")
    con.close()
