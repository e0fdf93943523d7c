"""Measures & about: the measure registry with the source of every number, licence notes and where the store is."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from caseload import __version__
from caseload.store import counts
from views._auth import require_viewer
from views._shared import db_path, get_connection, get_registry, measures_file

viewer = require_viewer()
st.title("Measures & about")
registry = get_registry()

st.markdown(
    "Caseload reads every clinical number (cutoffs, reliable change, item ranges) from this registry. "
    "Each number carries its source; where sources disagree, the note says which one Caseload uses. "
    "Questionnaire wording is never stored or shown: the forms belong to their authors."
)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _registry_table() -> pd.DataFrame:
    rows = []
    for m in registry.values():
        rc, strict = m.reliable_change_threshold()
        rows.append(
            {
                "Code": m.code,
                "Name": m.name,
                "Kind": m.kind,
                "Range": f"{m.min:g}–{m.max:g}",
                "Direction": "higher is better" if m.higher_is_better else "higher is worse",
                "Clinical cutoff": _fmt(m.cutoff),
                "Cutoffs by age": ", ".join(f"{k} {v:g}" for k, v in m.cutoffs.items()),
                "Reliable change": ""
                if rc is None
                else f"{rc:.2f}".rstrip("0").rstrip(".") + (" (>)" if strict else " (≥)"),
                "Items": m.n_items,
                "Origin": m.origin,
            }
        )
    return pd.DataFrame(rows)


st.subheader("Measure registry")
st.dataframe(_registry_table(), hide_index=True, width="stretch", key="registry_table")
st.caption(
    "A score strictly on the clinical side of the cutoff counts as clinical; exactly at the cutoff does not. "
    "Reliable change (≥): a change of at least this many points is reliable; (>) derived from reliability "
    "and SD (Jacobson & Truax), the threshold must be exceeded."
)

st.subheader("Sources and licences")
for m in registry.values():
    with st.expander(f"{m.code} — {m.name}"):
        if m.licence:
            st.markdown(f"**Licence:** {m.licence}")
        if m.items:
            labels = m.item_labels or m.items
            st.markdown("**Items (codes, not wording):** " + ", ".join(labels))
        if m.risk_items:
            st.markdown("**Risk items:** " + ", ".join(m.risk_items))
        for key, text in m.sources.items():
            st.markdown(f"- **{key}**: {text}")
        if not m.sources:
            st.caption("No sources recorded for this measure.")

st.subheader("Add or override a measure")
st.markdown(
    "Start Caseload with `caseload app --measures my_measures.toml` (or set `CASELOAD_MEASURES`). "
    "Keys you give replace ours; keys you leave out keep ours."
)
st.code(
    """[measures.HAMD]
name = "Hamilton Depression Rating Scale"
kind = "outcome"            # or "alliance"
higher_is_better = false
min = 0
max = 52
cutoff = 19.9               # strictly on the clinical side is clinical; exactly at the cutoff is not
reliable_change = 6.0       # points; a change of at least this much is reliable""",
    language="toml",
)
if measures_file():
    st.caption(f"Measures file in use: `{measures_file()}`")

st.subheader("About this installation")
con = get_connection()
held = counts(con)
holds = (
    f"- **Holds:** {held['ratings']:,} ratings of {held['clients']:,} clients from "
    f"{held['clinicians']:,} clinicians, in {held['imports']:,} imports\n"
    if viewer.sees_all  # store-wide totals are for those who may see the whole store
    else ""
)
st.markdown(
    f"- **Store:** `{db_path()}` (one DuckDB file; choose another with `caseload app --db FILE` "
    "or the `CASELOAD_DB` environment variable)\n" + holds + f"- **Caseload version:** {__version__}\n"
    "- **Privacy:** the app listens on this computer only (127.0.0.1), sends no usage statistics and "
    "refuses files with direct identifiers. Back up the store file like any clinical record."
)
