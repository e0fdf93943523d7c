"""Audit trail (admins): who signed in, imported, viewed a client, exported or printed what, and when."""

from __future__ import annotations

from datetime import datetime, time

import streamlit as st

from caseload import audit
from caseload.safety import download_name, neutralise_frame
from views._auth import audit_once, require_viewer
from views._shared import get_connection

viewer = require_viewer()
st.title("Audit trail")
if not viewer.is_admin:
    st.error("Only an admin can read the audit trail.", icon=":material/lock:")
    st.stop()
audit_once(viewer, "view_audit")
con = get_connection()

st.caption(
    "Every sign-in, import, client view, export and print, with the username and time (UTC). "
    "Entries hold client codes only: no names, no file names, no free text."
)
c1, c2, c3, c4 = st.columns(4)
user = c1.text_input("User", key="audit_user").strip().lower() or None
action = c2.selectbox(
    "Action",
    [None, *audit.ACTIONS],
    format_func=lambda a: "Any" if a is None else audit.ACTIONS[a],
    key="audit_action",
)
client = c3.text_input("Client code", key="audit_client").strip() or None
since_day = c4.date_input("From", value=None, key="audit_since")
since = datetime.combine(since_day, time.min) if since_day else None

frame = audit.entries(con, username=user, action=action, client_id=client, since=since, limit=5000)
if frame.empty:
    st.info("No audit entries match.", icon=":material/manage_search:")
    st.stop()
shown = (
    frame.drop(columns=["action"])
    .fillna({"detail": "", "client_id": ""})
    .rename(
        columns={
            "entry_id": "#",
            "logged_at": "When (UTC)",
            "username": "User",
            "what": "What",
            "client_id": "Client",
            "detail": "Details",
        }
    )
)
st.dataframe(shown, hide_index=True, width="stretch")
st.caption(f"{len(frame):,} entries, newest first (at most 5,000 shown).")
st.download_button(
    "Download as CSV",
    data=neutralise_frame(shown).to_csv(index=False).encode("utf-8"),
    file_name=download_name("caseload", "audit", suffix="csv"),
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
)
