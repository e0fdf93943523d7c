"""Caseload's Streamlit entry point: page config and navigation; every page lives in views/."""

import streamlit as st

from views._auth import account_box, current_viewer, sign_in_page

st.set_page_config(page_title="Caseload", page_icon=":material/monitoring:", layout="wide")

# Sign-in (on when the store has users): until someone signs in, the sign-in form is the only page.
viewer = current_viewer()
if viewer is None:
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")], position="hidden").run()
    st.stop()
account_box(viewer)

pages = [
    st.Page(
        "views/caseload.py", title="Caseload", icon=":material/groups:", url_path="caseload", default=True
    ),
    st.Page("views/client.py", title="Client", icon=":material/person:", url_path="client"),
    # url_path is the file's stem: a deep link whose path matches no file in views/ first shows "Page not found".
    st.Page(
        "views/print_summary.py",
        title="Print summary",
        icon=":material/print:",
        url_path="print_summary",
        visibility="hidden",
    ),
    st.Page("views/import_data.py", title="Import", icon=":material/upload_file:", url_path="import"),
    st.Page(
        "views/supervision.py",
        title="Supervision",
        icon=":material/supervisor_account:",
        url_path="supervision",
    ),
    st.Page("views/measures.py", title="Measures & about", icon=":material/info:", url_path="measures"),
]
if viewer.is_admin:  # importing writes every clinician's data; the audit trail is for admins
    pages.append(st.Page("views/audit.py", title="Audit trail", icon=":material/policy:", url_path="audit"))
else:
    pages = [p for p in pages if p.url_path != "import"]
st.navigation(pages).run()
