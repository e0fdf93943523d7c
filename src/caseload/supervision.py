"""Per-clinician aggregates for supervision, computed on the engine's caseload overview.

One outcome measure at a time (intake means of different measures cannot be averaged). Each row of the
overview is one (client, episode, measure), so each episode counts once. Groups with fewer episodes than
the minimum are reported as "too few to compare": their shares and effect size are withheld, never
ranked. Clinicians are listed by code, not by result, and effect sizes carry a 95% confidence interval.
Aggregating here (pandas over the engine's frame, at most one row per episode and measure) keeps the
figures identical to what the Caseload page shows.

Figures on closed episodes (issue 8; the ICCE indices in rom-systems-and-rules.md 3.6):

* a *good outcome* is reliable improvement from the episode's intake to its last rating (improved or
  recovered), the same test the Caseload page uses;
* an episode's *ending* is the one recorded (export or app): planned or unplanned. Where none is recorded,
  a closed episode that ended after at most DROPOUT_MAX_SESSIONS rated sessions without reliable
  improvement counts as an *inferred* unplanned ending; any other unrecorded ending stays "not recorded";
* *dropout* = unplanned endings (recorded + inferred) among closed episodes, split by whether the outcome
  was good at the last rating;
* sessions and weeks per closed episode: rated sessions of the measure, and weeks from its first to its
  last rating.
"""

from __future__ import annotations

import math

import pandas as pd

from caseload.change import pre_post_effect_size
from caseload.labels import DETERIORATED_CATEGORIES, IMPROVED_CATEGORIES
from caseload.measures import Measure
from caseload.views import most_urgent_first

MIN_N = 10
DROPOUT_MAX_SESSIONS = 2
TOO_FEW = "too few to compare"
TEAM = "Whole team"

SUMMARY_COLUMNS = [
    "clinician_id",
    "clients",
    "episodes",
    "active_episodes",
    "intake_mean",
    "sessions_per_episode",
    "with_change",
    "improved_pct",
    "recovered_pct",
    "deteriorated_pct",
    "off_track_pct",
    "effect_size",
    "effect_size_low",
    "effect_size_high",
    "closed_episodes",
    "good_outcome_pct",
    "planned_endings",
    "unplanned_endings",
    "inferred_unplanned",
    "endings_not_recorded",
    "dropout_pct",
    "dropout_good",
    "dropout_not_good",
    "sessions_per_closed",
    "weeks_per_closed",
    "comparable",
    "note",
]


def _pct(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else float("nan")


def _group_row(name: str, rows: pd.DataFrame, measure: Measure, min_n: int) -> dict[str, object]:
    active = rows["episode_active"].fillna(False).astype(bool)
    changed = rows[rows["change_category"].notna() & (rows["change_category"] != "not_enough_data")]
    closed = rows[~active]
    endings = closing_kind(closed)
    good = closed["change_category"].isin(IMPROVED_CATEGORIES)
    closed_changed = closed["change_category"].notna() & (closed["change_category"] != "not_enough_data")
    dropout = endings.isin(["unplanned", "inferred_unplanned"])
    closed_comparable = len(closed) >= min_n
    weeks = (pd.to_datetime(closed["latest_date"]) - pd.to_datetime(closed["first_date"])).dt.days.astype(
        float
    ) / 7.0
    n_change = len(changed)
    comparable = n_change >= min_n
    es = (
        pre_post_effect_size(
            changed["first_score"].tolist(), changed["latest_score"].tolist(), measure.higher_is_better
        )
        if comparable
        else None
    )
    if es is not None and es.value is None:
        es = None
    withheld = float("nan")
    notes = [] if comparable else [f"{TOO_FEW} (n = {n_change} with a change; minimum {min_n})"]
    if not closed_comparable and (comparable or len(closed)):
        notes.append(f"closed-episode shares withheld (n = {len(closed)} closed; minimum {min_n})")
    note = "; ".join(notes)
    return {
        "clinician_id": name,
        "clients": int(rows["client_id"].nunique()),
        "episodes": len(rows),
        "active_episodes": int(active.sum()),
        "intake_mean": float(rows["first_score"].mean()) if len(rows) else float("nan"),
        "sessions_per_episode": float(rows["sessions"].mean()) if len(rows) else float("nan"),
        "with_change": n_change,
        "improved_pct": _pct(int(changed["change_category"].isin(IMPROVED_CATEGORIES).sum()), n_change)
        if comparable
        else withheld,
        "recovered_pct": _pct(int((changed["change_category"] == "recovered").sum()), n_change)
        if comparable
        else withheld,
        "deteriorated_pct": _pct(
            int(changed["change_category"].isin(DETERIORATED_CATEGORIES).sum()), n_change
        )
        if comparable
        else withheld,
        "off_track_pct": _pct(int((rows.loc[active, "status"] == "off_track").sum()), int(active.sum()))
        if comparable
        else withheld,
        "effect_size": es.value if es else withheld,
        "effect_size_low": es.ci_low if es else withheld,
        "effect_size_high": es.ci_high if es else withheld,
        "closed_episodes": len(closed),
        "good_outcome_pct": _pct(int((good & closed_changed).sum()), int(closed_changed.sum()))
        if closed_comparable
        else withheld,
        "planned_endings": int((endings == "planned").sum()),
        "unplanned_endings": int((endings == "unplanned").sum()),
        "inferred_unplanned": int((endings == "inferred_unplanned").sum()),
        "endings_not_recorded": int((endings == "not_recorded").sum()),
        "dropout_pct": _pct(int(dropout.sum()), len(closed)) if closed_comparable else withheld,
        "dropout_good": int((dropout & good).sum()),
        "dropout_not_good": int((dropout & ~good).sum()),
        "sessions_per_closed": float(closed["sessions"].mean()) if len(closed) else float("nan"),
        "weeks_per_closed": float(weeks.mean()) if len(closed) else float("nan"),
        "comparable": comparable,
        "note": note,
    }


def closing_kind(closed: pd.DataFrame) -> pd.Series:
    """How each closed episode ended: planned, unplanned (recorded), inferred_unplanned or not_recorded."""
    recorded = closed["episode_ending"]
    early = (closed["sessions"] <= DROPOUT_MAX_SESSIONS) & ~closed["change_category"].isin(
        IMPROVED_CATEGORIES
    )
    kind = pd.Series("not_recorded", index=closed.index, dtype=object)
    kind[early.to_numpy()] = "inferred_unplanned"
    kind[(recorded == "planned").to_numpy()] = "planned"
    kind[(recorded == "unplanned").to_numpy()] = "unplanned"
    return kind


def clinician_summary(
    overview: pd.DataFrame, measure: Measure, min_n: int = MIN_N, include_team: bool = True
) -> pd.DataFrame:
    """One row per clinician (by code, not by result) for one outcome measure, plus a whole-team row.

    Shares are of episodes with a first and a latest score (``with_change``); off track is of active
    episodes; the good-outcome share and dropout are of closed episodes (see the module docstring).
    Groups with ``with_change`` below ``min_n`` withhold shares and effect size, and groups with fewer
    closed episodes than ``min_n`` withhold the closed-episode shares (NaN, with a note), so small
    caseloads are never ranked on noise; counts are always shown. The effect size is
    caseload.change.pre_post_effect_size (pre-post d with a Becker 1988 95% CI).
    """
    rows = overview[overview["measure"] == measure.code] if not overview.empty else overview
    if rows.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    out = [
        _group_row(str(name), group, measure, min_n)
        for name, group in rows.groupby(rows["clinician_id"].fillna("(no clinician)"), sort=True)
    ]
    if include_team and len(out) > 1:
        out.append(_group_row(TEAM, rows, measure, min_n))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def clients_to_discuss(overview: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """Active episodes that are off track or at risk, have an alliance concern, or carry a critical or
    high alert (an endorsed risk item, a reliable deterioration), most urgent first."""
    if overview.empty:
        return overview.copy()
    active = overview["episode_active"].fillna(False).astype(bool)
    serious = overview["top_severity"].isin(["critical", "high"])  # the most severe alert comes first
    flagged = overview[
        active
        & (
            overview["status"].isin(["off_track", "at_risk"])
            | (overview["alliance_status"] == "concern")
            | serious.astype(bool)
        )
    ]
    ordered = most_urgent_first(flagged)
    return ordered.head(limit) if limit else ordered


# The summary table's columns in two groups, so a screen shows each without scrolling sideways: how every
# episode went so far, and how the closed ones ended. Clinician leads both.
OUTCOME_TABLE_COLUMNS = [
    "Clinician",
    "Clients",
    "Episodes",
    "Active",
    "Intake mean",
    "Sessions per episode",
    "With change",
    "% reliably improved",
    "% recovered",
    "% deteriorated",
    "% off track now",
    "Effect size (95% CI)",
]
CLOSED_TABLE_COLUMNS = [
    "Clinician",
    "Closed episodes",
    "% good outcome (closed)",
    "Endings planned / unplanned / inferred unplanned / not recorded",
    "% dropout",
    "Dropouts good / not good at last rating",
    "Sessions per closed episode",
    "Weeks per closed episode",
]


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The clinician summary as people read it: rounded figures, the CI in words, withheld cells as text."""

    def cell(value: float, comparable: bool, fmt: str) -> str:
        if not comparable:
            return TOO_FEW
        return (
            "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)
        )

    rows = []
    for r in summary.itertuples(index=False):
        es = (
            TOO_FEW
            if not r.comparable
            else (
                "–"
                if math.isnan(r.effect_size)
                else f"{r.effect_size:.2f} ({r.effect_size_low:.2f} to {r.effect_size_high:.2f})"
            )
        )
        rows.append(
            {
                "Clinician": r.clinician_id,
                "Clients": r.clients,
                "Episodes": r.episodes,
                "Active": r.active_episodes,
                "Intake mean": round(r.intake_mean, 1) if not math.isnan(r.intake_mean) else None,
                "Sessions per episode": round(r.sessions_per_episode, 1)
                if not math.isnan(r.sessions_per_episode)
                else None,
                "With change": r.with_change,
                "% reliably improved": cell(r.improved_pct, r.comparable, ".0f"),
                "% recovered": cell(r.recovered_pct, r.comparable, ".0f"),
                "% deteriorated": cell(r.deteriorated_pct, r.comparable, ".0f"),
                "% off track now": cell(r.off_track_pct, r.comparable, ".0f"),
                "Effect size (95% CI)": es,
                "Closed episodes": r.closed_episodes,
                "% good outcome (closed)": cell(r.good_outcome_pct, not math.isnan(r.good_outcome_pct), ".0f")
                if r.closed_episodes >= 1
                else "–",
                "Endings planned / unplanned / inferred unplanned / not recorded": (
                    f"{r.planned_endings} / {r.unplanned_endings} / {r.inferred_unplanned} / "
                    f"{r.endings_not_recorded}"
                ),
                "% dropout": cell(r.dropout_pct, not math.isnan(r.dropout_pct), ".0f")
                if r.closed_episodes >= 1
                else "–",
                "Dropouts good / not good at last rating": f"{r.dropout_good} / {r.dropout_not_good}",
                "Sessions per closed episode": None
                if math.isnan(r.sessions_per_closed)
                else round(r.sessions_per_closed, 1),
                "Weeks per closed episode": None
                if math.isnan(r.weeks_per_closed)
                else round(r.weeks_per_closed, 1),
            }
        )
    return pd.DataFrame(rows)
