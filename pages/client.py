"""Client: one client's outcome and alliance over sessions, alerts with their reasons, items and sessions.

The client is chosen by ``?client=CODE`` in the URL, so the view can be shared and survives a reload.
"""

from __future__ import annotations

import streamlit as st

from pages._shared import (
    client_ids,
    get_connection,
    get_registry,
    sample_notice,
    show_start_screen,
    store_is_empty,
)

st.title("Client")
con = get_connection()
registry = get_registry()
if store_is_empty(con):
    show_start_screen(con, registry)
    st.stop()
sample_notice(con)

ids = client_ids(con)
wanted = st.query_params.get("client")
if wanted and wanted not in set(ids):
    st.warning(
        f"There is no client “{wanted}” in this store. Choose one below.", icon=":material/person_off:"
    )
client = st.selectbox(
    "Client",
    ids,
    index=None,
    key="client",
    bind="query-params",
    placeholder="Choose or type a client code",
)
if client is None:
    st.info("Choose a client, or open one from the Caseload page.", icon=":material/person_search:")
    st.stop()
