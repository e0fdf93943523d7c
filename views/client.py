"""Client: one client's outcome and alliance over sessions, alerts with their reasons, items and sessions.

The client is chosen by ``?client=CODE`` in the URL (measure and episode too), so the view can be shared
and survives a reload. Everything shown comes from ``caseload.engine.client_detail``.
"""

from __future__ import annotations

import streamlit as st

from caseload import charts
from caseload.alerts import RULES
from caseload.audit import AuditError
from caseload.labels import SEVERITY_SYMBOL, alliance_label, category_label, status_label
from caseload.views import (
    band_caption,
    band_frame,
    date_span,
    entry_alerts,
    entry_key,
    entry_ratings,
    episode_entries,
    ratings_frame,
    session_table,
)
from views._auth import audit_once, require_viewer
from views._episode_panel import render_episode_panel
from views._guide_panel import render_guide_panel
from views._shared import (
    client_detail,
    client_ids,
    open_data_page,
    show_chart,
)

MANY_CLIENTS = 5000  # above this a text box replaces the drop-down (sending every code each rerun is slow)
ALLIANCE_MARKED = ("alliance_drop",)

viewer = require_viewer()
con, registry = open_data_page("Client", viewer)

ids = client_ids(con, viewer)
known = set(ids)
wanted = st.query_params.get("client")
if wanted and wanted not in known:
    st.warning(
        f"There is no client “{wanted}” in this store. Choose one below.", icon=":material/person_off:"
    )
if len(ids) <= MANY_CLIENTS:
    client = st.selectbox(
        "Client",
        ids,
        index=None,
        key="client",
        bind="query-params",
        placeholder="Choose or type a client code",
    )
else:
    typed = st.text_input("Client code", key="client", bind="query-params", placeholder="e.g. C00123").strip()
    client = typed if typed in known else None
if client is None:
    st.info("Choose a client, or open one from the Caseload page.", icon=":material/person_search:")
    st.stop()

detail = client_detail(con, registry, client, viewer)
if detail is None or not detail.get("episodes"):
    st.warning(f"No ratings are stored for {client}.", icon=":material/person_off:")
    st.stop()
try:
    audit_once(viewer, "view_client", client_id=client)
except AuditError:  # a code the audit trail cannot hold verbatim is still recorded as a client view
    audit_once(viewer, "view_client")

episodes = detail["episodes"]
episode = episodes[-1]
if len(episodes) > 1:
    labels = {str(e["episode"]): e.get("episode_label") or f"Episode {e['episode']}" for e in episodes}
    chosen = st.selectbox(
        "Episode",
        list(labels),
        index=len(labels) - 1,
        format_func=labels.get,
        key="episode",
        bind="query-params",
        help="A new episode starts after a long gap or where the export says so; each has its own intake.",
    )
    episode = next(e for e in episodes if str(e["episode"]) == chosen)

outcomes, alliances = episode_entries(episode)
alerts = episode.get("alerts") or []
facts = [
    f"**{client}**",
    f"clinician **{episode.get('clinician_id') or '–'}**",
    f"age group **{episode.get('age_group') or '–'}**"
    + (f" ({episode['age_group_source']})" if episode.get("age_group_source") else ""),
    episode.get("episode_label") or "",
    f"{episode.get('episode_sessions', '–')} sessions",
    alliance_label(episode.get("alliance_status")),
]
st.markdown(" · ".join(f for f in facts if f))
render_episode_panel(client, episodes, episode, viewer)

# --- filters: measure and dates ------------------------------------------------------------------------
entry = None
if outcomes:
    keys = [entry_key(e) for e in outcomes]
    choice = keys[0]
    if len(keys) > 1:
        choice = st.segmented_control(
            "Outcome measure", keys, default=keys[0], key="measure", bind="query-params", required=True
        )
        choice = choice or keys[0]
    entry = outcomes[keys.index(choice)]
span = date_span(episode)
date_from = date_to = None
if span and span[0] < span[1]:
    picked = st.date_input(
        "Sessions between",
        value=span,
        min_value=span[0],
        max_value=span[1],
        key=f"client_dates_{client}_{episode['episode']}",
    )
    if isinstance(picked, tuple) and len(picked) == 2:
        date_from, date_to = picked

# --- outcome -----------------------------------------------------------------------------------------
st.subheader("Outcome")
if entry is None:
    st.info(
        "No outcome ratings in this episode (only alliance ratings), so there is no outcome course to show.",
        icon=":material/info:",
    )
else:
    code = str(entry["measure"])
    measure = registry.get(code)
    scores = ratings_frame(entry, date_from, date_to)
    status = entry.get("status")
    n = int(entry.get("t") or len(scores))
    first, latest = entry.get("first_score"), entry.get("latest_score")
    summary = f"**{status_label(status)}** on {entry_key(entry)}"
    if latest is not None and first is not None:
        summary += (
            f": {first:g} at intake → {latest:g} at session {entry.get('latest_session')} "
            f"({latest - first:+.1f}); {category_label(entry.get('change_category'))}."
        )
    else:
        summary += (
            f": intake {first:g}; change and expected range need a second rating."
            if first is not None
            else "."
        )
    st.markdown(summary)
    if measure is None:
        st.warning(
            f"{code} is not in the measure registry, so it cannot be charted against a cutoff or band."
        )
    elif scores.empty:
        st.info(
            f"No {code} ratings between {date_from} and {date_to}. Widen the date range.",
            icon=":material/date_range:",
        )
    else:
        show_chart(
            con,
            ("outcome", client, episode["episode"], entry_key(entry), date_from, date_to, viewer.cache_key()),
            lambda: charts.outcome_chart(
                scores,
                measure,
                age_group=entry.get("population") if entry.get("population") != "default" else None,
                intake=first,
                expected=band_frame(entry),
                expected_caption=band_caption(entry),
                alerts=entry_alerts(alerts, code),
                title=f"{code} — {measure.name}"
                + ("" if (entry.get("rater") or "self") == "self" else f" ({entry['rater']})"),
            ),
        )
        if len(scores) == 1:
            st.caption("One rating so far: the line and the change appear from the second rating.")

# --- alliance ----------------------------------------------------------------------------------------
st.subheader("Alliance")
if not alliances:
    code = episode.get("alliance_code") or "SRS"
    st.info(
        f"No alliance ratings ({code}) in this episode. Asking for one at the end of each session shows "
        "early whether the work feels right to the client.",
        icon=":material/handshake:",
    )
else:
    a_entry = alliances[0]
    a_code = str(a_entry["measure"])
    a_measure = registry.get(a_code)
    a_scores = ratings_frame(a_entry, date_from, date_to)
    if a_measure is None:
        st.warning(f"{a_code} is not in the measure registry.")
    elif a_scores.empty:
        st.info(f"No {a_code} ratings in the chosen dates.", icon=":material/date_range:")
    else:
        show_chart(
            con,
            ("alliance", client, episode["episode"], a_code, date_from, date_to, viewer.cache_key()),
            lambda: charts.alliance_chart(
                a_scores, a_measure, drops=entry_alerts(alerts, a_code, ALLIANCE_MARKED)
            ),
        )


# --- alerts ------------------------------------------------------------------------------------------
def _show_alert(i: int, a: dict) -> None:
    severity = str(a.get("severity", ""))
    where = (
        f"{a.get('measure') or ''} session {a.get('session')}"
        if a.get("session") is not None
        else a.get("measure") or ""
    )
    with st.container(border=True, key=f"alert_{i}"):
        st.markdown(
            f"{SEVERITY_SYMBOL.get(severity, '•')} **{severity.capitalize()}** · {where}  \n{a.get('message', '')}"
        )
        rule = a.get("rule")
        info = RULES.get(rule)
        if info is not None:
            st.caption(f"Rule `{rule}`: {info.checks} Source: {info.source}")


st.subheader(f"Alerts ({len(alerts)})")
if not alerts:
    st.success("No alert for this episode.", icon=":material/check_circle:")
urgent = [(i, a) for i, a in enumerate(alerts) if a.get("severity") in ("critical", "high", "medium")]
notes = [(i, a) for i, a in enumerate(alerts) if a.get("severity") not in ("critical", "high", "medium")]
for i, a in urgent:
    _show_alert(i, a)
if notes:
    # Low-priority notes (a low item, a long gap, a missing rating) stay one click away.
    with st.expander(f"{len(notes)} lower-priority note{'s' if len(notes) > 1 else ''}", expanded=not urgent):
        for i, a in notes:
            _show_alert(i, a)


# --- items -------------------------------------------------------------------------------------------
def _has_items(entry: dict) -> bool:
    return any(r.get("items") for r in entry_ratings(entry))


item_entries = [
    e
    for e in (*outcomes, *alliances)
    if e["measure"] in registry and registry[e["measure"]].items and _has_items(e)
]
st.subheader("Items")
if not item_entries:
    st.caption("No item scores in this episode (the export gave totals only).")
else:
    # Only the open tab is drawn (on_change="rerun" makes the tabs report which one is open).
    tabs = st.tabs(
        [entry_key(e) for e in item_entries], key=f"items_{client}_{episode['episode']}", on_change="rerun"
    )
    for tab, e in zip(tabs, item_entries, strict=True):
        if not tab.open:
            continue
        m = registry[e["measure"]]
        items = charts.items_long(ratings_frame(e, date_from, date_to), m)
        key = ("items", client, episode["episode"], entry_key(e), date_from, date_to, viewer.cache_key())
        with tab:
            if items.empty:
                st.caption(f"No {entry_key(e)} item scores in the chosen dates.")
            elif m.kind == "alliance" and m.item_cutoff is not None:
                show_chart(
                    con, key, lambda items=items, m=m: charts.item_small_multiples(items, m), "content"
                )
            else:
                show_chart(con, key, lambda items=items, m=m: charts.item_heatmap(items, m))

# --- sessions ------------------------------------------------------------------------------------------
st.subheader("Sessions")
table = session_table(episode)
st.dataframe(table, hide_index=True, width="stretch", key="session_table")

# --- preparing the session ------------------------------------------------------------------------------
# The discussion guide (caseload.guide) with checkboxes; the ticked prompts go into the one-page client
# summary (PDF download and print view), built by views/_guide_panel.py.
st.subheader("Prepare the next session")
render_guide_panel(detail, registry, episode=episode["episode"], viewer=viewer)
