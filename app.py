"""Caseload's Streamlit entry point: page config and navigation; every page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="Caseload", page_icon=":material/monitoring:", layout="wide")

pages = [
    st.Page(
        "pages/caseload.py", title="Caseload", icon=":material/groups:", url_path="caseload", default=True
    ),
    st.Page("pages/client.py", title="Client", icon=":material/person:", url_path="client"),
    st.Page("pages/import_data.py", title="Import", icon=":material/upload_file:", url_path="import"),
    st.Page(
        "pages/supervision.py",
        title="Supervision",
        icon=":material/supervisor_account:",
        url_path="supervision",
    ),
    st.Page("pages/measures.py", title="Measures & about", icon=":material/info:", url_path="measures"),
]
st.navigation(pages).run()
