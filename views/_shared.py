"""Streamlit-side helpers every page uses: the store connection, the measure registry, cached engine calls
and the start screen of an empty store.

The DuckDB connection is opened once per process (``st.cache_resource``; DuckDB locks the file) and each
rerun works on its own cursor (DuckDB 2 refuses concurrent use of one connection from several threads).
Cached results are keyed by a *data version* read from the store, so an import, an undo or loading the
sample caseload invalidates them without anyone having to remember to clear a cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from caseload.access import Viewer, can_see_client, visible_client_ids, visible_clinician_ids
from caseload.measures import Measure, MeasureError, load_measures
from caseload.store import DB_ENV, StoreError, connect, default_db_path
from caseload.views import most_urgent_first

MEASURES_ENV = "CASELOAD_MEASURES"
IMPORT_PAGE = "views/import_data.py"
CASELOAD_PAGE = "views/caseload.py"
CLIENT_PAGE = "views/client.py"
SAMPLE_CLIENTS = 40


def db_path() -> str:
    """The store this app uses: $CASELOAD_DB (set by ``caseload app --db``) or the default location."""
    return (
        str(default_db_path()) if not os.environ.get(DB_ENV) else str(Path(os.environ[DB_ENV]).expanduser())
    )


@st.cache_resource(show_spinner=False)
def _open_store(path: str) -> duckdb.DuckDBPyConnection:
    return connect(path)


def get_connection() -> duckdb.DuckDBPyConnection:
    """A cursor on the process-wide store connection, for this rerun only; stops the page on a store error."""
    try:
        return _open_store(db_path()).cursor()
    except StoreError as exc:
        st.error(str(exc), icon=":material/database:")
        st.stop()
        raise  # unreachable: st.stop() raises


def measures_file() -> str | None:
    """The user's measures TOML ($CASELOAD_MEASURES, set by ``caseload app --measures``), if any."""
    value = os.environ.get(MEASURES_ENV)
    return str(Path(value).expanduser()) if value else None


@st.cache_resource(show_spinner=False)
def _load_registry(path: str | None, mtime: float) -> dict[str, Measure]:
    return load_measures(path)


def _measures_key() -> tuple[str | None, float]:
    path = measures_file()
    try:
        mtime = Path(path).stat().st_mtime if path else 0.0
    except OSError:
        mtime = -1.0
    return path, mtime


def get_registry() -> dict[str, Measure]:
    """The measure registry, reloaded when the measures file changes; stops the page on a bad file."""
    try:
        return _load_registry(*_measures_key())
    except MeasureError as exc:
        st.error(f"The measures file cannot be used: {exc}", icon=":material/rule:")
        st.stop()
        raise


def data_version(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, str, str, str]:
    """A fingerprint of what the engine reads: changes with every import that adds ratings or gives stored
    ratings their ending, undo, sample load, recorded ending or client setting (an import that adds
    nothing leaves the caches alone)."""
    row = con.execute(
        """select (select count(*) from ratings),
                  (select coalesce(max(import_id), 0) from imports where records_added > 0 or endings_added > 0),
                  (select count(*) from imports where undone_at is not null),
                  (select coalesce(max(imported_at)::varchar, '') from imports
                   where records_added > 0 or endings_added > 0),
                  (select count(*)::varchar || '/' || coalesce(max(recorded_at)::varchar, '') from episode_endings),
                  (select count(*)::varchar || '/' || coalesce(max(updated_at)::varchar, '') from client_settings)"""
    ).fetchall()[0]
    return int(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5])


def store_is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the store holds no ratings at all (a new install, or every import undone)."""
    return data_version(con)[0] == 0


def _cache_key(con: duckdb.DuckDBPyConnection) -> tuple:
    return (db_path(), data_version(con), _measures_key(), date.today().isoformat())


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_calibrations(_con: duckdb.DuckDBPyConnection, _registry: dict[str, Measure], key: tuple) -> dict:
    from caseload.engine import store_calibrations

    return store_calibrations(_con, _registry)


def calibrations(con: duckdb.DuckDBPyConnection, registry: dict[str, Measure]) -> dict:
    """The bands' calibrations from the whole store (every clinician's ended episodes, as norms are), once
    per data version: the engine would otherwise fingerprint every rating on each call to find them."""
    return _cached_calibrations(con, registry, _cache_key(con))


# cache_resource, not cache_data: cache_data pickles on every hit, and unpickling a 50,000-row overview
# took over a second per rerun. Callers treat the frame as read-only.
@st.cache_resource(show_spinner="Working out statuses and alerts…", max_entries=16)
def _cached_overview(
    _con: duckdb.DuckDBPyConnection,
    _registry: dict[str, Measure],
    _viewer: Viewer,
    key: tuple,
    scope: tuple,
    clinician_id: str | None,
    active_only: bool,
) -> pd.DataFrame:
    from caseload.engine import caseload_overview

    # The engine reads only the viewer's rating rows (SQL). The tables show each row's top alert; a client's
    # full list comes from client_detail, so the overview skips writing out every alert.
    frame = caseload_overview(
        _con,
        _registry,
        clinician_id=clinician_id,
        active_only=active_only,
        viewer=_viewer,
        alert_lists=False,
        calibrations=calibrations(_con, _registry),
    )
    return most_urgent_first(frame)  # sorted once here; filters keep the order


def overview(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    viewer: Viewer,
    clinician_id: str | None = None,
    active_only: bool = False,
) -> pd.DataFrame:
    """The engine's caseload overview as far as the viewer may see it (rows of their clinician codes),
    most urgent first, cached until the store's data version (or the day) changes. Read-only: the
    same frame is shared by every session."""
    return _cached_overview(
        con, registry, viewer, _cache_key(con), viewer.cache_key(), clinician_id, active_only
    )


@st.cache_resource(show_spinner=False, max_entries=128)
def _cached_client_detail(
    _con: duckdb.DuckDBPyConnection,
    _registry: dict[str, Measure],
    _viewer: Viewer,
    key: tuple,
    scope: tuple,
    client_id: str,
) -> dict | None:
    from caseload.engine import client_detail as engine_client_detail

    return engine_client_detail(
        _con, _registry, client_id, viewer=_viewer, calibrations=calibrations(_con, _registry)
    )


def client_detail(
    con: duckdb.DuckDBPyConnection, registry: dict[str, Measure], client_id: str, viewer: Viewer
) -> dict | None:
    """The engine's view of one client (sessions, expected band, alerts), cached like the overview
    (read-only, shared); None when the viewer may not see the client (as if it did not exist)."""
    if not viewer.sees_all and not can_see_client(con, viewer, client_id):
        return None
    return _cached_client_detail(con, registry, viewer, _cache_key(con), viewer.cache_key(), client_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_clinicians(
    _con: duckdb.DuckDBPyConnection, _viewer: Viewer, key: tuple, scope: tuple
) -> list[str]:
    return visible_clinician_ids(_con, _viewer)


def clinicians(con: duckdb.DuckDBPyConnection, viewer: Viewer) -> list[str]:
    """Clinician codes in the store that the viewer may see, sorted."""
    return _cached_clinicians(con, viewer, _cache_key(con), viewer.cache_key())


@st.cache_data(show_spinner=False, max_entries=16)
def _cached_client_ids(
    _con: duckdb.DuckDBPyConnection, _viewer: Viewer, key: tuple, scope: tuple
) -> list[str]:
    return visible_client_ids(_con, _viewer)


def client_ids(con: duckdb.DuckDBPyConnection, viewer: Viewer) -> list[str]:
    """Client codes with at least one rating the viewer may see, sorted."""
    return _cached_client_ids(con, viewer, _cache_key(con), viewer.cache_key())


@st.cache_data(show_spinner=False, max_entries=512)
def _chart_spec(key: tuple, _build: Callable[[], Any]) -> dict:
    spec = _build()
    return spec if isinstance(spec, dict) else spec.to_dict(validate=False)


def show_chart(
    con: duckdb.DuckDBPyConnection, key: tuple, build: Callable[[], Any], width: str = "stretch"
) -> None:
    """Draw a chart from caseload.charts (a Vega-Lite spec), cached per ``key`` and data version."""
    spec = _chart_spec((_cache_key(con), *key), build)
    st.vega_lite_chart(spec=spec, width=width)


def table_height(rows: int, most: int = 640) -> int:
    """Pixels for a table of ``rows`` rows: all of them up to ``most``, then it scrolls."""
    return min(most, 38 + 35 * max(rows, 1))


def caseload_columns() -> dict[str, object]:
    """Column formats for tables made by caseload.views.caseload_table."""
    return {
        "Status": st.column_config.TextColumn("Status", width="medium"),
        "Top alert": st.column_config.TextColumn(width="large"),
        "Alliance": st.column_config.TextColumn("Alliance", width="medium"),
        "First score": st.column_config.NumberColumn(format="%.1f"),
        "Latest score": st.column_config.NumberColumn(format="%.1f"),
        "Change": st.column_config.NumberColumn(format="%+.1f"),
        "Latest alliance": st.column_config.NumberColumn(format="%.1f"),
        "Days since last": st.column_config.NumberColumn(format="%d"),
    }


def load_sample_caseload(
    con: duckdb.DuckDBPyConnection, registry: dict[str, Measure], viewer: Viewer
) -> None:
    """Import the synthetic sample caseload into the store (an import like any other, so it can be undone)."""
    from caseload import audit
    from caseload.sample import load_sample

    report = load_sample(con, registry, n_clients=SAMPLE_CLIENTS)
    audit.record(con, viewer.username, "load_sample", ratings=int(getattr(report, "records_added", 0) or 0))


def show_start_screen(con: duckdb.DuckDBPyConnection, registry: dict[str, Measure], viewer: Viewer) -> None:
    """What a new user sees instead of empty tables: load the synthetic sample, or import an export."""
    st.info(
        "The store is empty: there are no ratings yet. Start with the sample caseload to look around, "
        "or import your own anonymized export.",
        icon=":material/waving_hand:",
    )
    left, right = st.columns(2, border=True)
    with left:
        st.markdown("#### Try it with sample data")
        st.caption(
            f"{SAMPLE_CLIENTS} **synthetic** clients, invented by Caseload's generator: no real people. "
            "Several clinicians, ORS/SRS and some PHQ-9/GAD-7 sessions, with early responders, slow "
            "improvers, deteriorations, alliance drops and dropouts. You can undo it on the Import page."
        )
        if st.button(
            "Load sample caseload",
            icon=":material/science:",
            type="primary",
            key="load_sample",
            help="Adds synthetic (made-up) clients to the store, labelled as sample data.",
            disabled=not viewer.is_admin,
        ):
            with st.spinner("Creating the synthetic sample caseload…"):
                load_sample_caseload(con, registry, viewer)
            st.session_state["sample_loaded"] = True
            st.rerun()
    with right:
        st.markdown("#### Use your own export")
        st.caption(
            "CSV or Excel exports with one row per session (or one column per item). Direct identifiers "
            "(names, e-mails, birth dates) are refused. Nothing leaves this computer."
        )
        if viewer.is_admin:
            st.page_link(IMPORT_PAGE, label="Import your export", icon=":material/upload_file:")
        else:
            st.caption("Imports are done by your Caseload admin.")
    st.caption(f"Store: `{db_path()}`")


def sample_notice(con: duckdb.DuckDBPyConnection) -> None:
    """A visible reminder when the store holds the synthetic sample caseload."""
    from caseload.sample import SAMPLE_IMPORT_NAME

    rows = con.execute(
        "select count(*) from imports where undone_at is null and file_name = ?", [SAMPLE_IMPORT_NAME]
    ).fetchall()
    if rows and rows[0][0]:
        st.caption(
            ":material/science: This store contains the **synthetic sample caseload** (invented clients, "
            "not real people). Undo it on the Import page when you import your own data."
        )
    if st.session_state.pop("sample_loaded", False):
        st.toast("Sample caseload loaded: synthetic clients, not real people.", icon=":material/science:")


def open_data_page(title: str, viewer: Viewer) -> tuple[duckdb.DuckDBPyConnection, dict[str, Measure]]:
    """A client-data page's title, connection and registry; an empty store shows the start screen and stops."""
    st.title(title)
    con = get_connection()
    registry = get_registry()
    if store_is_empty(con):
        show_start_screen(con, registry, viewer)
        st.stop()
    sample_notice(con)
    return con, registry
