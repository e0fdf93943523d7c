"""The Client page's episode panel: every episode of the client, how the chosen one ended, and the client's
own episode gap and age group (issue 8). Writes go through caseload.client_settings and are audited."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from caseload.access import Viewer
from caseload.client_settings import client_settings, record_ending, save_client_settings
from caseload.episodes import ENDING_WORDS, EpisodeRules
from caseload.measures import AGE_GROUPS
from caseload.store import get_setting
from views._auth import audit_action
from views._shared import get_connection

NOT_RECORDED = "not recorded"
ENDING_CHOICES = (NOT_RECORDED, "planned", "unplanned")
ENDING_SOURCE = {"app": "recorded here", "export": "from the export"}
CLOSED_BY = {"recorded": "ending recorded", "no_recent_rating": "no rating for a while"}


def episode_table(episodes: list[dict[str, Any]]) -> pd.DataFrame:
    """The client's episodes as a small table: dates, sessions, state and ending, intake per measure."""
    rows = []
    for e in episodes:
        ending = e.get("ending")
        rows.append(
            {
                "Episode": e.get("episode_id") or f"Episode {e['episode']}",
                "From": e.get("start_date"),
                "To": e.get("end_date"),
                "Sessions": e.get("episode_sessions"),
                "State": "active"
                if e.get("active")
                else f"closed ({CLOSED_BY.get(e.get('closed_by'), '–')})",
                "Ending": (
                    f"{ENDING_WORDS.get(ending, ending)} ({ENDING_SOURCE.get(e.get('ending_source'), '')})"
                    if ending
                    else "–"
                ),
                "Age group": f"{e.get('age_group') or '–'} ({e.get('age_group_source') or '–'})",
            }
        )
    return pd.DataFrame(rows)


def render_episode_panel(
    client: str, episodes: list[dict[str, Any]], episode: dict[str, Any], viewer: Viewer
) -> None:
    """An expander with the episode list and forms for the ending and the client's settings."""
    con = get_connection()
    rules = EpisodeRules.from_settings(con)
    saved = client_settings(con, client)
    with st.expander(f"Episodes ({len(episodes)}), ending and settings for {client}"):
        st.dataframe(episode_table(episodes), hide_index=True, width="stretch", key="episode_table")
        st.caption(
            f"A new episode starts after more than {saved.gap_days or rules.gap_days} days without a rating "
            f"(or where the export gives an episode, or after a recorded ending); an episode without a rating "
            f"for {rules.close_after_days} days counts as closed."
        )
        _ending_form(con, client, episode, viewer)
        _settings_form(con, client, saved, rules, viewer)


def _ending_form(con, client: str, episode: dict[str, Any], viewer: Viewer) -> None:
    ended_on = episode.get("end_date")  # a date, or None for an episode without dates (client_detail)
    label = episode.get("episode_label") or f"Episode {episode['episode']}"
    if ended_on is None:
        st.caption(f"{label} has no dated rating, so its ending cannot be recorded.")
        return
    current = episode.get("ending") if episode.get("ending_source") == "app" else None
    with st.form(key=f"ending_{client}_{episode['episode']}", border=True):
        st.markdown(f"**How did {label} end?**")
        choice = st.radio(
            "Ending",
            ENDING_CHOICES,
            index=ENDING_CHOICES.index(current) if current in ENDING_CHOICES else 0,
            horizontal=True,
            help=f"Recorded against the episode's last rating ({ended_on}). A recorded ending closes the "
            "episode; a later rating starts a new one. Unplanned endings count as dropout in supervision.",
            key=f"ending_choice_{client}_{episode['episode']}",
        )
        if episode.get("ending_source") == "export":
            st.caption(f"The export says: {ENDING_WORDS.get(episode.get('ending'), episode.get('ending'))}.")
        if st.form_submit_button("Save ending"):
            record_ending(
                con, client, ended_on, None if choice == NOT_RECORDED else choice, recorded_by=viewer.username
            )
            audit_action(viewer, "record_ending", client_id=client)
            st.toast(f"Ending of episode {episode['episode']} saved.")
            st.rerun()


def _settings_form(con, client: str, saved, rules: EpisodeRules, viewer: Viewer) -> None:
    default_age = get_setting(con, "default_age_group", "adult")
    age_choices = ["site default", *AGE_GROUPS]
    with st.form(key=f"client_settings_{client}", border=True):
        st.markdown(f"**Settings for {client}**")
        own_gap = st.checkbox(
            f"Use a different episode gap for this client (site default: {rules.gap_days} days)",
            value=saved.gap_days is not None,
            key=f"own_gap_{client}",
        )
        gap = st.number_input(
            "Days without a rating that start a new episode",
            min_value=1,
            max_value=3650,
            value=int(saved.gap_days or rules.gap_days),
            step=1,
            key=f"gap_days_{client}",
        )
        age = st.selectbox(
            "Age group (used where the export does not state one)",
            age_choices,
            index=age_choices.index(saved.age_group) if saved.age_group in age_choices else 0,
            format_func=lambda a: f"site default ({default_age})" if a == "site default" else a,
            key=f"age_group_{client}",
            help="Cutoffs and expected ranges follow the age group (ORS: adult 25, adolescent 28, child 32).",
        )
        if st.form_submit_button("Save settings"):
            save_client_settings(
                con, client, int(gap) if own_gap else None, None if age == "site default" else age
            )
            audit_action(viewer, "client_settings", client_id=client)
            st.toast(f"Settings for {client} saved.")
            st.rerun()
