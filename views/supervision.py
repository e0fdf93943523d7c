"""Supervision: per-clinician outcomes on one measure (small groups withheld), clients to discuss, Excel export."""

from __future__ import annotations

import streamlit as st

from caseload.reports.excel import caseload_workbook
from caseload.supervision import (
    CLOSED_TABLE_COLUMNS,
    MIN_N,
    OUTCOME_TABLE_COLUMNS,
    TOO_FEW,
    clients_to_discuss,
    clinician_summary,
    summary_table,
)
from caseload.views import caseload_table
from views._auth import audit_action, audit_once, require_viewer
from views._shared import (
    CLIENT_PAGE,
    caseload_columns,
    open_data_page,
    overview,
    table_height,
)

viewer = require_viewer()
con, registry = open_data_page("Supervision", viewer)

frame = overview(con, registry, viewer)
audit_once(viewer, "view_supervision")
outcome_measures = (
    frame["measure"].value_counts().index.tolist() if not frame.empty else []
)  # most used first
if not outcome_measures:
    st.info(
        "There are ratings, but none on an outcome measure yet, so there is nothing to compare. "
        "Import outcome ratings (e.g. ORS, PHQ-9) to see the team's results.",
        icon=":material/info:",
    )
    st.stop()

c1, c2 = st.columns([1, 1])
code = c1.selectbox(
    "Outcome measure",
    outcome_measures,
    format_func=lambda c: f"{c} — {registry[c].name}" if c in registry else c,
    key="supervision_measure",
    help="Figures are computed on one measure at a time: intake means of different measures cannot be mixed.",
)
min_n = int(
    c2.number_input(
        "Minimum episodes with a change to compare",
        min_value=2,
        max_value=200,
        value=MIN_N,
        key="min_n",
        help="Clinicians with fewer episodes are shown as “too few to compare”: their shares would be noise.",
    )
)
measure = registry.get(code)
if measure is None:
    st.warning(f"{code} is not in the measure registry; add it with a measures file to compare outcomes.")
    st.stop()

summary = clinician_summary(frame, measure, min_n=min_n)
st.subheader(f"Clinicians on {code}")
table = summary_table(summary)
st.dataframe(table[OUTCOME_TABLE_COLUMNS], hide_index=True, width="stretch", key="supervision_table")
small = int((~summary["comparable"]).sum()) if not summary.empty else 0
st.caption(
    "Listed by clinician code, not ranked. Shares are of episodes with a first and a latest score; "
    "“off track now” is of active episodes. Effect size: pre-post d (mean improvement / SD of intake "
    "scores) with its 95% confidence interval; positive means improvement; overlapping intervals mean the "
    "difference may be chance. "
    + (f"{small} group(s) below the minimum of {min_n} are shown as “{TOO_FEW}”." if small else "")
)
st.markdown(f"**Closed episodes on {code}: how they ended**")
st.dataframe(table[CLOSED_TABLE_COLUMNS], hide_index=True, width="stretch", key="closed_table")
st.caption(
    "A good outcome is reliable improvement from the episode's intake to its last rating. Endings are as "
    "recorded in the export or on the Client page; where none is recorded, a closed episode that ended after "
    "at most two rated sessions without reliable improvement counts as an inferred unplanned ending. "
    "Dropout = unplanned endings (recorded and inferred) among closed episodes, split by whether the outcome "
    "was good at the last rating."
)

st.subheader("Clients to discuss")
discuss = clients_to_discuss(frame)
if discuss.empty:
    st.success(
        "No active client is off track, at risk, has an alliance concern or a serious alert.",
        icon=":material/check:",
    )
else:
    st.caption(
        f"{discuss['client_id'].nunique():,} active clients off track, at risk, with an alliance concern "
        "or with a critical or high alert, most urgent first. Select a row to open the client."
    )
    shown = discuss.head(200)
    event = st.dataframe(
        caseload_table(shown),
        hide_index=True,
        width="stretch",
        key="discuss_table",
        on_select="rerun",
        selection_mode="single-row",
        placeholder="–",
        height=table_height(len(shown)),
        column_config=caseload_columns(),
        column_order=[
            "Status",
            "Client",
            "Top alert",
            "Clinician",
            "Measure",
            "Latest score",
            "Change",
            "Alliance",
            "Days since last",
        ],
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        st.switch_page(CLIENT_PAGE, query_params={"client": str(shown.iloc[rows[0]]["client_id"])})

st.subheader("Export")


def _workbook() -> bytes:
    # Built only when the button is clicked (openpyxl takes seconds on a whole agency's caseload).
    return caseload_workbook(
        frame,
        summary,
        discuss,
        measure_code=code,
        min_n=min_n,
        notes=[("Measure", f"{code} — {measure.name}")],
    )


st.download_button(
    "Download Excel workbook",
    data=_workbook,
    file_name=f"caseload_supervision_{code}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    icon=":material/download:",
    on_click=lambda: audit_action(viewer, "export", rows=len(frame)),
    key="excel_download",
)
st.caption("Sheets: Caseload (every client and measure), Supervision, Clients to discuss, About.")
