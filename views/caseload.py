"""Caseload: tiles, filters and one row per client and measure, most urgent first; a row opens the client."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from caseload.views import (
    STATUS_FILTER_OPTIONS,
    caseload_table,
    caseload_tiles,
    filter_caseload,
    status_filter_label,
)
from views._auth import audit_once, require_viewer
from views._shared import (
    CLIENT_PAGE,
    caseload_columns,
    clinicians,
    open_data_page,
    overview,
    table_height,
)

PAGE_SIZE = 500
ALL = "All clinicians"

viewer = require_viewer()
con, registry = open_data_page("Caseload", viewer)

team = clinicians(con, viewer)
top = st.columns([2, 2, 2])
clinician = top[0].selectbox(
    "Clinician",
    [ALL, *team],
    key="clinician",
    bind="query-params",
    help="Choose a clinician to see their caseload; the URL remembers the choice.",
)
frame = overview(con, registry, viewer, clinician_id=None if clinician == ALL else clinician)
audit_once(viewer, "view_caseload")

tiles = caseload_tiles(frame)
cols = st.columns(5)
cols[0].metric("Active clients", f"{tiles.active_clients:,}", border=True)
cols[1].metric(
    "▼ Off track", f"{tiles.off_track:,}", border=True, help="Active clients off track on any measure"
)
cols[2].metric("⚠ At risk", f"{tiles.at_risk:,}", border=True, help="Active clients at risk, not off track")
cols[3].metric(
    "⚑ Alliance concerns",
    f"{tiles.alliance_concerns:,}",
    border=True,
    help="Active clients whose latest alliance rating is below the cutoff or dropped",
)
share = tiles.improved_share
cols[4].metric(
    "Improved",
    "–" if share is None else f"{share:.0%}",
    border=True,
    help=f"Reliably improved or recovered among {tiles.closed_episodes:,} closed episodes "
    "(each episode counted once, on the outcome measure rated most often)",
)

with st.container(border=True):
    f1, f2, f3 = st.columns(3)
    statuses = f1.multiselect(
        "Status", STATUS_FILTER_OPTIONS, format_func=status_filter_label, key="status_filter"
    )
    measure_options = sorted(frame["measure"].dropna().unique().tolist()) if not frame.empty else []
    measures = f2.multiselect("Measure", measure_options, key="measure_filter")
    search = f3.text_input("Client code", key="client_search", placeholder="Search, e.g. C012")
    g1, g2, g3 = st.columns(3)
    active_days = g1.number_input(
        "Seen in the last N days (0 = any)", min_value=0, max_value=3650, value=0, step=7, key="active_days"
    )
    date_range = None
    if not frame.empty:
        first = pd.to_datetime(frame["first_date"]).min()
        last = pd.to_datetime(frame["latest_date"]).max()
        if pd.notna(first) and pd.notna(last):
            date_range = g2.date_input(
                "Sessions between",
                value=(first.date(), last.date()),
                min_value=first.date(),
                max_value=last.date(),
                key=f"date_range_{clinician}",
            )
    closed = g3.toggle("Include closed episodes", value=True, key="include_closed")

if frame.empty:
    st.info(
        f"No ratings for {clinician}. Choose another clinician or “{ALL}”.",
        icon=":material/person_search:",
    )
    st.stop()

date_from = date_to = None
if isinstance(date_range, tuple) and len(date_range) == 2 and date_range != (first.date(), last.date()):
    date_from, date_to = date_range  # only a narrowed range filters: the default never hides a row
view = filter_caseload(
    frame,
    statuses=statuses,
    measures=measures,
    active_within_days=int(active_days) or None,
    date_from=date_from,
    date_to=date_to,
    search=search,
)
if not closed:
    view = view[view["episode_active"].fillna(False).astype(bool)]
# overview() is already most urgent first, and filtering keeps that order.

if view.empty:
    st.info("No client matches these filters. Clear a filter to see more.", icon=":material/filter_alt_off:")
    st.stop()

pages = max(1, math.ceil(len(view) / PAGE_SIZE))
page = 1
if pages > 1:
    page = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key="caseload_page")
start = (page - 1) * PAGE_SIZE
shown = view.iloc[start : start + PAGE_SIZE]
st.caption(
    f"{len(view):,} rows (one per client, episode and outcome measure), most urgent first"
    + (f"; showing {start + 1:,}–{start + len(shown):,}" if pages > 1 else "")
    + ". Select a row to open the client."
)
event = st.dataframe(
    caseload_table(shown),
    hide_index=True,
    width="stretch",
    key="caseload_table",
    on_select="rerun",
    selection_mode="single-row",
    placeholder="–",
    height=table_height(len(shown)),
    column_config=caseload_columns(),
)
rows = event.selection.rows if event is not None else []
if rows:
    st.switch_page(CLIENT_PAGE, query_params={"client": str(shown.iloc[rows[0]]["client_id"])})
