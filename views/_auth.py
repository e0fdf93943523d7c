"""Sign-in for shared deployments: the form, the signed-in account in the sidebar, and the Viewer pages use.

Sign-in is on when the store holds any user (``caseload user add``); otherwise every page runs as
``Viewer.everyone()``, a single user on their own computer. The session token lives only in this
browser session's state (a reload asks again), and the store decides on every rerun whether it is
still valid, so expiry, sign-out, password changes and removed users take effect at once.
"""

from __future__ import annotations

import streamlit as st

from caseload import audit, auth
from caseload.access import Viewer, viewer_for
from views._shared import get_connection

TOKEN_KEY = "caseload_session_token"
AUDITED_KEY = "caseload_audited"
ROLE_LABELS = {"admin": "Admin", "supervisor": "Supervisor", "clinician": "Clinician"}


def _signed_in_user(con) -> auth.User | None:  # noqa: ANN001 - a store cursor
    token = st.session_state.get(TOKEN_KEY)
    user = auth.session_user(con, token)
    if user is None and token:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state["caseload_session_expired"] = True
    return user


def _sign_in_form(con) -> None:  # noqa: ANN001 - a store cursor
    st.title("Sign in to Caseload")
    if st.session_state.pop("caseload_session_expired", False):
        st.info("Your session has ended. Please sign in again.", icon=":material/timer_off:")
    with st.form("sign_in", border=True):
        username = st.text_input("Username", key="sign_in_username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="sign_in_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        try:
            user = auth.authenticate(con, username, password)
        except auth.AuthError as exc:
            st.error(str(exc), icon=":material/lock:")
            return
        st.session_state[TOKEN_KEY] = auth.start_session(con, user)
        st.session_state.pop("sign_in_password", None)
        st.rerun()
    st.caption("Accounts are managed by your Caseload admin with `caseload user add`.")


def current_viewer() -> Viewer | None:
    """The viewer of this session: everyone when sign-in is off, the signed-in user's, or None."""
    con = get_connection()
    user = _signed_in_user(con)  # one query; a live session implies sign-in is on
    if user is not None:
        return viewer_for(user)
    return Viewer.everyone() if not auth.signin_required(con) else None


def sign_in_page() -> None:
    """The only page there is while nobody is signed in."""
    _sign_in_form(get_connection())


def require_viewer() -> Viewer:
    """The viewer of this session; shows the sign-in form and stops the page when nobody is signed in."""
    viewer = current_viewer()
    if viewer is None:
        sign_in_page()
        st.stop()
    assert viewer is not None
    return viewer


def account_box(viewer: Viewer) -> None:
    """The signed-in account and a sign-out button in the sidebar (nothing when sign-in is off)."""
    if TOKEN_KEY not in st.session_state:
        return
    with st.sidebar:
        scope = (
            "all clinicians"
            if viewer.sees_all
            else ", ".join(sorted(viewer.clinician_ids or [])) or "no clinician codes yet"
        )
        st.caption(
            f":material/account_circle: **{viewer.username}** · {ROLE_LABELS.get(viewer.role, viewer.role)}"
        )
        st.caption(f"Sees: {scope}")
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            con = get_connection()
            audit.record(con, viewer.username, "sign_out")
            auth.end_session(con, st.session_state.pop(TOKEN_KEY, None))
            st.session_state.pop(AUDITED_KEY, None)
            st.rerun()


def audit_once(viewer: Viewer, action: str, client_id: str | None = None, **detail: object) -> None:
    """Record a viewing action once per browser session (reruns of the same view are not new views)."""
    key = (action, client_id, tuple(sorted(detail.items())))
    seen = st.session_state.setdefault(AUDITED_KEY, set())
    if key in seen:
        return
    audit.record(get_connection(), viewer.username, action, client_id=client_id, **detail)
    seen.add(key)


def audit_action(viewer: Viewer, action: str, client_id: str | None = None, **detail: object) -> None:
    """Record an action every time it happens (an export, a print, an import)."""
    audit.record(get_connection(), viewer.username, action, client_id=client_id, **detail)
