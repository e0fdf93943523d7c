"""Alert rules: each alert has a stable rule id, a severity, the numbers that fired it and a plain explanation.

The rules work on plain frames the engine builds (one row per client episode and outcome measure, or per
client episode for alliance, risk and data quality), vectorised so a whole caseload is checked at once: each
rule returns an ``AlertBatch`` (its alerts column-wise, with ``rows`` = positions in the frame it was given)
and ``collect`` ranks them per row, most severe first, writing out the alert dicts -- or only each row's top
message, which is all a caseload table shows -- on request.
Every threshold lives in ``AlertConfig`` or in the measure registry, with its source in ``RULES``.

Status of an outcome measure at its latest rating in the episode, from the chance that the course ends
without reliable improvement given intake, session and change so far (trajectories.outcome_probability:
the share of similar ended episodes in the caseload's history, else Caseload's default model):
  * not_enough_data: only the intake rating;
  * off_track: that chance is at least ``off_track_probability`` (80%), or a reliable deterioration since intake;
    an intake already on the healthy side of the cutoff stays at most at_risk (unless reliably worse);
  * at_risk: at least ``at_risk_probability`` (two in three);
  * on_track: otherwise.
A measure without a reliable-change threshold has no such chance; its status falls back on the expected band
(off_track below the 10th percentile, at_risk below the 25th).
Alliance status of an episode: not_rated (no alliance rating), concern (latest rating below the measure's
cutoff, or a drop of at least the registry's drop_threshold from the previous rating), ok otherwise.
A risk item endorsed at any rating in the episode gives a critical alert, which sorts before every other.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from caseload.frames import TEXT_DTYPE
from caseload.gains import sudden_losses
from caseload.measures import Measure
from caseload.trajectories import Calibration, DefaultModel, outcome_probability

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
STATUSES = ("on_track", "at_risk", "off_track", "not_enough_data")
ALLIANCE_STATUSES = ("ok", "concern", "not_rated")


@dataclass(frozen=True)
class Rule:
    """One alert rule: stable id, default severity, what it checks and where its threshold comes from."""

    id: str
    severity: str
    checks: str
    source: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "risk_item",
            "critical",
            "A risk item (PHQ-9 item 9, CORE-10 item 6) scored above the registry's risk_threshold (0) at any "
            "rating in the episode. Overrides every other alert.",
            "PHQ-9 item 9 > 0 calls for a risk follow-up (akello PHQ9.md; PMC8411661); CORE-10 item 6 is its "
            "risk item; critical items override all colours in OQ/Lambert CSTs (rom-systems 4.2).",
        ),
        Rule(
            "off_track",
            "high",
            "The chance of ending without reliable improvement, given the intake, the session and the change so "
            "far, is at least AlertConfig.off_track_probability (80%): the share of similar ended episodes in "
            "this caseload (similar intake and similar change at the same session, at least 30), else "
            "Caseload's default model. Without a reliable-change threshold: below the 10th percentile of the "
            "expected band. An intake already on the healthy side of the cutoff is at most at_risk (unless "
            "reliably worse): off track is kept for a course that is failing.",
            "Predicted treatment failure as in Lambert's OQ signals (Finch, Lambert & Schaalje 2001) and Lutz's "
            "nearest-neighbour failure boundary, where empirical beat rational rules (Lutz et al. 2006); "
            "success probability (SPI, Miller 2024): rom-systems 2.1, 2.4, 3.4. 80% = issue 4's off_track PPV "
            "aim: with calibrated chances, clients flagged at 80% or more end poorly at least 80% of the time.",
        ),
        Rule(
            "reliable_deterioration",
            "high",
            "The latest score is worse than the intake by at least the measure's reliable change.",
            "Jacobson & Truax (1991) reliable change; points from the measure registry.",
        ),
        Rule(
            "at_risk",
            "medium",
            "The chance of ending without reliable improvement is at least AlertConfig.at_risk_probability "
            "(two in three) but under the off_track probability, or at least the off_track probability for "
            "an intake on the healthy side of the cutoff. Without a reliable-change threshold: below "
            "the 25th percentile of the expected band (but not the 10th).",
            "Outcome-referenced like off_track (rom-systems 3.4). Two in three is our threshold [not published]: "
            "on synthetic caseloads it flags about the 45% of clients issue 4 allows at session 4; "
            "benchmarks/alert_quality.py --sweep shows the trade-off. Band fallback: Dutch CDOI 25th percentile.",
        ),
        Rule(
            "sudden_loss",
            "medium",
            "A sudden loss between two consecutive sessions (Tang & DeRubeis criteria as in suddengains): "
            "worse by at least the reliable change, by at least 25% of the earlier score, and the means of up "
            "to three ratings either side differ beyond the t critical value. 'low' once the loss reversed.",
            "Tang & DeRubeis (1999); suddengains 0.7.2 (Wiedemann et al. 2020); criterion 1 from the "
            "registry's reliable change.",
        ),
        Rule(
            "no_reliable_change",
            "medium",
            "By session 4 (AlertConfig.no_change_session) of the measure, change since intake is still smaller "
            "than the reliable change in either direction.",
            "'No ORS change by session 3-4: ask whether the work is helping' (PCOMS training, rom-systems 4.1; "
            "rational fallback 3.4.5).",
        ),
        Rule(
            "alliance_below_cutoff",
            "medium",
            "The latest alliance rating is below the measure's cutoff (SRS: 36).",
            "SRS below 36 is an alliance concern (OpenFIT KA-01028); cutoff from the registry.",
        ),
        Rule(
            "alliance_drop",
            "medium",
            "The latest alliance rating is lower than the previous one by at least the registry's "
            "drop_threshold (SRS: 1 point).",
            "OpenFIT turns the SRS alert red on a drop of 1 point or more (support.openfit.care 204000069702).",
        ),
        Rule(
            "low_alliance_item",
            "low",
            "An item of the latest alliance rating is below the registry's item_cutoff (SRS: 9).",
            "Practitioner convention: discuss any SRS item below 9 (hiboop.com; another vendor uses 7.5).",
        ),
        Rule(
            "long_gap",
            "info",
            "More than AlertConfig.long_gap_days (35) passed between two ratings of an outcome measure in the episode.",
            "Sessions are mostly weekly or fortnightly (formats-and-norms 3.3) [threshold: our default].",
        ),
        Rule(
            "missing_alliance",
            "info",
            "The latest session has an outcome rating but no alliance rating, in an episode that has alliance "
            "ratings or uses a measure listed in AlertConfig.alliance_expected_with (ORS, CORS).",
            "PCOMS: the SRS at the end of every session (rom-systems 4.1); OpenFIT: skipped feedback below 10%.",
        ),
        Rule(
            "suspicious_intake",
            "info",
            "The intake lies on the non-clinical side of the cutoff, or within AlertConfig.ceiling_share (10%) "
            "of the best end of the scale.",
            "About a quarter of clients start above the cutoff and change little; high intakes are common for "
            "mandated clients (psychoutcomes.org ClinicalCutoffScore; KA-01028; betteroutcomesnow 2017).",
        ),
    )
}


@dataclass(frozen=True)
class AlertConfig:
    """Thresholds of the alert rules; each one's source is in ``RULES``."""

    # Chance of ending without reliable improvement that makes a client at risk / off track (RULES has sources).
    at_risk_probability: float = 2 / 3
    off_track_probability: float = 0.8
    # Band percentiles, used only for measures without a reliable-change threshold.
    at_risk_percentile: int = 25
    off_track_percentile: int = 10
    no_change_session: int = 4
    sudden_loss_pct: float = 0.25  # Tang & DeRubeis criterion 2
    long_gap_days: int = 35
    ceiling_share: float = 0.10
    alliance_expected_with: tuple[str, ...] = ("ORS", "CORS")

    def __post_init__(self) -> None:
        for name in ("at_risk_percentile", "off_track_percentile"):
            if getattr(self, name) not in (10, 25, 50, 75, 90):
                raise ValueError(f"{name} must be one of the band percentiles 10, 25, 50, 75, 90")
        if self.off_track_percentile > self.at_risk_percentile:
            raise ValueError("off_track_percentile must not exceed at_risk_percentile")
        if not 0 < self.at_risk_probability <= self.off_track_probability <= 1:
            raise ValueError("need 0 < at_risk_probability <= off_track_probability <= 1")


def fmt(value: float | None, decimals: int = 1) -> str:
    """A score as shown to a therapist: the measure's decimals, without a trailing '.0'."""
    if value is None or value != value:
        return "-"
    if decimals <= 0:
        text = f"{value:.0f}"
    else:
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _nums(values: Any, decimals: int = 1) -> pa.Array:
    """``fmt`` for a whole array at once (Arrow compute): rounded to the decimals, no trailing zeros, '-' for NaN."""
    values = np.asarray(values, dtype=float)
    arr = pa.array(values, from_pandas=True)
    rounded = pc.round(arr, max(int(decimals), 0))
    if decimals <= 0 and not np.isinf(values).any():
        rounded = pc.cast(rounded, pa.int64())  # whole numbers: the same text, 2-3x faster to write
    text = pc.cast(rounded, pa.string())
    text = pc.if_else(pc.equal(text, "-0"), "0", text)
    return pc.fill_null(text, "-")


def num(values: Any, decimals: int = 1) -> pd.Series:
    """``fmt`` for a whole array at once, as a string Series."""
    return pd.Series(_nums(values, decimals), dtype=TEXT_DTYPE)


def _texts(values: Any) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), pa.string())


def _score_at_session(m: Measure, score: np.ndarray, session: np.ndarray) -> tuple[str | pa.Array, ...]:
    """The opening of an outcome message, per alert: '<measure> <score> at session <t>'."""
    return (f"{m.code} ", _nums(score, m.decimals), " at session ", _nums(session, 0))


def _join(*parts: str | pa.Array) -> list[str]:
    """Messages for many alerts at once: the parts (text repeated, or one string per alert) joined in order."""
    return pc.binary_join_element_wise(*parts, "").to_pylist()


def alert(
    rule: str,
    message: str,
    session: int | None,
    measure: str | None,
    values: dict[str, Any],
    severity: str | None = None,
) -> dict[str, Any]:
    """One alert as a plain dict: rule, severity, message, session, measure and the numbers behind it."""
    return {
        "rule": rule,
        "severity": severity or RULES[rule].severity,
        "message": message,
        "session": None if session is None else int(session),
        "measure": measure,
        "values": {k: _plain(v) for k, v in values.items()},
    }


def _plain(v: Any) -> Any:
    """JSON-friendly numbers: Python ints and floats, None for NaN."""
    kind = type(v)
    if kind is float:
        return None if v != v else v
    if kind is int or kind is str or kind is bool or v is None:
        return v
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


class _Part:
    """Alerts of one rule found for many rows at once, kept column-wise: the alert dicts (and the messages)
    are made only for the alerts someone asks for -- a caseload of 50,000 rows shows one alert per row."""

    def __init__(
        self,
        rule: str,
        severity: Any,
        session: Any,
        measure: Any,
        values: pd.DataFrame | list[dict[str, Any]] | Callable[[], pd.DataFrame],
        messages: Callable[[np.ndarray], list[str]],
        n: int,
    ):
        self.rule, self.n, self.messages, self.values = rule, n, messages, values
        severity = RULES[rule].severity if severity is None else severity
        self.severity = np.broadcast_to(np.asarray(severity, dtype=object), (n,))
        self.session = np.broadcast_to(np.asarray(session, dtype=float), (n,))
        self.measure = np.broadcast_to(np.asarray(measure, dtype=object), (n,))

    def ranks(self) -> np.ndarray:
        if self.n and self.severity.strides == (0,):  # one severity for the whole rule (broadcast)
            return np.full(self.n, SEVERITY_RANK[self.severity[0]], dtype=np.int64)
        where, kinds = pd.factorize(self.severity)  # hashing, not sorting, the strings
        return np.array([SEVERITY_RANK[s] for s in kinds.tolist()], dtype=np.int64)[where]

    def sessions(self) -> np.ndarray:
        return self.session

    def severities(self, idx: np.ndarray) -> list[str]:
        return self.severity[idx].tolist()

    def dicts(self) -> list[dict[str, Any]]:
        values = self.values() if callable(self.values) else self.values
        if isinstance(values, pd.DataFrame):
            # Plain Python numbers (NaN stays NaN; the JSON writers turn it into null).
            keys = list(values.columns)
            columns = [
                values[k].to_numpy(dtype=object).tolist() if values[k].dtype == object else values[k].tolist()
                for k in keys
            ]
            values = [dict(zip(keys, vals, strict=True)) for vals in zip(*columns, strict=True)]
        messages = self.messages(np.arange(self.n))
        sessions = [None if s != s else int(s) for s in self.session.tolist()]
        return [
            {"rule": self.rule, "severity": sev, "message": ms, "session": se, "measure": me, "values": va}
            for ms, sev, se, me, va in zip(
                messages, self.severity.tolist(), sessions, self.measure.tolist(), values, strict=True
            )
        ]


class _DictPart:
    """Alerts already made one at a time (sudden losses, risk items)."""

    def __init__(self, alerts: list[dict[str, Any]]):
        self.alerts, self.n = alerts, len(alerts)

    def ranks(self) -> np.ndarray:
        return np.array([SEVERITY_RANK[a["severity"]] for a in self.alerts], dtype=np.int64)

    def sessions(self) -> np.ndarray:
        return np.array([np.nan if a["session"] is None else a["session"] for a in self.alerts], dtype=float)

    def messages(self, idx: np.ndarray) -> list[str]:
        return [self.alerts[i]["message"] for i in idx.tolist()]

    def severities(self, idx: np.ndarray) -> list[str]:
        return [self.alerts[i]["severity"] for i in idx.tolist()]

    def dicts(self) -> list[dict[str, Any]]:
        return self.alerts


@dataclass(frozen=True)
class AlertBatch:
    """Alerts of one or more rules: the position of the row each belongs to, and their contents in order."""

    rows: np.ndarray
    parts: tuple[_Part | _DictPart, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def concat(batches: Iterable[AlertBatch]) -> AlertBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return empty_alerts()
        return AlertBatch(
            np.concatenate([b.rows for b in batches]), tuple(p for b in batches for p in b.parts)
        )

    def ranks(self) -> np.ndarray:
        return np.concatenate([p.ranks() for p in self.parts]) if self.parts else np.zeros(0, dtype=np.int64)

    def sessions(self) -> np.ndarray:
        return np.concatenate([p.sessions() for p in self.parts]) if self.parts else np.zeros(0)

    def dicts(self) -> list[dict[str, Any]]:
        return [a for p in self.parts for a in p.dicts()]

    def pick(self, ids: np.ndarray, field: str) -> list[Any]:
        """Messages or severities (``field``) of the alerts at positions ``ids``, in that order."""
        ends = np.cumsum([p.n for p in self.parts])
        part_of = np.searchsorted(ends, ids, side="right")
        out: list[Any] = [None] * len(ids)
        for k in np.unique(part_of).tolist():
            where = np.flatnonzero(part_of == k)
            local = ids[where] - (ends[k] - self.parts[k].n)
            got = self.parts[k].messages(local) if field == "message" else self.parts[k].severities(local)
            for w, v in zip(where.tolist(), got, strict=True):
                out[w] = v
        return out


def alert_frame(
    row: Any,
    rule: str,
    message: Callable[[np.ndarray], list[str]],
    session: Any,
    measure: Any,
    values: pd.DataFrame | list[dict[str, Any]] | Callable[[], pd.DataFrame],
    severity: Any = None,
) -> AlertBatch:
    """Alerts of one rule for many rows at once: a function giving the messages of the alerts at some
    positions, sessions, measures and the numbers behind each (or a function making them). Messages and
    numbers are made only when someone reads them."""
    row = np.asarray(row, dtype=np.int64)
    n = len(row)
    if n == 0:
        return empty_alerts()
    return AlertBatch(row, (_Part(rule, severity, session, measure, values, message, n),))


def _message(*parts: str | tuple[np.ndarray, int] | np.ndarray) -> Callable[[np.ndarray], list[str]]:
    """Messages built only for the alerts someone reads (positions -> texts): each part a text, a pair
    (numbers, decimals) or an array of texts, joined in order."""

    def build(i: np.ndarray) -> list[str]:
        return _join(
            *(
                p if isinstance(p, str) else _nums(p[0][i], p[1]) if isinstance(p, tuple) else _texts(p[i])
                for p in parts
            )
        )

    return build


def empty_alerts() -> AlertBatch:
    return AlertBatch(np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class Collected:
    """Per row (0..n_rows-1): how many alerts, the most urgent one's message and severity, and -- when asked
    for -- every alert dict, most severe first."""

    count: np.ndarray
    top_message: list[str | None]
    top_severity: list[str | None]
    alerts: list[list[dict[str, Any]]] | None


def collect(
    batches: Iterable[AlertBatch],
    n_rows: int,
    shared: Iterable[AlertBatch] = (),
    group: np.ndarray | None = None,
    lists: bool = True,
) -> Collected:
    """The alerts of each row (0..n_rows-1), most severe first, then the latest session first.

    ``shared`` batches belong to groups (their ``rows`` are group positions) and join every row whose
    ``group`` is that position, after the row's own alerts when severity and session tie. One sort of
    all alerts (numpy), not one per row: the same order as sort_alerts on the row's own alerts followed
    by its group's. Without ``lists`` only the top alert's message is made (not every alert dict).
    """
    own = AlertBatch.concat(batches)
    common = AlertBatch.concat(shared)
    pool = AlertBatch(np.concatenate([own.rows, common.rows]), own.parts + common.parts)
    rows = own.rows
    ids = np.arange(len(own), dtype=np.int64)
    if len(common) and group is not None:
        # Shared alert k (in order) goes to every row of its group: expand by the group's alert count.
        by_group = np.argsort(common.rows, kind="stable")
        counts = np.bincount(common.rows, minlength=int(max(group.max(initial=-1), common.rows.max())) + 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        group = np.asarray(group, dtype=np.int64)
        per_row = counts[group]
        target = np.repeat(np.arange(len(group), dtype=np.int64), per_row)
        offset = np.arange(len(target), dtype=np.int64) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        rows = np.concatenate([rows, target])
        ids = np.concatenate([ids, len(own) + by_group[np.repeat(starts[group], per_row) + offset]])
    none: list[str | None] = [None] * n_rows
    if not len(rows):
        return Collected(
            np.zeros(n_rows, dtype=np.int64), none, list(none), [[] for _ in range(n_rows)] if lists else None
        )
    rank = pool.ranks()[ids]
    session = np.nan_to_num(pool.sessions(), nan=0.0).astype(np.int64)[ids]
    order = np.lexsort((ids, -session, rank, rows))
    ordered_ids = ids[order]
    bounds = np.searchsorted(rows[order], np.arange(n_rows + 1))
    count = np.diff(bounds)
    with_alerts = np.flatnonzero(count)
    top_ids = ordered_ids[bounds[with_alerts]]
    top_message, top_severity = list(none), list(none)
    out: list[list[dict[str, Any]]] | None = None
    if lists:
        every = pool.dicts()
        ordered = [every[i] for i in ordered_ids.tolist()]
        out = [[] for _ in range(n_rows)]
        for r in with_alerts.tolist():
            out[r] = ordered[bounds[r] : bounds[r + 1]]
        tops = [every[i] for i in top_ids.tolist()]
        messages, severities = [a["message"] for a in tops], [a["severity"] for a in tops]
    else:
        messages, severities = pool.pick(top_ids, "message"), pool.pick(top_ids, "severity")
    for r, ms, sv in zip(with_alerts.tolist(), messages, severities, strict=True):
        top_message[r], top_severity[r] = ms, sv
    return Collected(count.astype(np.int64), top_message, top_severity, out)


# --- change category ------------------------------------------------------------------------------------


def change_categories(
    measure: Measure, first: np.ndarray, latest: np.ndarray, cutoff: np.ndarray
) -> pd.DataFrame:
    """Jacobson–Truax category per row, vectorised; the same rule as change.classify_change(method='jt').

    Returns improvement, reliable_improvement, reliable_deterioration and category; rows without a latest
    score are not_enough_data.
    """
    first = np.asarray(first, dtype=float)
    latest = np.asarray(latest, dtype=float)
    cutoff = np.asarray(cutoff, dtype=float)
    sign = 1.0 if measure.higher_is_better else -1.0
    improvement = sign * (latest - first)
    rc, strict = measure.reliable_change_threshold()
    with np.errstate(invalid="ignore"):
        if rc is None:
            up = down = np.zeros(len(first), dtype=bool)
        else:
            imp, thr = np.round(improvement, 9), round(rc, 9)  # 8.2 - 3.2 must count as the 5 points it is
            up = imp > thr if strict else imp >= thr
            down = -imp > thr if strict else -imp >= thr
        clin_first = np.where(np.isnan(cutoff), np.nan, sign * (cutoff - first) > 0)
        clin_latest = np.where(np.isnan(cutoff), np.nan, sign * (cutoff - latest) > 0)
    category = np.where(
        up,
        np.where((clin_first == 1) & (clin_latest == 0), "recovered", "improved"),
        np.where(
            down,
            np.where((clin_first == 0) & (clin_latest == 1), "harmed", "deteriorated"),
            "unchanged",
        ),
    ).astype(object)
    missing = np.isnan(latest)
    category[missing] = "not_enough_data"
    return pd.DataFrame(
        {
            "improvement": np.where(missing, np.nan, improvement),
            "reliable_improvement": up & ~missing,
            "reliable_deterioration": down & ~missing,
            "change_category": category,
        }
    )


# --- outcome rules --------------------------------------------------------------------------------------


_PERCENTILE_COLUMNS = ("p10", "p25", "p50", "p75", "p90")


def outcome_rules(
    rows: pd.DataFrame,
    registry: dict[str, Measure],
    config: AlertConfig | None = None,
    calibrations: dict[tuple[str, str], Calibration] | None = None,
    model: DefaultModel | None = None,
) -> tuple[pd.DataFrame, AlertBatch]:
    """Status, change category and the outcome alerts of each (client episode, outcome measure) row.

    ``rows`` columns: measure, population, cutoff (of the population whose norms apply), first_score,
    latest_score (NaN with one rating), latest_session (episode session), t (the latest rating's session
    counted from the measure's intake = 1) and the expected band at t: p10, p25, p50, p75, p90,
    expected_model, expected_n. ``calibrations`` (per (measure, population)) give the outcome odds; without
    one the default model's. Returns (judgement with the same index: improvement, reliable_improvement,
    reliable_deterioration, change_category, status, p_poor, outcome_model, outcome_n; alert batch with
    ``rows`` = positions in ``rows``).
    """
    config = config or AlertConfig()
    calibrations = calibrations or {}
    n = len(rows)
    judged = {
        "improvement": np.full(n, np.nan),
        "reliable_improvement": np.zeros(n, dtype=bool),
        "reliable_deterioration": np.zeros(n, dtype=bool),
        "change_category": np.full(n, "not_enough_data", dtype=object),
        "status": np.full(n, "not_enough_data", dtype=object),
        "p_poor": np.full(n, np.nan),
        "outcome_model": np.full(n, None, dtype=object),
        "outcome_n": np.full(n, np.nan),
    }
    frames = []
    codes = rows["measure"].to_numpy(dtype=object)
    pops = (
        rows["population"].to_numpy(dtype=object)
        if "population" in rows
        else np.full(n, "default", dtype=object)
    )
    # Only the columns the rules read are copied per group (the rows' text columns are the dear part).
    needed = ["first_score", "latest_score", "cutoff", "t", "latest_session", "expected_model", "expected_n"]
    needed += [c for c in rows.columns if c in _PERCENTILE_COLUMNS]
    numbers = rows[needed]
    for code, pop in dict.fromkeys(zip(codes, pops, strict=True)):
        m = registry[code]
        sel = np.flatnonzero((codes == code) & (pops == pop))
        g = numbers.iloc[sel]
        first = g["first_score"].to_numpy(dtype=float)
        latest = g["latest_score"].to_numpy(dtype=float)
        cats = change_categories(m, first, latest, g["cutoff"].to_numpy(dtype=float))
        for k in ("improvement", "reliable_improvement", "reliable_deterioration", "change_category"):
            judged[k][sel] = cats[k].to_numpy()
        enough = ~np.isnan(latest)
        t = g["t"].to_numpy()
        odds = outcome_probability(
            m,
            first,
            t,
            cats["improvement"].to_numpy(dtype=float),
            None if pop == "default" else pop,
            calibrations.get((code, pop)),
            model,
        )
        p_poor = np.where(enough, odds["p_poor"].to_numpy(dtype=float), np.nan)
        judged["p_poor"][sel] = p_poor
        judged["outcome_model"][sel] = np.where(enough, odds["model"].to_numpy(dtype=object), None)
        judged["outcome_n"][sel] = odds["n"].to_numpy(dtype=float)
        has_odds = ~np.isnan(p_poor)
        sign = 1.0 if m.higher_is_better else -1.0
        with np.errstate(invalid="ignore"):
            # Where there are no odds (a measure without a reliable-change threshold), the band decides.
            band_off = sign * (g[f"p{config.off_track_percentile}"].to_numpy(dtype=float) - latest) > 0
            band_risk = sign * (g[f"p{config.at_risk_percentile}"].to_numpy(dtype=float) - latest) > 0
            off = enough & np.where(has_odds, p_poor >= config.off_track_probability, band_off)
            risk = enough & np.where(has_odds, p_poor >= config.at_risk_probability, band_risk)
        det = cats["reliable_deterioration"].to_numpy()
        up = cats["reliable_improvement"].to_numpy()
        # Off track means a course that is failing. A client whose intake was already on the healthy side of
        # the cutoff and stays there is at most at risk (unless reliably worse): worth a question, not an alarm.
        cut = g["cutoff"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            healthy = ~np.isnan(cut) & ~(sign * (cut - first) > 0)
        capped = off & healthy & ~det
        off, risk = off & ~capped, risk | capped
        judged["status"][sel] = np.where(
            ~enough,
            "not_enough_data",
            np.where(off | det, "off_track", np.where(risk, "at_risk", "on_track")),
        )
        rc, _ = m.reliable_change_threshold()
        flat = enough & ~up & ~det & (t >= config.no_change_session) & (rc is not None)
        for mask, is_off in ((off, True), (risk & ~off, False)):
            by_odds, by_band = mask & has_odds, mask & ~has_odds
            if by_odds.any():
                frames.append(
                    _poor_odds(
                        m, g[by_odds], sel[by_odds], odds[by_odds], rc, config, is_off, healthy[by_odds]
                    )
                )
            if by_band.any():
                frames.append(_below_expected(m, g[by_band], sel[by_band], config, is_off))
        if det.any():
            frames.append(_reliable_deterioration(m, g[det], sel[det], rc))
        if flat.any():
            frames.append(_no_reliable_change(m, g[flat], sel[flat], rc, config))
    judgement = pd.DataFrame(judged, index=rows.index)
    return judgement, AlertBatch.concat(frames)


def _poor_odds(
    m: Measure,
    g: pd.DataFrame,
    pos: np.ndarray,
    odds: pd.DataFrame,
    rc: float | None,
    config: AlertConfig,
    off: bool,
    healthy: np.ndarray | None = None,
) -> AlertBatch:
    """at_risk / off_track from the chance of ending without reliable improvement, with the numbers behind it.

    ``healthy`` marks intakes on the healthy side of the cutoff (kept at most at risk; the message says why).
    """
    d = m.decimals
    first, latest = g["first_score"].to_numpy(dtype=float), g["latest_score"].to_numpy(dtype=float)
    change = latest - first
    p = odds["p_poor"].to_numpy(dtype=float)
    model = odds["model"].to_numpy(dtype=object)
    n_used, poor = odds["n"].to_numpy(dtype=float), odds["poor"].to_numpy(dtype=float)
    window = odds["window"].to_numpy(dtype=float)
    threshold = config.off_track_probability if off else config.at_risk_probability
    t = g["t"].to_numpy(dtype=float)
    a, b = g["p25"].to_numpy(dtype=float), g["p75"].to_numpy(dtype=float)
    cutoff = g["cutoff"].to_numpy(dtype=float)
    healthy = np.zeros(len(g), dtype=bool) if healthy is None else np.asarray(healthy, dtype=bool)
    status_word = "off track" if off else "at risk"

    def messages(i: np.ndarray) -> list[str]:
        pct = pc.binary_join_element_wise(_nums(100 * p[i], 0), "%", "")
        # A model's chance is never shown as certain: 99.6% reads "over 99%", 0.4% "under 1%".
        pct = pc.if_else(pa.array((model[i] != "calibrated") & (p[i] > 0.995)), "over 99%", pct)
        pct = pc.if_else(pa.array((model[i] != "calibrated") & (p[i] < 0.005)), "under 1%", pct)
        calibrated = pc.binary_join_element_wise(
            _nums(poor[i], 0),
            " of ",
            _nums(n_used[i], 0),
            " clients in this caseload with a similar intake and a similar change by session ",
            _nums(t[i], 0),
            " (each within ",
            _nums(window[i], d),
            _texts(np.where(window[i] == 1, " point", " points")),
            ") ended without reliable improvement (",
            pct,
            ")",
            "",
        )
        default = pc.binary_join_element_wise(
            "Caseload's default model puts the chance of ending without reliable improvement "
            f"({fmt(rc, 2)} points) at ",
            pct,
            "",
        )
        note = pc.if_else(
            pa.array(healthy[i]),
            pc.binary_join_element_wise(
                " The intake (",
                _nums(first[i], d),
                ") was already on the healthy side of the cutoff (",
                _nums(cutoff[i], d),
                "), where a reliable improvement is rare: worth asking what brought the client and whether "
                f"the {m.code} captures it.",
                "",
            ),
            "",
        )
        return _join(
            *_score_at_session(m, latest[i], t[i]),
            " (intake ",
            _nums(first[i], d),
            ", ",
            _texts(np.where(np.round(change[i], d) > 0, "+", "")),
            _nums(change[i], d),
            "): ",
            pc.if_else(pa.array(model[i] == "calibrated"), calibrated, default),
            f"; {status_word} from {fmt(100 * threshold, 0)}%. The middle half of similar clients were at ",
            _nums(np.minimum(a[i], b[i]), d),
            "–",
            _nums(np.maximum(a[i], b[i]), d),
            " by this session.",
            note,
        )

    values = partial(
        pd.DataFrame,
        {
            "score": latest,
            "intake": first,
            "session": g["t"].to_numpy(dtype=int),
            "p_poor": p,
            "threshold": threshold,
            "model": model,
            "n": n_used,
            "poor": poor,
            "window": window,
            "healthy_intake": healthy,
            **{c: g[c].to_numpy(dtype=float) for c in ("p10", "p25", "p50", "p75", "p90")},
            "band_model": g["expected_model"].to_numpy(dtype=object),
        },
    )
    return alert_frame(
        pos, "off_track" if off else "at_risk", messages, g["latest_session"].to_numpy(), m.code, values
    )


def _below_expected(
    m: Measure, g: pd.DataFrame, pos: np.ndarray, config: AlertConfig, off: bool
) -> AlertBatch:
    d = m.decimals
    pct = config.off_track_percentile if off else config.at_risk_percentile
    low_col, high_col = f"p{pct}", f"p{100 - pct}"
    a, b = g[low_col].to_numpy(dtype=float), g[high_col].to_numpy(dtype=float)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    model = g["expected_model"].to_numpy(dtype=object)
    n_used = g["expected_n"].to_numpy(dtype="float64", na_value=np.nan)
    where = "below" if m.higher_is_better else "above"
    latest, first = g["latest_score"].to_numpy(dtype=float), g["first_score"].to_numpy(dtype=float)
    t = g["t"].to_numpy(dtype=float)

    def messages(i: np.ndarray) -> list[str]:
        note = pc.if_else(
            pa.array(model[i] == "calibrated"),
            pc.binary_join_element_wise(
                "expected band from ", _nums(n_used[i], 0), " similar clients in this caseload", ""
            ),
            "expected band from Caseload's default model",
        )
        return _join(
            *_score_at_session(m, latest[i], t[i]),
            f" is {where} the range {100 - pct}% of similar clients had reached (",
            _nums(lo[i], d),
            "–",
            _nums(hi[i], d),
            "; ",
            note,
            ", intake ",
            _nums(first[i], d),
            ").",
        )

    values = partial(
        pd.DataFrame,
        {
            "score": g["latest_score"].to_numpy(dtype=float),
            "intake": g["first_score"].to_numpy(dtype=float),
            "session": g["t"].to_numpy(dtype=int),
            **{c: g[c].to_numpy(dtype=float) for c in ("p10", "p25", "p50", "p75", "p90")},
            "model": model,
            "n": n_used,
        },
    )
    return alert_frame(
        pos, "off_track" if off else "at_risk", messages, g["latest_session"].to_numpy(), m.code, values
    )


def _reliable_deterioration(m: Measure, g: pd.DataFrame, pos: np.ndarray, rc: float | None) -> AlertBatch:
    d = m.decimals
    verb = "fell" if m.higher_is_better else "rose"
    first, latest = g["first_score"].to_numpy(dtype=float), g["latest_score"].to_numpy(dtype=float)
    size = np.abs(latest - first)
    messages = _message(
        f"{m.code} {verb} from ",
        (first, d),
        " at intake to ",
        (latest, d),
        " at session ",
        (g["t"].to_numpy(dtype=float), 0),
        ": ",
        (size, d),
        f" points worse, at least the {fmt(rc, 2)} points that count as reliable change.",
    )

    values = partial(pd.DataFrame, {"intake": first, "score": latest, "change": size, "threshold": rc})
    return alert_frame(
        pos, "reliable_deterioration", messages, g["latest_session"].to_numpy(), m.code, values
    )


def _no_reliable_change(
    m: Measure, g: pd.DataFrame, pos: np.ndarray, rc: float | None, config: AlertConfig
) -> AlertBatch:
    d = m.decimals
    first, latest = g["first_score"].to_numpy(dtype=float), g["latest_score"].to_numpy(dtype=float)
    change = latest - first
    messages = _message(
        f"{m.code} has moved ",
        np.where(np.round(change, d) > 0, "+", ""),
        (change, d),
        " points since intake (",
        (first, d),
        " → ",
        (latest, d),
        ") by session ",
        (g["t"].to_numpy(dtype=float), 0),
        f"; reliable change needs {fmt(rc, 2)}. Worth asking together whether the work is helping.",
    )
    values = partial(
        pd.DataFrame,
        {
            "intake": first,
            "score": latest,
            "change": change,
            "threshold": rc,
            "by_session": config.no_change_session,
        },
    )
    return alert_frame(pos, "no_reliable_change", messages, g["latest_session"].to_numpy(), m.code, values)


# --- sudden losses --------------------------------------------------------------------------------------


def sudden_loss_alerts(
    m: Measure, sessions: Sequence[int], scores: Sequence[float], config: AlertConfig | None = None
) -> list[dict[str, Any]]:
    """Sudden losses in one episode's ratings of one measure (sessions = episode sessions, gaps kept)."""
    config = config or AlertConfig()
    rc, _ = m.reliable_change_threshold()
    if rc is None or len(scores) < 4:
        return []
    first = int(min(sessions))
    series: list[float | None] = [None] * (int(max(sessions)) - first + 1)
    for s, v in zip(sessions, scores, strict=True):
        series[int(s) - first] = float(v)
    found = sudden_losses(series, rc, higher_is_better=m.higher_is_better, pct=config.sudden_loss_pct)
    out = []
    d = m.decimals
    for loss in found:
        before, after = series[loss.pregain], series[loss.pregain + 1]
        s_before, s_after = first + loss.pregain, first + loss.pregain + 1
        note = " It has since reversed." if loss.reversed else ""
        message = (
            f"{m.code} went from {fmt(before, d)} at session {s_before} to {fmt(after, d)} at session "
            f"{s_after}: a sudden loss of {fmt(loss.magnitude, d)} points (Tang & DeRubeis criteria).{note}"
        )
        out.append(
            alert(
                "sudden_loss",
                message,
                s_after,
                m.code,
                {
                    "before": before,
                    "after": after,
                    "magnitude": loss.magnitude,
                    "criterion_1": rc,
                    "reversed": loss.reversed,
                },
                severity="low" if loss.reversed else None,
            )
        )
    return out


_T_CRIT = {2: 4.302652729749411, 3: 3.1824463052836336, 4: 2.776445105197695}  # qt(.975, df), as gains.py


def sudden_loss_screen(
    m: Measure,
    sessions: Sequence[Sequence[int]],
    scores: Sequence[Sequence[float]],
    config: AlertConfig | None = None,
) -> np.ndarray:
    """Which episodes can hold a sudden loss: the three Tang & DeRubeis criteria for every series at once.

    A vectorised, slightly loosened copy of gains.check_intervals on the same positional series (missing
    sessions as gaps), used only to spare gains.py the episodes that cannot qualify; gains.py decides.
    """
    config = config or AlertConfig()
    rc, _ = m.reliable_change_threshold()
    n = len(scores)
    if rc is None or n == 0:
        return np.zeros(n, dtype=bool)
    firsts = [min(s) for s in sessions]
    lengths = np.array([max(s) - f + 1 for s, f in zip(sessions, firsts, strict=True)])
    x = np.full((n, int(lengths.max()) + 3), np.nan)
    for j, (ss, sc, f) in enumerate(zip(sessions, scores, firsts, strict=True)):
        x[j, np.asarray(ss) - f] = sc
    sign = -1.0 if m.higher_is_better else 1.0  # the direction of a loss
    ok = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows with no rating: NaN, as intended
        for k in range(1, int(lengths.max()) - 2):
            step = sign * (x[:, k + 1] - x[:, k])
            c12 = (step >= rc - 1e-9) & (step >= config.sudden_loss_pct * x[:, k] - 1e-9)
            if not c12.any():
                continue
            pre, post = x[:, max(0, k - 2) : k + 1], x[:, k + 1 : k + 4]
            n1, n2 = (~np.isnan(pre)).sum(axis=1), (~np.isnan(post)).sum(axis=1)
            m1, m2 = np.nanmean(pre, axis=1), np.nanmean(post, axis=1)
            v1 = np.nansum((pre - m1[:, None]) ** 2, axis=1) / (n1 - 1)
            v2 = np.nansum((post - m2[:, None]) ** 2, axis=1) / (n2 - 1)
            df = n1 + n2 - 2
            pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / df)
            t = np.select([df == 2, df == 3], [_T_CRIT[2], _T_CRIT[3]], _T_CRIT[4])
            c3 = (n1 >= 2) & (n2 >= 2) & (sign * (m2 - m1) > t * pooled - 1e-9)
            ok |= c12 & c3 & (k <= lengths - 3)
    return ok


def dicts_frame(row_alerts: Iterable[tuple[int, dict[str, Any]]]) -> AlertBatch:
    """A batch from (row, alert dict) pairs built one at a time (sudden losses, risk items)."""
    pairs = list(row_alerts)
    if not pairs:
        return empty_alerts()
    return AlertBatch(np.array([r for r, _ in pairs], dtype=np.int64), (_DictPart([a for _, a in pairs]),))


# --- alliance -------------------------------------------------------------------------------------------


def alliance_rules(
    rows: pd.DataFrame, registry: dict[str, Measure], config: AlertConfig | None = None
) -> tuple[pd.Series, AlertBatch]:
    """Alliance status per client episode and the alliance alerts.

    ``rows`` columns: alliance_measure (None/NaN when the episode has no alliance rating), latest_alliance,
    latest_alliance_session, previous_alliance, and the latest rating's items as alliance_item_1..k (or
    latest_alliance_items, a list per row). Returns
    (alliance_status with the same index, alert batch with ``rows`` = positions in ``rows``).
    """
    config = config or AlertConfig()
    status = np.full(len(rows), "not_rated", dtype=object)
    frames = []
    codes = rows["alliance_measure"].to_numpy(dtype=object)
    for code in [c for c in pd.unique(codes) if isinstance(c, str) and c in registry]:
        m = registry[code]
        d = m.decimals
        sel = np.flatnonzero(codes == code)
        g = rows.iloc[sel]
        latest = g["latest_alliance"].to_numpy(dtype=float)
        prev = g["previous_alliance"].to_numpy(dtype=float)
        session = g["latest_alliance_session"].to_numpy(dtype=float)
        sign = 1.0 if m.higher_is_better else -1.0
        none = np.zeros(len(sel), dtype=bool)
        with np.errstate(invalid="ignore"):
            below = sign * (float(m.cutoff) - latest) > 0 if m.cutoff is not None else none
            drop = np.round(sign * (prev - latest), 9)
            dropped = (~np.isnan(prev) & (drop >= m.drop_threshold)) if m.drop_threshold is not None else none
        status[sel] = np.where(below | dropped, "concern", "ok")
        if below.any():
            message = _message(
                f"{m.code} ",
                (latest[below], d),
                " at session ",
                (session[below], 0),
                f" is below the alliance cutoff of {fmt(m.cutoff, d)}.",
            )
            values = partial(pd.DataFrame, {"score": latest[below], "cutoff": m.cutoff})
            frames.append(
                alert_frame(sel[below], "alliance_below_cutoff", message, session[below], code, values)
            )
        if dropped.any():
            message = _message(
                f"{m.code} fell ",
                (drop[dropped], d),
                " points from the previous rating (",
                (prev[dropped], d),
                " → ",
                (latest[dropped], d),
                ") at session ",
                (session[dropped], 0),
                ".",
            )
            values = partial(
                pd.DataFrame,
                {
                    "previous": prev[dropped],
                    "score": latest[dropped],
                    "drop": drop[dropped],
                    "threshold": m.drop_threshold,
                },
            )
            frames.append(alert_frame(sel[dropped], "alliance_drop", message, session[dropped], code, values))
        if m.item_cutoff is not None and m.items:
            frames.append(_low_items(m, g, sel, session, sign))
    frames = [f for f in frames if len(f)]
    return (
        pd.Series(status, index=rows.index, name="alliance_status"),
        AlertBatch.concat(frames),
    )


def _low_items(m: Measure, g: pd.DataFrame, sel: np.ndarray, session: np.ndarray, sign: float) -> AlertBatch:
    """Items of the latest alliance rating below the registry's item_cutoff."""
    d = m.decimals
    names = list(m.item_labels) if m.item_labels else list(m.items)
    k = len(m.items)
    if "alliance_item_1" in g.columns:
        grid = np.column_stack(
            [
                g[f"alliance_item_{i + 1}"].to_numpy(dtype=float)
                if f"alliance_item_{i + 1}" in g.columns
                else np.full(len(g), np.nan)
                for i in range(k)
            ]
        )
    else:
        grid = np.full((len(g), k), np.nan)
        for j, items in enumerate(g["latest_alliance_items"].tolist()):
            if isinstance(items, (list, tuple, np.ndarray)):
                vals = [np.nan if v is None else float(v) for v in list(items)[:k]]
                grid[j, : len(vals)] = vals
    with np.errstate(invalid="ignore"):
        low = sign * (float(m.item_cutoff) - grid) > 0
    fired = low.any(axis=1)
    if not fired.any():
        return empty_alerts()
    low_f, grid_f, session_f = low[fired], grid[fired], session[fired]

    def messages(j: np.ndarray) -> list[str]:
        parts = [
            pc.if_else(
                pa.array(low_f[j, i]),
                pc.binary_join_element_wise(f"{names[i]} ", _nums(grid_f[j, i], d), ""),
                None,
            )
            for i in range(k)
        ]
        return _join(
            f"{m.code} at session ",
            _nums(session_f[j], 0),
            ": ",
            pc.binary_join_element_wise(*parts, ", ", null_handling="skip"),
            f" — below {fmt(m.item_cutoff, d)}; worth asking what would make the next session fit better.",
        )

    rows_low, cols_low = np.nonzero(low[fired])
    per_row: list[dict[str, float]] = [{} for _ in range(int(fired.sum()))]
    for j, i, v in zip(
        rows_low.tolist(), cols_low.tolist(), grid[fired][rows_low, cols_low].tolist(), strict=True
    ):
        per_row[j][names[i]] = v
    values = [{"items": items, "item_cutoff": m.item_cutoff} for items in per_row]
    return alert_frame(sel[fired], "low_alliance_item", messages, session[fired], m.code, values)


# --- risk -----------------------------------------------------------------------------------------------


def risk_alert(
    m: Measure, item: str, value: float, session: int, endorsed_sessions: int = 1
) -> dict[str, Any]:
    """The critical alert for an endorsed risk item (the item's neutral label, never its wording)."""
    label = m.item_labels[m.items.index(item)] if m.item_labels else item
    more = f" (endorsed at {endorsed_sessions} ratings in this episode)" if endorsed_sessions > 1 else ""
    return alert(
        "risk_item",
        f"{m.code} risk item '{label}' scored {fmt(value, m.decimals)} at session {int(session)}{more}: "
        "follow up on risk before anything else.",
        session,
        m.code,
        {"item": item, "score": value, "threshold": m.risk_threshold, "ratings_endorsed": endorsed_sessions},
    )


def risk_item_positions(registry: dict[str, Measure]) -> dict[str, list[tuple[str, int, float]]]:
    """Per measure with risk items: (item code, 1-based position in the items list, threshold)."""
    return {
        code: [(item, m.items.index(item) + 1, float(m.risk_threshold)) for item in m.risk_items]
        for code, m in registry.items()
        if m.risk_items
    }


# --- data quality ---------------------------------------------------------------------------------------


def long_gap_alerts(
    pos: np.ndarray,
    days: np.ndarray,
    session: np.ndarray,
    measure: np.ndarray,
    config: AlertConfig | None = None,
) -> AlertBatch:
    """More than long_gap_days between two ratings of an outcome measure in one episode."""
    config = config or AlertConfig()
    if len(pos) == 0:
        return empty_alerts()
    days, session = np.asarray(days, dtype=float), np.asarray(session, dtype=float)
    message = _message(
        (days, 0),
        " days passed between ",
        np.asarray(measure, dtype=object),
        " ratings before session ",
        (session, 0),
        f" (more than {config.long_gap_days}); scores either side may not be comparable.",
    )
    values = partial(pd.DataFrame, {"days": days.astype(int), "threshold": config.long_gap_days})
    return alert_frame(pos, "long_gap", message, session, measure, values)


def missing_alliance_alerts(pos: np.ndarray, codes: np.ndarray, session: np.ndarray) -> AlertBatch:
    """The latest session has an outcome rating but no alliance rating."""
    if len(pos) == 0:
        return empty_alerts()
    session = np.asarray(session, dtype=float)
    message = _message(
        "No ", np.asarray(codes, dtype=object), " rating at the latest session (session ", (session, 0), ")."
    )
    values = partial(pd.DataFrame, {"session": session.astype(int)})
    return alert_frame(pos, "missing_alliance", message, session, codes, values)


def suspicious_intake_alerts(
    rows: pd.DataFrame, registry: dict[str, Measure], config: AlertConfig | None = None
) -> AlertBatch:
    """Intakes on the non-clinical side of the cutoff, or near the best end of the scale, per outcome row.

    ``rows`` columns: measure, first_score, cutoff, population, first_session.
    """
    config = config or AlertConfig()
    frames = []
    codes = rows["measure"].to_numpy(dtype=object)
    for code in dict.fromkeys(codes):
        m = registry[code]
        d = m.decimals
        sel = np.flatnonzero(codes == code)
        g = rows.iloc[sel]
        x = g["first_score"].to_numpy(dtype=float)
        cut = g["cutoff"].to_numpy(dtype=float)
        session = g["first_session"].to_numpy()
        sign = 1.0 if m.higher_is_better else -1.0
        best = m.max if m.higher_is_better else m.min
        near_best = np.abs(best - x) <= config.ceiling_share * (m.max - m.min)
        with np.errstate(invalid="ignore"):
            not_clinical = ~near_best & ~np.isnan(cut) & ~(sign * (cut - x) > 0)
        if near_best.any():
            message = _message(
                f"{m.code} intake ",
                (x[near_best], d),
                f" is near the {'top' if m.higher_is_better else 'bottom'} of the scale ({fmt(best, d)}): "
                "check that the rating reflects how the client is doing.",
            )
            values = partial(pd.DataFrame, {"intake": x[near_best], "cutoff": cut[near_best], "best": best})
            frames.append(
                alert_frame(sel[near_best], "suspicious_intake", message, session[near_best], code, values)
            )
        if not_clinical.any():
            pops = g["population"].to_numpy(dtype=object)[not_clinical]
            who = np.where(pops == "default", "", " for " + pops.astype(str) + "s")
            side = "above" if m.higher_is_better else "below"
            message = _message(
                f"{m.code} intake ",
                (x[not_clinical], d),
                f" is {side} the clinical cutoff of ",
                (cut[not_clinical], d),
                who,
                ": change is hard to show from here; explore whose concern brings the client.",
            )
            values = partial(pd.DataFrame, {"intake": x[not_clinical], "cutoff": cut[not_clinical]})
            frames.append(
                alert_frame(
                    sel[not_clinical], "suspicious_intake", message, session[not_clinical], code, values
                )
            )
    return AlertBatch.concat(frames)


# --- combining ------------------------------------------------------------------------------------------


def sort_alerts(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first; within a severity, the latest session first."""
    return sorted(alerts, key=lambda a: (SEVERITY_RANK[a["severity"]], -(a["session"] or 0)))


def top_alert(alerts: Sequence[dict[str, Any]]) -> str | None:
    """The message of the most severe alert, or None."""
    return alerts[0]["message"] if alerts else None
