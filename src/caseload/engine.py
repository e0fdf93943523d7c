"""The clinical engine: per client episode and outcome measure, change, category, expected band, status and alerts.

``caseload_overview`` returns one row per (client, episode, outcome measure) with these columns:

    client_id, clinician_id   the client and the clinician of the episode's latest rating
    episode                   1, 2, ... per client by start date; episode_label, episode_id (from the export or
                              None), episode_source ('export' or 'gap'), episode_active (bool)
    episode_ending            planned / unplanned / ended (type not known) where recorded, else None;
                              episode_ended_on its date; episode_closed_by 'recorded', 'no_recent_rating'
                              or None (active) -- see episodes.py
    age_group                 from the export (latest in the episode), else set for the client in the app,
                              else the store's default age group; age_group_source says which
    population                whose norms were used: the age group when the measure has a cutoff for it,
                              else 'default'; cutoff is the cutoff that population uses
    measure, rater            the outcome measure; the rater whose ratings drive the row ('self' unless the
                              episode has only collateral ratings of that measure)
    sessions                  ratings of the measure by that rater in the episode
    first_date, latest_date   dates of the first and latest of those ratings (datetime64)
    days_since_last           days from the episode's latest rating (any measure) to ``today``
    first_session, latest_session   episode session numbers (1 = first session of the episode)
    t                         session of the latest rating counted from this measure's intake (1 = intake)
    first_score, latest_score, change (latest - first), improvement (positive = better)
    reliable_change           the registry's reliable-change points
    change_category           recovered / improved / unchanged / deteriorated / harmed / not_enough_data
                              (Jacobson–Truax, as change.classify_change)
    status                    on_track / at_risk / off_track / not_enough_data (see alerts.py)
    expected_p10..expected_p90  the expected band at the latest session (scores; p25 = 25% did worse)
    expected_model, expected_n  'default' (n None) or 'calibrated' with the episodes it rests on
    alliance_measure, alliance_status (ok / concern / not_rated), latest_alliance
    alerts                    list of dicts {rule, severity, message, session, measure, values}, most severe
                              first; episode-wide alerts (risk, alliance, gaps) repeat on each measure's row
                              (None for every row when called with alert_lists=False)
    alert_count               how many alerts the row has
    top_alert, top_severity   the first alert's message and severity (None without alerts)

``client_detail`` returns the same rows for one client plus every rating per measure and rater, and the
expected band per session. Aggregation runs in DuckDB (window functions for episodes, ``arg_min/arg_max``
aggregates per episode); Python works on one row per episode and measure, vectorised. A whole-store
overview reads the per-client part of that work from summaries.py, which recomputes only changed clients.
"""

from __future__ import annotations

import gc
import json
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from caseload import store, summaries
from caseload.access import Viewer
from caseload.alerts import (
    AlertBatch,
    AlertConfig,
    alliance_rules,
    collect,
    dicts_frame,
    long_gap_alerts,
    missing_alliance_alerts,
    outcome_rules,
    risk_alert,
    risk_item_positions,
    sort_alerts,
    sudden_loss_alerts,
    sudden_loss_screen,
    suspicious_intake_alerts,
)
from caseload.episodes import (
    ENDING_WORDS,
    EpisodeRules,
    episode_index_sql,
    ratings_filter,
    split_points_sql,
    sql_text,
    with_ending_sql,
)
from caseload.frames import frame_of, text_column
from caseload.measures import Measure
from caseload.trajectories import (
    BAND_COLUMNS,
    Calibration,
    CalibrationRules,
    DefaultModel,
    calibrate,
    expected_bands,
)

DEFAULT_AGE_GROUP_SETTING = "default_age_group"
TRAJECTORIES = ("auto", "default")

OVERVIEW_COLUMNS = [
    "client_id",
    "clinician_id",
    "episode",
    "episode_label",
    "episode_id",
    "episode_source",
    "episode_active",
    "episode_ending",
    "episode_ended_on",
    "episode_closed_by",
    "age_group",
    "age_group_source",
    "population",
    "cutoff",
    "measure",
    "rater",
    "sessions",
    "first_date",
    "latest_date",
    "days_since_last",
    "first_session",
    "latest_session",
    "t",
    "first_score",
    "latest_score",
    "change",
    "improvement",
    "reliable_change",
    "change_category",
    "status",
    *[f"expected_{c}" for c in BAND_COLUMNS],
    "expected_model",
    "expected_n",
    "alliance_measure",
    "alliance_status",
    "latest_alliance",
    "alerts",
    "alert_count",
    "top_alert",
    "top_severity",
]

_INTERNAL_EPISODE_FIELDS = {"ep_pos", "gidx", "latest_alliance_sn"}
# The episode fields the alert rules read (alliance_rules, _episode_alerts, _assemble).
_RULE_EPISODE_COLUMNS = (
    "min_sn, age_group, alliance_measure, latest_alliance, previous_alliance, latest_alliance_session,"
    " columns('^alliance_item_'), risk_count, risk_measure, risk_item, risk_score, risk_sn, last_outcome_sn,"
    " last_alliance_sn, expects_alliance, alliance_code"
)
_CALIBRATION_CACHE: OrderedDict[tuple, dict[tuple[str, str], Calibration]] = OrderedDict()


def caseload_overview(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    clinician_id: str | None = None,
    active_only: bool = False,
    today: date | None = None,
    trajectory: str = "auto",
    *,
    rules: EpisodeRules | None = None,
    alert_config: AlertConfig | None = None,
    calibration_rules: CalibrationRules | None = None,
    model: DefaultModel | None = None,
    viewer: Viewer | None = None,
    calibrations: dict[tuple[str, str], Calibration] | None = None,
    alert_lists: bool = True,
    keep_summaries: bool = True,
) -> pd.DataFrame:
    """One row per (client, episode, outcome measure): scores, change, category, status, band and alerts.

    ``trajectory="auto"`` calibrates bands from this store's history where it has enough (see
    trajectories.py), ``"default"`` uses the default model only; ``calibrations`` (from
    ``store_calibrations``, e.g. of another store) replaces this store's own. Without ``alert_lists``
    the ``alerts`` column is None and only each row's top alert is written out (every rule still runs, and
    alert_count counts them): what a caseload table shows, at a fraction of the cost on a large store.
    A whole-store overview keeps per-client summaries beside the store for the next call (summaries.py);
    a one-off caller (the command line) passes ``keep_summaries=False`` to skip building them.
    """
    frame, _ = _evaluate(
        con,
        registry,
        today=today,
        trajectory=trajectory,
        clinician_id=clinician_id,
        rules=rules,
        alert_config=alert_config,
        calibration_rules=calibration_rules,
        model=model,
        viewer=viewer,
        calibrations=calibrations,
        alert_lists=alert_lists,
        keep_summaries=keep_summaries,
    )
    if clinician_id is not None:
        frame = frame[frame["clinician_id"] == clinician_id]
    if active_only:
        frame = frame[frame["episode_active"]]
    return frame.reset_index(drop=True)


def client_detail(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    client_id: str,
    today: date | None = None,
    trajectory: str = "auto",
    *,
    rules: EpisodeRules | None = None,
    alert_config: AlertConfig | None = None,
    calibration_rules: CalibrationRules | None = None,
    model: DefaultModel | None = None,
    viewer: Viewer | None = None,
    calibrations: dict[tuple[str, str], Calibration] | None = None,
) -> dict[str, Any] | None:
    """One client's episodes: every rating per measure and rater, expected band used, categories and alerts.

    ``calibrations`` (from ``store_calibrations`` of this store, e.g. cached by the app per data version)
    spares the whole-store fingerprint that finds them otherwise."""
    frame, ctx = _evaluate(
        con,
        registry,
        today=today,
        trajectory=trajectory,
        client_id=client_id,
        rules=rules,
        alert_config=alert_config,
        calibration_rules=calibration_rules,
        model=model,
        viewer=viewer,
        calibrations=calibrations,
    )
    ratings = ctx["ratings"]
    if ratings.empty:
        return None
    episodes = ctx["episodes"]
    out_episodes = []
    for ep in episodes.to_dict("records"):
        rows = frame[frame["episode"] == ep["episode"]]
        er = ratings[ratings["episode"] == ep["episode"]]
        measures = []
        for (code, rater), series in er.groupby(["measure", "rater"], sort=True):
            m = registry.get(code)
            sessions = [
                {
                    "session": int(r.episode_session),
                    "session_number": None if pd.isna(r.session_number) else int(r.session_number),
                    "date": None if pd.isna(r.session_date) else pd.Timestamp(r.session_date).date(),
                    "total": float(r.total),
                    "items": _items(r.items, m),
                }
                for r in series.sort_values("episode_session").itertuples()
            ]
            entry: dict[str, Any] = {
                "measure": code,
                "kind": m.kind if m else None,
                "rater": rater,
                "higher_is_better": m.higher_is_better if m else None,
                "sessions": sessions,
            }
            row = rows[(rows["measure"] == code) & (rows["rater"] == rater)]
            if m is not None and m.kind == "outcome" and not row.empty:
                r0 = row.iloc[0]
                entry.update(_record(r0, exclude={"alerts", "sessions"}))  # keep the per-session list
                entry["expected"] = _band_series(m, r0, ctx, trajectory, model)
            measures.append(entry)
        alerts = []
        for a in (a for lst in rows["alerts"] for a in lst):
            if a not in alerts:
                alerts.append(a)
        out_episodes.append(
            {
                **_plain_dict({k: v for k, v in ep.items() if k not in _INTERNAL_EPISODE_FIELDS}),
                "population": sorted(set(rows["population"])) if not rows.empty else [],
                "status": {r.measure: r.status for r in rows.itertuples() if r.rater == "self"},
                "change_category": {r.measure: r.change_category for r in rows.itertuples()},
                "alliance_status": rows["alliance_status"].iloc[0] if not rows.empty else "not_rated",
                "measures": measures,
                "alerts": sort_alerts(alerts),
            }
        )
    latest = out_episodes[-1]
    return {
        "client_id": client_id,
        "clinician_id": latest.get("clinician_id"),
        "age_group": latest.get("age_group"),
        "episodes": out_episodes,
        "overview": overview_records(frame),
        "alerts": latest["alerts"],
    }


def overview_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The overview as plain dicts: datetime.date for dates, None for missing values, Python numbers."""
    return [_plain_dict(r) for r in frame.to_dict("records")]


# --- evaluation -----------------------------------------------------------------------------------------


def _evaluate(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    *,
    today: date | None,
    trajectory: str,
    client_id: str | None = None,
    clinician_id: str | None = None,
    rules: EpisodeRules | None,
    alert_config: AlertConfig | None,
    calibration_rules: CalibrationRules | None,
    model: DefaultModel | None,
    viewer: Viewer | None = None,
    calibrations: dict[tuple[str, str], Calibration] | None = None,
    alert_lists: bool = True,
    keep_summaries: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    if trajectory not in TRAJECTORIES:
        raise ValueError(f"trajectory must be one of {', '.join(TRAJECTORIES)}, not {trajectory!r}")
    today = today or date.today()
    rules = rules or EpisodeRules.from_settings(con)
    config = alert_config or AlertConfig()
    default_age = store.get_setting(con, DEFAULT_AGE_GROUP_SETTING, "adult")
    if trajectory == "default":
        calibrations = {}
    elif calibrations is None:
        calibrations = store_calibrations(con, registry, rules, default_age, calibration_rules)

    where, params = ratings_filter(client_id, clinician_id, viewer)  # only rows the viewer may see
    # A client's page shows every episode field; the overview reads only these (strings are the dear part
    # of turning 50,000 episodes into a frame).
    ep_columns = "*" if client_id is not None else _OVERVIEW_EPISODE_COLUMNS
    ratings = pd.DataFrame()
    whole_store = client_id is None and clinician_id is None and where == "true"
    if whole_store and keep_summaries and summaries.can_cache(con):
        # The whole store: the per-client summaries are kept beside it and only changed clients recomputed.
        with summaries.lock():
            summaries.refreshed(
                con,
                SUMMARY_NAMES,
                _summary_key(registry, config, rules),
                partial(_fill_summaries, registry=registry, config=config, rules=rules),
            )
            q = _Queries("ratings", "", registry, config)
            episodes, outcome = _episodes_and_outcome(
                con,
                q,
                (summaries.table("episodes"), summaries.table("courses"), summaries.table("losses")),
                (rules, today, default_age),
                ep_columns,
            )
    else:
        source, small_numbers = _source(con, where, params)
        tag = uuid.uuid4().hex[:12]
        splits, core, courses = f"_splits_{tag}", f"_core_{tag}", f"_courses_{tag}"
        try:
            con.execute(
                f"create temp table {splits} as {split_points_sql(source, rules, store_tables=True)}", params
            )
            q = _Queries(source, splits, registry, config, small_numbers)
            # Each reads the ratings twice.
            con.execute(f"create temp table {core} as {q.episode_core()}", params + params)
            con.execute(f"create temp table {courses} as {q.courses()}", params + params)
            episodes, outcome = _episodes_and_outcome(
                con, q, (core, courses, None), (rules, today, default_age), ep_columns
            )
            if client_id is not None:
                ratings = frame_of(con, q.ratings(), params)
        finally:
            for t in (splits, core, courses):
                con.execute(f"drop table if exists {t}")
    with _gc_paused():
        frame = _assemble(episodes, outcome, registry, config, calibrations, default_age, model, alert_lists)
    if not ratings.empty:
        ratings = _with_episodes(ratings, episodes)
    return frame, {"ratings": ratings, "episodes": episodes, "calibrations": calibrations, "today": today}


# The outcome rows' episode fields: row column -> episode column.
_EPISODE_FIELDS = {
    "episode": "episode",
    "min_sn": "min_sn",
    "episode_label": "episode_label",
    "episode_id": "episode_id",
    "episode_source": "episode_source",
    "episode_active": "active",
    "episode_ending": "ending",
    "episode_ended_on": "ended_on",
    "episode_closed_by": "closed_by",
    "clinician_id": "clinician_id",
    "age_group": "age_group",
    "age_group_source": "age_group_source",
    "days_since_last": "days_since_last",
}
_OVERVIEW_EPISODE_COLUMNS = ", ".join(
    [
        _RULE_EPISODE_COLUMNS,
        *(c for c in dict.fromkeys(_EPISODE_FIELDS.values()) if c not in {"min_sn", "age_group"}),
    ]
)  # what the rules read and what the outcome rows take (min_sn and age_group are among the former)


def _episodes_and_outcome(
    con: duckdb.DuckDBPyConnection,
    q: _Queries,
    relations: tuple[str, str, str | None],
    episode_args: tuple[EpisodeRules, date, str],
    ep_columns: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The episode frame (ep_pos = its row) and one row per (client, episode, outcome measure) with its
    episode's fields, from relations holding episode_core(), courses() and (or None) the sudden losses."""
    core, courses, losses = relations
    episodes = frame_of(
        con, f"select {ep_columns} from ({q.episode_table(*episode_args, core)}) order by client_id, episode"
    )
    episodes.insert(0, "ep_pos", np.arange(len(episodes), dtype=np.int64))
    outcome = frame_of(con, q.outcome(core, courses, losses))
    pos = outcome["ep_pos"].to_numpy()
    for name, column in _EPISODE_FIELDS.items():
        outcome[name] = episodes[column].array.take(pos)
    return episodes, outcome


SUMMARY_NAMES = ("episodes", "courses", "losses")


def _summary_sqls(q: _Queries) -> dict[str, str]:
    """The SQL of the summaries kept per client (sudden losses are found in Python from the courses)."""
    return {"episodes": q.episode_core(), "courses": q.courses()}


def _summary_key(registry: dict[str, Measure], config: AlertConfig, rules: EpisodeRules) -> str:
    """The summaries' cache key: their SQL on a placeholder source, which holds every rule and parameter."""
    source = "(select * from ratings where client_id in __clients__)"
    q = _Queries(source, "__splits__", registry, config)
    splits = split_points_sql(source, rules, store_tables=True)
    # The sudden losses are found in Python: every measure and alert setting is part of the key as well.
    return summaries.query_key(
        splits, *_summary_sqls(q).values(), repr(sorted(registry.items())), repr(config)
    )


def _fill_summaries(
    con: duckdb.DuckDBPyConnection,
    clients: str | None,
    tables: Mapping[str, str],
    create: bool,
    *,
    registry: dict[str, Measure],
    config: AlertConfig,
    rules: EpisodeRules,
) -> None:
    """Write the episode and course summaries of ``clients`` into the cache tables (inside the caller's
    transaction: on an error it rolls back, this splits table with it)."""
    source, small_numbers = _source(con, "true" if clients is None else f"client_id in {clients}", [])
    splits = f"_splits_{uuid.uuid4().hex[:12]}"
    con.execute(f"create temp table {splits} as {split_points_sql(source, rules, store_tables=True)}")
    q = _Queries(source, splits, registry, config, small_numbers)
    for name, sql in _summary_sqls(q).items():
        target = tables[name]
        con.execute(f"create table {target} as {sql}" if create else f"insert into {target} by name {sql}")
    con.execute(f"drop table {splits}")
    # Sudden losses: a course's own ratings decide them (gains.py, in Python), so they are kept as well.
    losses = tables["losses"]
    if create:
        con.execute(
            f"create table {losses} (client_id varchar, episode_key varchar, measure varchar, rater varchar,"
            " alerts varchar)"
        )
    courses = frame_of(
        con,
        f"select c.client_id, c.episode_key, c.measure, c.rater, c.loss_scores, c.loss_sns, e.min_sn"
        f" from {tables['courses']} c join {tables['episodes']} e using (client_id, episode_key)"
        f" where c.loss_scores is not null{'' if clients is None else f' and c.client_id in {clients}'}",
    )
    by_row: dict[int, list[dict[str, Any]]] = {}
    for i, a in _sudden_losses(courses, registry, config):
        by_row.setdefault(i, []).append(a)
    if by_row:
        found = courses.iloc[sorted(by_row)][["client_id", "episode_key", "measure", "rater"]]
        found = found.assign(alerts=[json.dumps(by_row[i]) for i in sorted(by_row)])
        con.register("_found_losses", found)
        try:
            con.execute(f"insert into {losses} by name select * from _found_losses")
        finally:
            con.unregister("_found_losses")


def _source(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> tuple[str, bool]:
    """The ratings relation to read (session numbers filled by date rank only if the store lacks some), and
    whether every session number lies in 0..SMALL_SESSION_MAX (so sessions can be counted with bitmaps)."""
    missing, large = con.execute(
        f"select count(*) filter (where session_number is null), count(*) filter (where session_number < 0"
        f" or session_number > {SMALL_SESSION_MAX}) from ratings where ({where})",
        params,
    ).fetchall()[0]
    if not missing:
        return f"(select * from ratings where {where})", not large
    # Ratings stored without a session number are numbered by the rank of their date (as the importer does).
    return (
        f"(select * replace (coalesce(session_number, dense_rank() over (partition by client_id "
        f"order by session_date))::integer as session_number) from ratings where {where})"
    ), False


SMALL_SESSION_MAX = 123  # two 62-bit masks


def _distinct_sessions(small_numbers: bool) -> str:
    """SQL aggregate: distinct session numbers in the group. count(distinct) costs a hash table per group
    (a third of the episode query); with session numbers 0..123 two bit masks give the same count."""
    sn = "r.session_number"
    if not small_numbers:
        return f"count(distinct {sn})"
    return (
        f"(coalesce(bit_count(bit_or(case when {sn} between 0 and 61 then 1::bigint << {sn} end)), 0)"
        f" + coalesce(bit_count(bit_or(case when {sn} between 62 and 123 then 1::bigint << ({sn} - 62) end)), 0))"
    )


# Orders a client's ratings by date, then session number; undated ratings last.
_ORD = (
    "(coalesce(date_diff('day', DATE '1970-01-01', r.session_date::date), 99999999)::bigint * 1000000"
    " + coalesce(r.session_number, 0))"
)


class _Queries:
    """The engine's SQL over the store: episode, outcome and alliance aggregates in one pass each."""

    def __init__(
        self,
        source: str,
        splits: str,
        registry: dict[str, Measure],
        config: AlertConfig,
        small_numbers: bool = False,
    ):
        self.source, self.splits, self.registry, self.config = source, splits, registry, config
        self.small_numbers = small_numbers
        self.outcome_codes = [c for c, m in registry.items() if m.kind == "outcome"]
        self.alliance_codes = [c for c, m in registry.items() if m.kind == "alliance"]
        self.base = self.base_as("r")
        self.gidx = "r.gidx"

    def base_as(self, alias: str) -> str:
        """The viewer's ratings with ord (date, then session order) and gidx (gap episode), as ``alias``."""
        return (
            f"(select r.*, {_ORD} as ord, {episode_index_sql('r', 'p')} as gidx"
            f" from {self.source} r left join {self.splits} p using (client_id)) {alias}"
        )

    def episodes(self) -> str:
        risk = risk_item_positions(self.registry)
        value_cases, item_cases, thr_cases = [], [], []
        for code, items in risk.items():
            values = [f"coalesce(r.items[{pos}], -1e9)" for _, pos, _ in items]
            value_cases.append(
                f"when '{code}' then " + (values[0] if len(values) == 1 else f"greatest({', '.join(values)})")
            )
            item_cases.append(
                f"when '{code}' then case "
                + " ".join(f"when r.items[{pos}] > {thr} then '{item}'" for item, pos, thr in items)
                + " end"
            )
            thr_cases.append(f"when '{code}' then {items[0][2]}")
        hit = (
            f"((case r.measure {' '.join(value_cases)} end) > (case r.measure {' '.join(thr_cases)} end))"
            if value_cases
            else "false"
        )
        risk_value = f"(case r.measure {' '.join(value_cases)} end)" if value_cases else "null::double"
        risk_item = f"(case r.measure {' '.join(item_cases)} end)" if item_cases else "null::varchar"
        outcome_in, alliance_in = _in_list(self.outcome_codes), _in_list(self.alliance_codes)
        # The risk expressions run once per rating (in the inner select), and one arg_max of a struct takes
        # the measure, item, score and session from the same rating (separate ones could differ on a tie).
        return f"""
select client_id, episode_id, gidx, start_date, end_date, min_sn, episode_sessions, clinician_id, age_group,
    last_outcome_sn, last_alliance_sn, alliance_code, expects_alliance, risk_count,
    risk.measure as risk_measure, risk.item as risk_item, risk.score as risk_score, risk.sn as risk_sn,
    export_ending, export_ended_on
from (
select r.client_id, any_value(r.episode_id) as episode_id, r.gidx,
    min(r.session_date)::date as start_date,
    max(r.session_date)::date as end_date,
    min(r.session_number) as min_sn,
    {_distinct_sessions(self.small_numbers)}::integer as episode_sessions,
    arg_max(r.clinician_id, r.ord) as clinician_id,
    arg_max(r.age_group, r.ord) filter (where r.age_group is not null) as age_group,
    max(r.session_number) filter (where r.measure in {outcome_in} and r.rater = 'self') as last_outcome_sn,
    max(r.session_number) filter (where r.measure in {alliance_in} and r.rater = 'self') as last_alliance_sn,
    arg_max(r.measure, r.ord) filter (where r.measure in {alliance_in} and r.rater = 'self') as alliance_code,
    bool_or(r.measure in {_in_list(self.config.alliance_expected_with)}) as expects_alliance,
    count(*) filter (where r.risk_hit) as risk_count,
    arg_max({{'measure': r.measure, 'item': r.risk_item, 'score': r.risk_value, 'sn': r.session_number}}, r.ord)
        filter (where r.risk_hit) as risk,
    arg_max(r.ending, r.ord) filter (where r.ending is not null) as export_ending,
    max(r.session_date::date) filter (where r.ending is not null) as export_ended_on
from (select r.*, {hit} as risk_hit, {risk_value} as risk_value, {risk_item} as risk_item from {self.base}) r
group by r.client_id, r.episode_id, r.gidx
)
"""

    def courses(self) -> str:
        """Per (client, episode, outcome measure), the course that drives its row (the client's own ratings,
        else the busiest rater's): counts, first and latest ratings, the long gap and, where a sudden loss
        is possible, the whole course."""
        sign_cases, rc_cases = [], []
        for code in self.outcome_codes:
            m = self.registry[code]
            rc, _ = m.reliable_change_threshold()
            sign_cases.append(f"when '{code}' then {1 if m.higher_is_better else -1}")
            if rc is not None:
                rc_cases.append(f"when '{code}' then {float(rc)}")
        sign = f"(case measure {' '.join(sign_cases)} end)"
        rc = f"(case measure {' '.join(rc_cases)} end)" if rc_cases else "null::double"
        long_gap = int(self.config.long_gap_days)
        keys = "client_id, episode_id, gidx, measure, rater"
        same = " and ".join(f"f.{k} is not distinct from w.{k}" for k in keys.split(", "))
        gap = "date_diff('day', prev_d, d)"
        order = "w.ord, w.total"  # as the course window orders
        return f"""
with w as (
    -- Each outcome rating beside the one before it in its course, ordered by ord (date, then session number:
    -- both are in ord, and the source fills every session number) and then score: steps and gaps come from
    -- plain aggregates, with no list per course.
    select r.client_id, r.episode_id, r.gidx, r.measure, r.rater, r.ord, r.total, r.session_number,
        r.session_date::date as d,
        row_number() over course as k,
        lag(r.total) over course as prev_total,
        lag(r.session_date::date) over course as prev_d,
        lead(r.ord) over course is not null as has_next
    from {self.base}
    where r.measure in {_in_list(self.outcome_codes)}
    window course as (partition by r.client_id, r.episode_id, r.gidx, r.measure, r.rater
        order by r.ord, r.total)
),
o as (
    select client_id, any_value(episode_id) as episode_id, gidx, measure, rater,
        count(*)::integer as sessions,
        arg_min(session_number, ord) as first_sn,
        arg_max(session_number, ord) as latest_sn,
        min(d) as first_date,
        max(d) as latest_date,
        arg_min(total, ord) as first_score,
        arg_max(total, ord) as latest_score,
        -- A sudden loss needs criteria 1 and 2 between ratings 2..n-1 (suddengains never tests the first
        -- or last interval); only episodes with such a step are screened further (alerts.py) and tested.
        bool_or(k >= 3 and has_next
            and -{sign} * (total - prev_total) >= {rc} - 1e-9
            and abs(total - prev_total) >= {float(self.config.sudden_loss_pct)} * abs(prev_total) - 1e-9)
            as worst_step,
        arg_max({gap}, k) filter (where {gap} > {long_gap}) as long_gap_days,
        arg_max(session_number, k) filter (where {gap} > {long_gap}) as long_gap_sn
    from w
    group by client_id, episode_id, gidx, measure, rater
),
l as (
    -- The whole course only where a sudden loss is possible (a few in a hundred), read again from the
    -- ratings: cheaper than keeping every windowed rating of w for them.
    select w.client_id, w.episode_id, w.gidx, w.measure, w.rater,
        list(w.total order by {order}) as loss_scores, list(w.session_number order by {order}) as loss_sns
    from {self.base_as("w")} semi join (select {keys} from o where worst_step) f on {same}
    where w.measure in {_in_list(self.outcome_codes)}
    group by w.client_id, w.episode_id, w.gidx, w.measure, w.rater
),
g as (
    select o.*, l.loss_scores, l.loss_sns
    from o left join l on {same.replace("f.", "o.").replace("w.", "l.")}
)
-- The client's own ratings drive a row; an episode with only collateral ratings uses the busiest rater.
select *, coalesce('x:' || episode_id, 'g:' || gidx::varchar) as episode_key from g
qualify row_number() over (
    partition by client_id, episode_id, gidx, measure order by rater = 'self' desc, sessions desc, rater) = 1
"""

    def outcome(self, core: str, courses: str, losses: str | None = None) -> str:
        """One row per (client, episode, outcome measure) with ep_pos, the position of its episode when
        ordered by client and episode number; ``core`` and ``courses`` hold episode_core() and courses(),
        ``losses`` (if given) the courses' sudden-loss alerts as JSON, which then replace their ratings."""
        drop = "worst_step, episode_id, gidx" + (", loss_scores, loss_sns" if losses else "")
        found = f"left join {losses} s using (client_id, episode_key, measure, rater)" if losses else ""
        return f"""
select p.* exclude ({drop}),{" s.alerts as loss_alerts," if losses else ""} e.ep_pos
from {courses} p join (
    select client_id, episode_key, (row_number() over (order by client_id, episode) - 1)::bigint as ep_pos
    from {core}
) e using (client_id, episode_key) {found}
order by e.ep_pos, p.measure
"""

    def _alliance_items(self) -> str:
        """The latest alliance rating's items as columns alliance_item_1..k (from a.latest_items)."""
        k = max([self.registry[c].n_items for c in self.alliance_codes] or [0])
        if k == 0:
            return "null as alliance_item_1"
        return ", ".join(f"a.latest_items[{i}] as alliance_item_{i}" for i in range(1, k + 1))

    def episode_core(self) -> str:
        """Episodes numbered per client with their latest alliance rating: what depends on the client alone
        (ratings, and through the gap splits the client's gap setting and recorded endings), not on today."""
        return f"""
with k as (
    select *, coalesce('x:' || episode_id, 'g:' || gidx::varchar) as episode_key from ({self.episodes()})
),
a as ({self.latest_alliance()})
select k.*,
    row_number() over (
        partition by client_id order by start_date is null, start_date, episode_key)::integer as episode,
    case when k.episode_id is null then 'gap' else 'export' end as episode_source,
    a.alliance_measure, a.latest_alliance_sn,
    a.latest_alliance_sn - k.min_sn + 1 as latest_alliance_session,
    a.last_two[1] as latest_alliance, a.last_two[2] as previous_alliance,
    {self._alliance_items()}
from k left join a using (client_id, episode_key)
"""

    def episode_table(self, rules: EpisodeRules, today: date, default_age: str, core: str) -> str:
        """Episodes numbered per client, labelled, active or closed, with the latest alliance ratings;
        ``core`` is a relation holding ``episode_core()``."""
        day = f"DATE '{today.isoformat()}'"
        return f"""
with d as (
    select k.*,
        date_diff('day', end_date, {day})::integer as days_since_last,
        c.age_group as set_age_group
    from {core} k left join client_settings c using (client_id)
),
r as ({with_ending_sql("d", rules, True)}),
n as (
    select r.* exclude (age_group, set_age_group),
        coalesce(r.age_group, r.set_age_group, {sql_text(default_age)}) as age_group,
        case when r.age_group is not null then 'export'
             when r.set_age_group is not null then 'client setting' else 'default setting' end
            as age_group_source
    from r
)
select n.*,
    coalesce(n.episode_id, 'Episode ' || n.episode::varchar) || ' ('
        || case when n.start_date is null then 'no dates'
                when n.end_date is null or n.start_date = n.end_date then strftime(n.start_date, '%Y-%m-%d')
                else strftime(n.start_date, '%Y-%m-%d') || ' to ' || strftime(n.end_date, '%Y-%m-%d') end
        || ', ' || case n.ending {" ".join(f"when '{k}' then '{v}'" for k, v in ENDING_WORDS.items())}
                    else case when n.active then 'active' else 'closed' end end || ')' as episode_label
from n
"""

    def latest_alliance(self) -> str:
        """Per episode, the latest alliance rating (of the measure rated last)."""
        return f"""
select * from ({self.alliance()})
qualify row_number() over (partition by client_id, episode_key order by _ord desc, alliance_measure desc) = 1
"""

    def alliance(self) -> str:
        return f"""
select r.client_id, any_value(r.episode_id) as episode_id, r.gidx,
    coalesce('x:' || any_value(r.episode_id), 'g:' || r.gidx::varchar) as episode_key,
    r.measure as alliance_measure,
    arg_max(r.session_number, r.ord) as latest_alliance_sn,
    arg_max(r.total, r.ord, 2) as last_two,
    arg_max(r.items, r.ord) as latest_items,
    max(r.ord) as _ord
from {self.base}
where r.measure in {_in_list(self.alliance_codes)} and r.rater = 'self'
group by r.client_id, r.episode_id, r.gidx, r.measure
"""

    def ratings(self) -> str:
        return f"""
select r.client_id, r.clinician_id, r.episode_id, {self.gidx} as gidx, r.age_group,
    r.session_date::date as session_date, r.session_number, r.measure, r.rater, r.items, r.total,
    r.total_source, r.import_id
from {self.base}
order by r.measure, r.rater, r.ord
"""


def _keys(frame: pd.DataFrame) -> pd.Series:
    """episode_key per row from episode_id and gap index ('x:<id>' or 'g:<n>')."""
    gap = "g:" + frame["gidx"].astype("int64").astype(str)
    explicit = "x:" + frame["episode_id"].astype(str)
    return pd.Series(np.where(frame["episode_id"].isna(), gap, explicit), index=frame.index)


def _with_episodes(ratings: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """One client's ratings with episode number and episode_session."""
    ratings = ratings.copy()
    ratings["episode_key"] = _keys(ratings)
    ep = episodes[["episode_key", "episode", "min_sn"]]
    ratings = ratings.merge(ep, on="episode_key", how="left")
    ratings["episode_session"] = (ratings["session_number"] - ratings["min_sn"] + 1).astype("Int64")
    return ratings.drop(columns=["gidx", "min_sn"])


def _assemble(
    episodes: pd.DataFrame,
    outcome: pd.DataFrame,
    registry: dict[str, Measure],
    config: AlertConfig,
    calibrations: dict[tuple[str, str], Calibration],
    default_age: str,
    model: DefaultModel | None,
    alert_lists: bool = True,
) -> pd.DataFrame:
    """Bands, categories, status and alerts for the joined rows; return the documented columns."""
    if outcome.empty:
        return pd.DataFrame(columns=OVERVIEW_COLUMNS)
    ep = episodes
    ep["age_group"] = ep["age_group"].fillna(default_age)
    ep_status, alliance_alerts = alliance_rules(ep, registry, config)
    episode_alerts = AlertBatch.concat([alliance_alerts, *_episode_alerts(ep, registry)])

    rows = outcome
    pos = rows["ep_pos"].to_numpy()
    rows["age_group"] = rows["age_group"].fillna(default_age)
    rows["alliance_measure"] = text_column(ep["alliance_measure"].to_numpy(dtype=object)[pos])
    rows["alliance_status"] = text_column(ep_status.to_numpy(dtype=object)[pos])
    rows["latest_alliance"] = ep["latest_alliance"].to_numpy(dtype=float)[pos]
    rows["first_session"] = (rows["first_sn"] - rows["min_sn"] + 1).astype(int)
    rows["latest_session"] = (rows["latest_sn"] - rows["min_sn"] + 1).astype(int)
    measures = rows["measure"].to_numpy(dtype=object)
    ages = rows["age_group"].to_numpy(dtype=object)
    rows["population"] = text_column(
        [a if a in registry[m].cutoffs else "default" for m, a in zip(measures, ages, strict=True)]
    )
    pops = rows["population"].to_numpy(dtype=object)
    cut_of = {
        (m, p): _none_nan(registry[m].cutoff_for(None if p == "default" else p))
        for m, p in set(zip(measures, pops, strict=True))
    }
    rows["cutoff"] = [cut_of[k] for k in zip(measures, pops, strict=True)]
    rc_of = {m: _none_nan(registry[m].reliable_change_threshold()[0]) for m in set(measures)}
    rows["reliable_change"] = [rc_of[m] for m in measures]
    rows["latest_score"] = np.where(rows["sessions"] >= 2, rows["latest_score"], np.nan)
    rows["t"] = (rows["latest_sn"] - rows["first_sn"] + 1).astype(int)
    band = {c: np.full(len(rows), np.nan) for c in BAND_COLUMNS}
    expected_model = np.full(len(rows), None, dtype=object)
    expected_n = np.full(len(rows), np.nan)
    for (code, pop), idx in rows.groupby(["measure", "population"], sort=False).indices.items():
        bands = expected_bands(
            registry[code],
            rows["first_score"].to_numpy(dtype=float)[idx],
            rows["t"].to_numpy(dtype=int)[idx],
            None if pop == "default" else pop,
            calibrations.get((code, pop)),
            model,
        )
        for c in BAND_COLUMNS:
            band[c][idx] = bands[c].to_numpy(dtype=float)
        expected_model[idx] = bands["model"].to_numpy(dtype=object)
        expected_n[idx] = bands["n"].to_numpy(dtype="float64", na_value=np.nan)
    single = rows["sessions"].to_numpy() < 2
    expected_model[single] = None
    for c in BAND_COLUMNS:
        rows[c] = band[c]
    rows["expected_model"] = text_column(expected_model)
    rows["expected_n"] = pd.array(np.where(np.isnan(expected_n), pd.NA, expected_n), dtype="Int64")

    judged, outcome_alerts = outcome_rules(rows, registry, config, calibrations, model)
    rows = pd.concat([rows, judged], axis=1)
    # Episode-wide alerts (risk, alliance, missing alliance) repeat on each of the episode's measure rows.
    found = collect(
        [
            outcome_alerts,
            suspicious_intake_alerts(rows, registry, config),
            *_row_alerts(rows, registry, config),
        ],
        len(rows),
        shared=[episode_alerts],
        group=pos,
        lists=alert_lists,
    )
    rows["alerts"] = found.alerts if alert_lists else None
    rows["alert_count"] = found.count
    rows["top_alert"] = text_column(found.top_message)
    rows["top_severity"] = text_column(found.top_severity)
    rows["change"] = rows["latest_score"] - rows["first_score"]
    rows = rows.rename(columns={c: f"expected_{c}" for c in BAND_COLUMNS})
    rows["episode_active"] = rows["episode_active"].astype(bool)
    return rows[OVERVIEW_COLUMNS].reset_index(drop=True)


def _row_alerts(rows: pd.DataFrame, registry: dict[str, Measure], config: AlertConfig) -> list[AlertBatch]:
    """Per outcome row: long gaps and sudden losses (found here, or read from the summaries' JSON)."""
    min_sn = rows["min_sn"].to_numpy(dtype=float)
    measures = rows["measure"].to_numpy(dtype=object)
    gap_days = rows["long_gap_days"].to_numpy(dtype=float)
    gaps = np.flatnonzero(~np.isnan(gap_days))
    gap_session = rows["long_gap_sn"].to_numpy(dtype=float)[gaps] - min_sn[gaps] + 1
    frames = [long_gap_alerts(gaps, gap_days[gaps], gap_session, measures[gaps], config)]
    if "loss_alerts" in rows:
        texts = rows["loss_alerts"].to_numpy(dtype=object)
        found = [(int(i), a) for i in np.flatnonzero(pd.notna(texts)) for a in json.loads(texts[i])]
    else:
        found = _sudden_losses(rows, registry, config)
    frames.append(dicts_frame(found))
    return frames


def _sudden_losses(
    rows: pd.DataFrame, registry: dict[str, Measure], config: AlertConfig
) -> list[tuple[int, dict[str, Any]]]:
    """(row position, alert) for every sudden loss in the courses that carry their ratings (loss_scores,
    loss_sns: only where a loss is possible); min_sn turns session numbers into episode sessions."""
    min_sn = rows["min_sn"].to_numpy(dtype=float)
    measures = rows["measure"].to_numpy(dtype=object)
    loss_scores = rows["loss_scores"].to_numpy(dtype=object)
    loss_sns = rows["loss_sns"].to_numpy(dtype=object)
    found = []
    candidates = np.flatnonzero([isinstance(v, (list, np.ndarray)) for v in loss_scores])
    for code in dict.fromkeys(measures[candidates]):
        m = registry[code]
        rows_m = candidates[measures[candidates] == code]
        sessions = [(np.asarray(loss_sns[i], dtype=np.int64) - int(min_sn[i]) + 1).tolist() for i in rows_m]
        scores = [np.asarray(loss_scores[i], dtype=float).tolist() for i in rows_m]
        keep = sudden_loss_screen(m, sessions, scores, config)
        for j in np.flatnonzero(keep).tolist():
            for a in sudden_loss_alerts(m, sessions[j], scores[j], config):
                found.append((int(rows_m[j]), a))
    return found


def _episode_alerts(ep: pd.DataFrame, registry: dict[str, Measure]) -> list[AlertBatch]:
    """Alerts that belong to the whole episode: risk items and missing alliance ratings (row = episode)."""
    min_sn = ep["min_sn"].to_numpy(dtype=float)
    risky = np.flatnonzero(ep["risk_count"].to_numpy() > 0)
    found = []
    if len(risky):
        cols = ["risk_measure", "risk_item", "risk_score", "risk_sn", "risk_count"]
        for i, rec in zip(risky.tolist(), ep.iloc[risky][cols].to_dict("records"), strict=True):
            if rec["risk_measure"] in registry:
                found.append(
                    (
                        i,
                        risk_alert(
                            registry[rec["risk_measure"]],
                            rec["risk_item"],
                            float(rec["risk_score"]),
                            int(rec["risk_sn"] - min_sn[i] + 1),
                            int(rec["risk_count"]),
                        ),
                    )
                )
    last_outcome = ep["last_outcome_sn"].to_numpy(dtype=float)
    last_alliance = ep["last_alliance_sn"].to_numpy(dtype=float)
    uses = ~np.isnan(last_alliance) | ep["expects_alliance"].fillna(False).to_numpy(dtype=bool)
    missing = np.flatnonzero(
        ~np.isnan(last_outcome) & uses & (np.isnan(last_alliance) | (last_alliance < last_outcome))
    )
    codes = ep["alliance_code"].to_numpy(dtype=object)[missing]
    codes = np.where([isinstance(c, str) for c in codes], codes, _alliance_name(registry))
    return [
        dicts_frame(found),
        missing_alliance_alerts(missing, codes, last_outcome[missing] - min_sn[missing] + 1),
    ]


def _alliance_name(registry: dict[str, Measure]) -> str:
    names = [c for c, m in registry.items() if m.kind == "alliance"]
    return "SRS" if "SRS" in names else (names[0] if names else "alliance")


# --- calibration from the store's history ---------------------------------------------------------------


def history_frame(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    rules: EpisodeRules,
    default_age: str = "adult",
    max_session: int = 20,
) -> pd.DataFrame:
    """Every self rating of an outcome measure at sessions 2..max_session of its episode, with its intake.

    Columns: measure, population, episode_key, intake, session (1 = the measure's intake), improvement,
    improved (whether the episode's latest rating of the measure shows reliable improvement) and ended (an
    ending in the export or recorded in the app, or no rating for close_after_days before the store's newest
    rating): only ended
    episodes count toward the chance of ending without reliable improvement.
    """
    outcome = {c: m for c, m in registry.items() if m.kind == "outcome"}
    columns = [
        "measure",
        "population",
        "episode_key",
        "intake",
        "session",
        "improvement",
        "improved",
        "ended",
    ]
    if not outcome:
        return pd.DataFrame(columns=columns)
    sign_cases = " ".join(f"when '{c}' then {1 if m.higher_is_better else -1}" for c, m in outcome.items())
    pop_cases = " ".join(
        f"when f.measure = '{c}' and a.age in {_in_list(list(m.cutoffs))} then a.age"
        for c, m in outcome.items()
        if m.cutoffs
    )
    pop_expr = f"case {pop_cases} else 'default' end" if pop_cases else "'default'"
    improved_cases = (
        " ".join(
            f"when '{c}' then f.final {'>' if strict else '>='} {round(rc, 9)}"
            for c, m in outcome.items()
            for rc, strict in [m.reliable_change_threshold()]
            if rc is not None
        )
        or "when '' then null"
    )
    splits = f"_splits_{uuid.uuid4().hex[:12]}"
    con.execute(f"create temp table {splits} as {split_points_sql('ratings', rules, store_tables=True)}")
    # Episodes are grouped and joined by (client, export episode, gap index), NULL-safe; the text key is
    # made once per course, not once per rating.
    same = "b.client_id = {o}.client_id and b.episode_id is not distinct from {o}.episode_id and b.gidx = {o}.gidx"
    sql = f"""
with r as (
    select r.*, {episode_index_sql("r", "p")} as gidx, {_ORD} as ord
    from ratings r left join {splits} p using (client_id)
),
b as (
    select client_id, episode_id, gidx, measure, session_number as sn, ord, total
    from r where rater = 'self' and measure in {_in_list(list(outcome))}
),
a as (
    select r.client_id, r.episode_id, r.gidx,
        coalesce(arg_max(r.age_group, r.ord) filter (where r.age_group is not null), any_value(c.age_group), ?)
            as age,
        bool_or(r.ending is not null) or bool_or(x.ended_on is not null)
            or max(r.session_date) < (select max(session_date) from ratings) - {int(rules.close_after_days)}
            as ended
    from r left join client_settings c using (client_id)
        left join episode_endings x on x.client_id = r.client_id and x.ended_on = r.session_date::date
    group by r.client_id, r.episode_id, r.gidx
),
f as (
    select client_id, episode_id, gidx, measure,
        client_id || coalesce('#x:' || episode_id, '#g:' || gidx::varchar) as episode_key,
        arg_min(total, ord) as intake, arg_min(sn, ord) as s0,
        round((case measure {sign_cases} end) * (arg_max(total, ord) - arg_min(total, ord)), 9) as final
    from b group by client_id, episode_id, gidx, measure having count(*) >= 2
)
select f.measure, {pop_expr} as population, f.episode_key, f.intake,
    (b.sn - f.s0 + 1)::integer as session,
    (case b.measure {sign_cases} end) * (b.total - f.intake) as improvement,
    coalesce(case f.measure {improved_cases} end, false) as improved, coalesce(a.ended, false) as ended
from b join f on {same.format(o="f")} and b.measure = f.measure
    join a on {same.format(o="a")}
where b.sn - f.s0 + 1 between 2 and {int(max_session)}
"""
    try:
        return frame_of(con, sql, [default_age])
    finally:
        con.execute(f"drop table if exists {splits}")


def store_calibrations(
    con: duckdb.DuckDBPyConnection,
    registry: dict[str, Measure],
    rules: EpisodeRules | None = None,
    default_age: str | None = None,
    calibration_rules: CalibrationRules | None = None,
) -> dict[tuple[str, str], Calibration]:
    """Calibrations per (measure, population) from the whole store, cached until the store's ratings change.

    Only (measure, population) pairs with at least ``min_n`` episodes of two or more ratings get one.
    """
    rules = rules or EpisodeRules.from_settings(con)
    default_age = default_age or store.get_setting(con, DEFAULT_AGE_GROUP_SETTING, "adult")
    cal_rules = calibration_rules or CalibrationRules()
    fingerprint = con.execute(
        "select count(*), coalesce(bit_xor(hash(client_id, clinician_id, episode_id, age_group, session_date,"
        " session_number, measure, rater, total, ending)), 0),"
        " (select coalesce(bit_xor(hash(client_id, ended_on, ending)), 0) from episode_endings),"
        " (select coalesce(bit_xor(hash(client_id, gap_days, age_group)), 0) from client_settings)"
        " from ratings"
    ).fetchall()[0]
    measures_key = tuple(
        (
            c,
            m.higher_is_better,
            m.min,
            m.max,
            tuple(sorted(m.cutoffs.items())),
            m.cutoff,
            m.reliable_change_threshold(),
        )
        for c, m in sorted(registry.items())
        if m.kind == "outcome"
    )
    key = (fingerprint, rules, default_age, cal_rules, measures_key)
    if key in _CALIBRATION_CACHE:
        _CALIBRATION_CACHE.move_to_end(key)
        return _CALIBRATION_CACHE[key]
    history = history_frame(con, registry, rules, default_age, cal_rules.max_session)
    if cal_rules.reference == "improved":
        history = history[history["improved"]]
    out: dict[tuple[str, str], Calibration] = {}
    for (code, pop), part in history.groupby(["measure", "population"], sort=False):
        if part["episode_key"].nunique() < cal_rules.min_n:
            continue
        out[(code, pop)] = calibrate(registry[code], part, pop, cal_rules)
    _CALIBRATION_CACHE[key] = out
    while len(_CALIBRATION_CACHE) > 8:
        _CALIBRATION_CACHE.popitem(last=False)
    return out


def _band_series(
    m: Measure, row: pd.Series, ctx: dict[str, Any], trajectory: str, model: DefaultModel | None
) -> dict[str, Any]:
    """The expected band for each session of an episode (to a few sessions past the latest): for charts."""
    pop = row["population"]
    cal = ctx["calibrations"].get((m.code, pop)) if trajectory == "auto" else None
    last = int(row["t"]) if not pd.isna(row["t"]) else 1
    sessions = np.arange(1, max(last + 4, 8) + 1)
    bands = expected_bands(
        m,
        np.full(len(sessions), float(row["first_score"])),
        sessions,
        None if pop == "default" else pop,
        cal,
        model,
    )
    first_session = int(row["first_session"])
    per_session = []
    for b in bands.to_dict("records"):
        per_session.append(
            {
                "t": int(b["session"]),
                "session": int(b["session"]) + first_session - 1,
                **{c: float(b[c]) for c in BAND_COLUMNS},
                "model": b["model"],
                "n": None if pd.isna(b["n"]) else int(b["n"]),
            }
        )
    used = row["expected_model"]
    return {
        "model": used,
        "n": None if pd.isna(row["expected_n"]) else int(row["expected_n"]),
        "population": pop,
        "calibrated_episodes": cal.episodes if cal is not None else None,
        "bands": per_session,
    }


_GC_LOCK = threading.Lock()
_GC_PAUSES = [0, False]  # active pauses, whether the first one turned the collector off


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while alerts are built: a whole store makes some 250,000
    small dicts, and the collections they trigger cost about a third of the Python work. Nested and
    concurrent pauses are counted; the collector comes back on when the last one ends."""
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            _GC_PAUSES[1] = gc.isenabled()
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0 and _GC_PAUSES[1]:
                gc.enable()


# --- small helpers --------------------------------------------------------------------------------------


def _in_list(values) -> str:
    values = list(values)
    if not values:
        return "(null)"
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def _none_nan(x: float | None) -> float:
    return np.nan if x is None else float(x)


def _items(items: Any, m: Measure | None) -> dict[str, float | None] | None:
    if items is None or items is pd.NA or (isinstance(items, float) and math.isnan(items)):
        return None
    values = list(items)
    names = (
        list(m.items)
        if m is not None and len(m.items) == len(values)
        else [f"item_{i + 1}" for i in range(len(values))]
    )
    return {n: (None if v is None or pd.isna(v) else float(v)) for n, v in zip(names, values, strict=True)}


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:  # NaT first: it is also a datetime
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _plain_dict(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in record.items()}


def _record(row: pd.Series, exclude: set[str] = frozenset()) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items() if k not in exclude}
