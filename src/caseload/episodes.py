"""Episodes of care: which ratings belong to one course of treatment, and whether that course is still open.

Change, expected bands and alerts are computed per episode from its own intake (issue 8). Rules:

* An episode id stored with the ratings (from the export) is used as given.
* Ratings without one are split by time: a new episode starts when more than ``gap_days`` (default 90) lie
  between a rating and the client's previous rating; exactly ``gap_days`` stays in the same episode.
  Ratings without a date stay in the episode of the client's previous dated rating.
* A client's episodes are numbered 1, 2, ... by their first date.
* An episode is active while its latest rating is at most ``close_after_days`` (default 60) before ``today``,
  closed after that. An episode without any date counts as active (it cannot be shown to be over).
* ``episode_session`` numbers the sessions inside an episode from 1: the stored session number minus the
  episode's first session number plus 1 (so numbering that continues across episodes restarts per episode),
  or, without session numbers, the rank of the session date.

The rules run as DuckDB SQL (window functions) so the whole store is assigned in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from caseload import store

GAP_DAYS_SETTING = "episode_gap_days"
CLOSE_AFTER_SETTING = "episode_close_after_days"


@dataclass(frozen=True)
class EpisodeRules:
    """When a new episode starts and when one counts as closed; both configurable per site."""

    gap_days: int = 90  # issue 8: "a configurable gap, e.g. 90 days, starts a new episode"
    close_after_days: int = 60  # no rating for this many days closes an episode [our default; configurable]

    @classmethod
    def from_settings(cls, con: duckdb.DuckDBPyConnection) -> EpisodeRules:
        """The rules saved in the store's settings, defaults where none are saved."""
        gap = store.get_setting(con, GAP_DAYS_SETTING)
        close = store.get_setting(con, CLOSE_AFTER_SETTING)
        return cls(
            gap_days=int(gap) if gap else cls.gap_days,
            close_after_days=int(close) if close else cls.close_after_days,
        )


def episode_ratings_sql(
    source: str, rules: EpisodeRules, gap_overrides: Mapping[str, int] | None = None
) -> str:
    """SQL over the relation ``source`` (ratings columns) adding episode, episode_key and episode_session.

    ``gap_overrides`` maps client ids to their own gap in days (set per client in the app). The ``?``
    placeholders are none: every number is an integer formatted into the text.
    """
    gap_expr = str(int(rules.gap_days))
    overrides = ""
    if gap_overrides:
        values = ", ".join(f"({_sql_text(cid)}, {int(days)})" for cid, days in gap_overrides.items())
        overrides = f", gap_override(client_id, gap_days) as (values {values})"
        gap_expr = f"coalesce(o.gap_days, {int(rules.gap_days)})"
        join = "left join gap_override o using (client_id)"
    else:
        join = ""
    return f"""
with src as (select * replace (session_date::date as session_date) from {source}){overrides},
ordered as (
    select s.*,
        lag(s.session_date ignore nulls) over (
            partition by s.client_id, s.episode_id is null
            order by s.session_date nulls last, s.session_number nulls last
        ) as _prev_date,
        {gap_expr} as _gap
    from src s {join}
),
keyed as (
    select *,
        case when episode_id is not null then 'x:' || episode_id
             else 'g:' || sum(case when session_date - _prev_date > _gap then 1 else 0 end) over (
                    partition by client_id, episode_id is null
                    order by session_date nulls last, session_number nulls last
                    rows between unbounded preceding and current row)
        end as episode_key
    from ordered
),
starts as (
    select client_id, episode_key, min(session_date) as _start
    from keyed group by client_id, episode_key
),
numbered as (
    select client_id, episode_key,
        row_number() over (partition by client_id order by _start nulls last, episode_key)::integer as episode
    from starts
)
select k.* exclude (_prev_date, _gap), n.episode,
    coalesce(
        k.session_number - min(k.session_number) over (partition by k.client_id, n.episode) + 1,
        dense_rank() over (partition by k.client_id, n.episode order by k.session_date)
    )::integer as episode_session
from keyed k join numbered n using (client_id, episode_key)
"""


def episode_ratings(
    con: duckdb.DuckDBPyConnection,
    rules: EpisodeRules | None = None,
    client_id: str | None = None,
    clinician_id: str | None = None,
    gap_overrides: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Every stored rating (optionally one client's or clinician's) with its episode and episode_session."""
    rules = rules or EpisodeRules.from_settings(con)
    where, params = _where(client_id, clinician_id)
    source = f"(select {', '.join(store.RATING_COLUMNS)} from ratings where {where})"
    sql = episode_ratings_sql(source, rules, gap_overrides)
    return con.execute(
        sql
        + " order by client_id, episode, measure, rater, session_date nulls last, session_number nulls last",
        params,
    ).df()


def episode_table_sql(rated: str, rules: EpisodeRules) -> str:
    """SQL giving one row per (client, episode) from a relation that already carries episode columns.

    Takes ``today`` as the one ``?`` parameter.
    """
    return f"""
select client_id, episode,
    any_value(episode_key) as episode_key,
    any_value(episode_id) as episode_id,
    case when any_value(episode_id) is not null then 'export' else 'gap' end as episode_source,
    min(session_date) as start_date,
    max(session_date) as end_date,
    count(distinct episode_session)::integer as sessions,
    date_diff('day', max(session_date), ?::date)::integer as days_since_last,
    coalesce(date_diff('day', max(session_date), ?::date) <= {int(rules.close_after_days)}, true) as active
from {rated}
group by client_id, episode
"""


def episodes(
    con: duckdb.DuckDBPyConnection,
    rules: EpisodeRules | None = None,
    today: date | None = None,
    client_id: str | None = None,
    clinician_id: str | None = None,
    gap_overrides: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per (client, episode): label, start and end date, sessions, days since last rating, active."""
    rules = rules or EpisodeRules.from_settings(con)
    today = today or date.today()
    where, params = _where(client_id, clinician_id)
    source = f"(select {', '.join(store.RATING_COLUMNS)} from ratings where {where})"
    rated = f"({episode_ratings_sql(source, rules, gap_overrides)})"
    sql = episode_table_sql(rated, rules)
    frame = con.execute(sql + " order by client_id, episode", [today, today, *params]).df()
    return _labelled(frame)


def assign_episodes(
    ratings: pd.DataFrame, rules: EpisodeRules | None = None, today: date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same rules over a ratings frame (canonical long layout): (ratings with episode columns, episodes)."""
    rules = rules or EpisodeRules()
    today = today or date.today()
    frame = ratings.copy()
    for column in ("episode_id", "session_number", "session_date"):
        if column not in frame:
            frame[column] = None
    frame["session_date"] = pd.to_datetime(frame["session_date"])
    con = duckdb.connect()
    try:
        con.register("incoming", frame)
        rated = con.execute(
            episode_ratings_sql("incoming", rules)
            + " order by client_id, episode, session_date nulls last, session_number nulls last"
        ).df()
        con.register("rated", rated)
        table = con.execute(
            episode_table_sql("rated", rules) + " order by client_id, episode", [today, today]
        ).df()
    finally:
        con.close()
    return rated, _labelled(table)


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a human label per episode: 'Episode 2 (2026-01-05 to 2026-03-30, active)'."""
    if frame.empty:
        frame["episode_label"] = pd.Series(dtype="str")
        return frame

    def label(row) -> str:
        start = "" if pd.isna(row.start_date) else pd.Timestamp(row.start_date).date().isoformat()
        end = "" if pd.isna(row.end_date) else pd.Timestamp(row.end_date).date().isoformat()
        span = f"{start} to {end}" if start and start != end else start or "no dates"
        state = "active" if row.active else "closed"
        name = (
            f"Episode {row.episode}"
            if row.episode_id is None or pd.isna(row.episode_id)
            else str(row.episode_id)
        )
        return f"{name} ({span}, {state})"

    frame["episode_label"] = [label(r) for r in frame.itertuples()]
    return frame


def _where(client_id: str | None, clinician_id: str | None) -> tuple[str, list[object]]:
    where, params = ["true"], []
    if client_id is not None:
        where.append("client_id = ?")
        params.append(client_id)
    if clinician_id is not None:
        # Whole clients, so a client's episodes do not change with the clinician filter.
        where.append("client_id in (select client_id from ratings where clinician_id = ?)")
        params.append(clinician_id)
    return " and ".join(where), params


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
