"""The discussion guide on the Client page: a checkbox per prompt, and the client summary (PDF download or
browser print view) with the ticked prompts as "what we will talk about next".

Call ``render_guide_panel(detail, registry)`` from a page; nothing here reads the store, so the PDF can be
built on the download click (Streamlit runs a callable ``data`` then) without touching the connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from caseload.guide import DOMAIN_TITLES, PATTERN_DESCRIPTIONS, SECTION_TITLES, Prompt, discussion_guide
from caseload.measures import Measure
from caseload.reports.client_summary import client_summary_pdf

PRINT_PAGE = "views/print_summary.py"
PAPERS = {"A4": "A4", "US Letter": "Letter"}


def guide_key(client_id: str, episode: Any, prompt_id: str) -> str:
    """The session-state key of one prompt's checkbox (per client and episode, so choices do not leak)."""
    return "guide_" + re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{client_id}_{episode}_{prompt_id}")


def ticked_ids(prompts: list[Prompt], client_id: str, episode: Any) -> list[str]:
    """The ids of the prompts ticked in this browser session, in guide order."""
    return [p.id for p in prompts if st.session_state.get(guide_key(client_id, episode, p.id))]


def _why(p: Prompt) -> str:
    names = [
        PATTERN_DESCRIPTIONS.get(t, t) if t in PATTERN_DESCRIPTIONS else f"rule `{t}`" for t in p.triggers
    ]
    return f"{DOMAIN_TITLES.get(p.domain, p.domain)} · triggered by " + ", ".join(names)


def render_guide_panel(
    detail: Mapping[str, Any],
    registry: Mapping[str, Measure],
    episode: int | None = None,
    viewer: Any = None,
) -> list[str]:
    """Show the guide for the client's episode (latest unless given) with a checkbox per prompt, and the
    summary download and print view carrying the ticked prompts; returns the ticked ids.

    With a ``viewer``, each download is written to the audit trail ("printed or downloaded a report").
    """
    client_id = str(detail.get("client_id", ""))
    episodes = detail.get("episodes") or []
    episode = episode if episode is not None else (episodes[-1].get("episode") if episodes else None)
    prompts = discussion_guide(detail, registry, episode=episode)
    if not prompts:
        st.caption("No ratings in this episode yet, so there is nothing to prepare.")
        return []
    st.caption(
        "Prompts for the next session, from this client's alerts and patterns: safety first, then what the data "
        "shows, questions to open the conversation and options to consider. Tick the ones you want to use; "
        "they appear, in plain words, under “What we will talk about next” on the client summary."
    )
    section = None
    for p in prompts:
        if p.section != section:
            section = p.section
            st.markdown(f"**{SECTION_TITLES[section]}**")
        key = guide_key(client_id, episode, p.id)
        if key not in st.session_state:
            st.session_state[key] = p.section == "risk"  # safety prompts start ticked
        st.checkbox(p.clinician, key=key, help=f"For the client: “{p.client}”")
        st.caption(f"{_why(p)} · for the client: “{p.client}”")
    chosen = ticked_ids(prompts, client_id, episode)

    st.markdown("**Client summary**")
    paper_label = st.segmented_control(
        "Paper", list(PAPERS), default="A4", required=True, key=f"guide_paper_{client_id}"
    )
    paper = PAPERS[paper_label or "A4"]
    left, right = st.columns(2)
    left.download_button(
        "Download client summary (PDF)",
        data=lambda: client_summary_pdf(detail, registry, chosen, paper=paper, episode=episode),
        file_name=f"{_safe_name(client_id)}_summary.pdf",
        mime="application/pdf",
        icon=":material/download:",
        key=f"guide_pdf_{client_id}",
        on_click=(lambda: _audit_download(viewer, client_id)) if viewer is not None else "ignore",
        help=f"One page in plain language with {len(chosen)} topic(s) for next time; client code only.",
    )
    params = {"client": client_id, "prompts": ",".join(chosen)}
    if episode is not None:
        params["episode"] = str(episode)
    right.page_link(PRINT_PAGE, label="Open the print view", icon=":material/print:", query_params=params)
    st.caption(f"{len(chosen)} of {len(prompts)} prompts ticked.")
    return chosen


def _audit_download(viewer: Any, client_id: str) -> None:
    from caseload.audit import AuditError
    from views._auth import audit_action

    try:
        audit_action(viewer, "print", client_id=client_id)
    except AuditError:  # a code the audit trail cannot hold verbatim is still recorded as a print
        audit_action(viewer, "print")


def _safe_name(client_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", client_id) or "client"
