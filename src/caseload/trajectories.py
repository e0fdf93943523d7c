"""Expected treatment response: the score clients with a similar intake reach at each session, as percentile bands.

Two sources, and every result says which one it used and how many clients it rests on:

**Default model** (ours, documented here; not the licensed PCOMS/ICCE trajectories). Work in "improvement"
points (positive = better, whatever the measure's direction) and let ``d`` be how far the intake lies on the
clinical side of the population's cutoff (0 for intakes on the non-clinical side). Then the median
improvement at session ``t`` (intake = session 1) is

    median(t) = d * ln(min(t, plateau)) / (severity_ref * ln(reference_session))

so change is fastest early and roughly log-linear in session number (Finch et al. 2001, N = 11,492; "50% of
clients reliably improve by about session 8", Lambert via societyforpsychotherapy.org), larger from more
severe intakes, and about zero for intakes on the non-clinical side (psychoutcomes.org ClinicalCutoffScore:
about a quarter of clients start there and change little). With the defaults (severity_ref 1.4 reliable-change
units, reference session 8) a client at a typical intake (1.4 RC on the clinical side: ORS 18 against 25 with
RC 5) has a median change of exactly one reliable change by session 8, i.e. 71% of the distance to the cutoff
(formats-and-norms 3.2 suggests 60-80%). Change stops growing after the plateau session (20: fewer than 5% of
clients attend 20 sessions, OpenFIT norms).

The spread of outcomes around the median grows with time in therapy:

    sd(t) = RC * sqrt((1 / 1.959964)^2 + (growth * ln t)^2)

The first term is the measurement error of a change score that the reliable-change threshold implies
(RC = 1.959964 * SE_diff, Jacobson & Truax 1991); the second is true individual difference in change,
``growth`` = 0.52 so that by session 8 the SD of change is about 1.2 RC [our assumption, to be replaced by
the clinic's own data through calibration]. Percentile bands are normal quantiles of improvement, turned back
into scores and clipped to the measure's range. Every parameter comes from the registry (cutoff for the
population, range, direction, reliable change) or from ``DefaultModel``.

**Calibrated model** (from the caseload's own history). For an intake x and session t, take every episode
whose intake lies within x +- w and which has a rating at session t; widen w one grid step at a time (grid =
1 point, or range/40 for long scales) up to ``max_window`` reliable-change units until at least ``min_n``
(30) episodes qualify; the band is the percentiles of their improvement since intake. Percentile curves
are smoothed across sessions with a centred 1-2-1 moving average over neighbouring calibrated sessions. A
cell without ``min_n`` neighbours falls back to the default model, and says so. With
``CalibrationRules(reference="improved")`` only episodes whose latest rating shows reliable improvement form
the neighbourhood (a success-referenced target, as PCOMS/OpenFIT define theirs).

**Chance of ending without reliable improvement** (``outcome_probability``, which the status uses). The
calibrated chance, for intake x, session t and improvement v so far: among *ended* episodes of the history
(where it says which ended; otherwise each episode's latest rating stands for its end) with a rating at t,
those whose intake and improvement at t both lie within +-r grid steps of (x, v), r widened one step at a
time up to ``max_window`` reliable changes until ``min_n`` qualify; the chance is the share of them whose
latest rating is not a reliable improvement. Where no window holds ``min_n``, the default model's chance:
the default band read as a course, improvement(t) = median(t) + u * growth * RC * ln t + e(t), with one
normal slope u per client and e(t) the change score's measurement error (SD RC / 1.959964; two change
scores from the same intake share its error, correlation 0.5). From the bivariate normal of (improvement at
t, improvement at the end), the end being ``end_session`` (8, a typical course, formats-and-norms 3.3) or
the next session for a client already past it, P(end < RC | improvement at t). A client exactly on the
median path of a typical intake has even odds. This is Lambert's idea of predicted treatment failure and
Lutz's nearest-neighbour course (rom-systems 3.4), in our own form.

Band percentiles are in the better direction: ``p25`` is the score that 25% of similar clients did worse
than (for the ORS the 25th percentile of scores; for the PHQ-9 the 75th).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from caseload.measures import Z_CRIT, Measure

PERCENTILES = (10, 25, 50, 75, 90)
BAND_COLUMNS = tuple(f"p{p}" for p in PERCENTILES)
_Z = np.array([NormalDist().inv_cdf(p / 100) for p in PERCENTILES])


@dataclass(frozen=True)
class DefaultModel:
    """Parameters of the default expected-response model; see the module docstring for their sources."""

    reference_session: int = 8  # by this session a typical intake's median change is one reliable change
    severity_ref: float = 1.4  # a typical intake lies this many RC units on the clinical side of the cutoff
    plateau_session: int = 20  # expected change stops growing here (<5% attend 20+ sessions, OpenFIT)
    growth: float = 0.52  # SD of true change per ln(session), in RC units [assumption; calibration replaces]
    end_session: int = (
        8  # where the default model's course ends (mean course 7-8 sessions, formats-and-norms 3.3)
    )


@dataclass(frozen=True)
class CalibrationRules:
    """How much history the calibrated model needs and how far it may look for similar intakes."""

    min_n: int = 30  # episodes with the session observed, per intake and session
    max_window: float = 1.5  # half-width of the intake window at most, in reliable-change units
    max_session: int = 20  # sessions beyond this use the band of this session
    smooth: bool = True
    # Whose course the band describes: "all" similar clients (the default), or only those whose latest
    # rating shows reliable improvement ("improved": the PCOMS/OpenFIT idea of a target from clients who
    # ended successfully, formats-and-norms 3.6). See benchmarks/alert_quality.py for what each flags.
    reference: str = "all"

    def __post_init__(self) -> None:
        if self.reference not in ("all", "improved"):
            raise ValueError("reference must be 'all' or 'improved'")


@dataclass(frozen=True)
class Band:
    """The expected band at one session for one intake: percentiles in score units, the model and its n."""

    session: int
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    model: str  # "default" or "calibrated"
    n: int | None  # episodes the calibrated band rests on; None for the default model
    window: float | None  # half-width of the intake window used (calibrated only)

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def population(measure: Measure, age_group: str | None) -> str:
    """Whose norms apply: the age group when the measure has a cutoff for it, else 'default'."""
    return age_group if age_group and age_group in measure.cutoffs else "default"


def reliable_change_points(measure: Measure) -> float:
    """The measure's reliable-change threshold in points, which scales the default model's spread."""
    rc, _ = measure.reliable_change_threshold()
    if rc is None:
        # Without a threshold, fall back on a tenth of the range [assumption], so bands still have width.
        return (measure.max - measure.min) / 10
    return float(rc)


def severity(measure: Measure, intake: np.ndarray, age_group: str | None) -> np.ndarray:
    """Points by which intakes lie on the clinical side of the population's cutoff (0 on the other side)."""
    cutoff = measure.cutoff_for(age_group)
    if cutoff is None:
        return np.zeros_like(np.asarray(intake, dtype=float))
    sign = 1.0 if measure.higher_is_better else -1.0
    return np.maximum(sign * (float(cutoff) - np.asarray(intake, dtype=float)), 0.0)


def default_improvement_quantiles(
    measure: Measure,
    intake: np.ndarray,
    session: np.ndarray,
    age_group: str | None = None,
    model: DefaultModel | None = None,
) -> np.ndarray:
    """Default-model improvement percentiles (rows: clients, columns: PERCENTILES), before clipping to range."""
    model = model or DefaultModel()
    intake = np.atleast_1d(np.asarray(intake, dtype=float))
    t = np.maximum(np.atleast_1d(np.asarray(session, dtype=float)), 1.0)
    rc = reliable_change_points(measure)
    d = severity(measure, intake, age_group)
    log_t = np.log(np.minimum(t, model.plateau_session))
    median = d * log_t / (model.severity_ref * math.log(model.reference_session))
    sd = rc * np.sqrt((1 / Z_CRIT) ** 2 + (model.growth * np.log(t)) ** 2)
    sd = np.where(t <= 1, 0.0, sd)
    return median[:, None] + sd[:, None] * _Z[None, :]


def to_scores(measure: Measure, intake: np.ndarray, improvement: np.ndarray) -> np.ndarray:
    """Improvement percentiles back to scores on the measure's own scale, clipped to its range."""
    sign = 1.0 if measure.higher_is_better else -1.0
    scores = np.asarray(intake, dtype=float)[:, None] + sign * improvement
    return np.clip(scores, measure.min, measure.max)


@dataclass(frozen=True)
class Calibration:
    """Calibrated improvement percentiles for one measure and population on a grid of intakes x sessions."""

    measure: str
    population: str
    grid: np.ndarray  # intake values
    sessions: np.ndarray  # 2..max_session
    quantiles: np.ndarray  # grid x sessions x PERCENTILES, NaN where not enough history
    n: np.ndarray  # grid x sessions, episodes behind each cell (0 where not enough)
    window: np.ndarray  # grid x sessions, half-width used
    episodes: int  # episodes with at least two ratings in the history
    # Outcome odds (None without an 'improved' column): per intake x session x improvement-so-far cell, the
    # episodes of similar intake and similar improvement at that session (n), how many of them ended without
    # reliable improvement (poor), and the half-width of the window used (NaN where fewer than min_n).
    improvement_grid: np.ndarray | None = None
    outcome_n: np.ndarray | None = None
    outcome_poor: np.ndarray | None = None
    outcome_window: np.ndarray | None = None
    outcome_episodes: int = 0  # ended episodes the outcome odds rest on

    def lookup(self, intake: np.ndarray, session: np.ndarray):
        """(quantiles, n, window) for each (intake, session); NaN quantiles where the cell has no calibration."""
        intake = np.atleast_1d(np.asarray(intake, dtype=float))
        t = np.clip(np.atleast_1d(np.asarray(session, dtype=int)), self.sessions[0], self.sessions[-1])
        gi = np.clip(np.searchsorted(self.grid, intake), 1, len(self.grid) - 1)
        gi = np.where(np.abs(self.grid[gi - 1] - intake) <= np.abs(self.grid[gi] - intake), gi - 1, gi)
        ti = t - self.sessions[0]
        return self.quantiles[gi, ti], self.n[gi, ti], self.window[gi, ti]

    def outcome_lookup(self, intake: np.ndarray, session: np.ndarray, improvement: np.ndarray):
        """(n, poor, window) of the nearest outcome cell to each (intake, session, improvement); n 0 if none."""
        intake = np.atleast_1d(np.asarray(intake, dtype=float))
        size = len(intake)
        if self.outcome_n is None or self.improvement_grid is None:
            return np.zeros(size, dtype=int), np.zeros(size, dtype=int), np.full(size, np.nan)
        t = np.clip(np.atleast_1d(np.asarray(session, dtype=int)), self.sessions[0], self.sessions[-1])
        gi = _nearest(self.grid, intake)
        vi = _nearest(self.improvement_grid, np.nan_to_num(np.asarray(improvement, dtype=float)))
        ti = t - self.sessions[0]
        return self.outcome_n[gi, ti, vi], self.outcome_poor[gi, ti, vi], self.outcome_window[gi, ti, vi]


def _nearest(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest each value (ties to the lower point)."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    gi = np.clip(np.searchsorted(grid, values), 1, len(grid) - 1)
    return np.where(np.abs(grid[gi - 1] - values) <= np.abs(grid[gi] - values), gi - 1, gi)


def grid_step(measure: Measure) -> float:
    """Spacing of the intake grid: 1 point, or a 40th of the range for long scales."""
    return max(1.0, round((measure.max - measure.min) / 40))


def calibrate(
    measure: Measure,
    history: pd.DataFrame,
    population_name: str = "default",
    rules: CalibrationRules | None = None,
) -> Calibration:
    """Calibrate expected improvement from history rows (episode_key, intake, session, improvement).

    ``session`` counts from 1 at the intake rating of the measure in that episode; ``improvement`` is
    positive when better. Only sessions 2..max_session are used.
    """
    rules = rules or CalibrationRules()
    step = grid_step(measure)
    grid = np.arange(measure.min, measure.max + step / 2, step, dtype=float)
    sessions = np.arange(2, rules.max_session + 1)
    widths = np.arange(step, rules.max_window * reliable_change_points(measure) + step / 2, step)
    if len(widths) == 0:
        widths = np.array([step])
    q = np.full((len(grid), len(sessions), len(PERCENTILES)), np.nan)
    n = np.zeros((len(grid), len(sessions)), dtype=int)
    win = np.full((len(grid), len(sessions)), np.nan)
    h = history[history["session"].between(2, rules.max_session)]
    # The rows of each session as numpy slices (a stable sort keeps their order within a session): cheaper
    # than selecting frame rows, text columns and all, once per session.
    by_session = _by_session(h, ["intake", "improvement"])
    for ti, t in enumerate(sessions):
        rows = by_session(t)
        if len(rows["intake"]) < rules.min_n:
            continue
        order = np.argsort(rows["intake"], kind="stable")
        x = rows["intake"][order]
        y = rows["improvement"][order]
        lo = np.searchsorted(x, grid[:, None] - widths[None, :] - 1e-9, side="left")
        hi = np.searchsorted(x, grid[:, None] + widths[None, :] + 1e-9, side="right")
        counts = hi - lo
        enough = counts >= rules.min_n
        first = np.where(enough.any(axis=1), enough.argmax(axis=1), -1)
        for gi in np.flatnonzero(first >= 0):
            wi = first[gi]
            sl = y[lo[gi, wi] : hi[gi, wi]]
            q[gi, ti] = np.percentile(sl, PERCENTILES)
            n[gi, ti] = len(sl)
            win[gi, ti] = widths[wi]
    if rules.smooth:
        q = _smooth_sessions(q)
    episodes = int(history.loc[history["session"] >= 2, "episode_key"].nunique()) if len(history) else 0
    odds: dict[str, object] = {}
    if "improved" in history.columns and rules.reference == "all":
        # Outcome odds need the clients who ended poorly too: not from an improved-only history.
        odds = _outcome_odds(measure, h, grid, sessions, step, rules)
    return Calibration(measure.code, population_name, grid, sessions, q, n, win, episodes, **odds)


def _outcome_odds(
    measure: Measure,
    h: pd.DataFrame,
    grid: np.ndarray,
    sessions: np.ndarray,
    step: float,
    rules: CalibrationRules,
) -> dict[str, object]:
    """How similar clients ended, per (intake, session, improvement so far) cell; see outcome_probability.

    Only episodes that have ended count (an ``ended`` column, where the history has one; otherwise every
    episode, its latest rating standing for its end). Around each cell a square window (intake and
    improvement each within +-r grid steps, r = 1, 2, ... up to ``max_window`` reliable changes) widens
    until at least ``min_n`` episodes lie inside.
    """
    if "ended" in h.columns:
        h = h[h["ended"].to_numpy(dtype=bool)]
    span = measure.max - measure.min
    vgrid = np.arange(-span, span + step / 2, step, dtype=float)
    shape = (len(grid), len(sessions), len(vgrid))
    n_out = np.zeros(shape, dtype=int)
    poor_out = np.zeros(shape, dtype=int)
    win_out = np.full(shape, np.nan)
    radii = range(
        1, max(1, int(math.floor(rules.max_window * reliable_change_points(measure) / step + 1e-9))) + 1
    )
    by_session = _by_session(h, ["intake", "improvement", "improved"])
    cells = len(grid) * len(vgrid)
    for ti, t in enumerate(sessions):
        rows = by_session(t)
        if len(rows["intake"]) < rules.min_n:
            continue
        xi = _nearest(grid, rows["intake"].astype(float))
        vi = _nearest(vgrid, rows["improvement"].astype(float))
        cell = xi * len(vgrid) + vi  # counts per (intake, improvement) cell, as np.add.at would
        counts = np.bincount(cell, minlength=cells).astype(float).reshape(len(grid), len(vgrid))
        poor = np.bincount(cell, weights=~rows["improved"].astype(bool), minlength=cells)
        poor = poor.reshape(len(grid), len(vgrid))
        cum_n, cum_p = _prefix(counts), _prefix(poor)
        done = np.zeros(counts.shape, dtype=bool)
        for r in radii:
            box_n, box_p = _box(cum_n, r), _box(cum_p, r)
            new = ~done & (box_n >= rules.min_n)
            n_out[:, ti][new] = box_n[new]
            poor_out[:, ti][new] = box_p[new]
            win_out[:, ti][new] = r * step
            done |= new
    return {
        "improvement_grid": vgrid,
        "outcome_n": n_out,
        "outcome_poor": poor_out,
        "outcome_window": win_out,
        "outcome_episodes": int(h["episode_key"].nunique()) if len(h) else 0,
    }


def _by_session(h: pd.DataFrame, columns: list[str]):
    """A function giving, for a session number, the rows of ``h`` at that session as numpy arrays of
    ``columns``, in their order in ``h``."""
    session = h["session"].to_numpy()
    order = np.argsort(session, kind="stable")
    ordered = session[order]
    values = {c: h[c].to_numpy()[order] for c in columns}

    def rows(t: int) -> dict[str, np.ndarray]:
        lo, hi = np.searchsorted(ordered, t, side="left"), np.searchsorted(ordered, t, side="right")
        return {c: v[lo:hi] for c, v in values.items()}

    return rows


def _prefix(a: np.ndarray) -> np.ndarray:
    """2-D inclusive prefix sums with a zero row and column in front, for box sums."""
    out = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    out[1:, 1:] = a.cumsum(0).cumsum(1)
    return out


def _box(cum: np.ndarray, r: int) -> np.ndarray:
    """Sum over the square of half-width r cells around every cell (clipped at the edges), from prefix sums."""
    rows, cols = cum.shape[0] - 1, cum.shape[1] - 1
    i, j = np.arange(rows), np.arange(cols)
    i0, i1 = np.clip(i - r, 0, rows), np.clip(i + r + 1, 0, rows)
    j0, j1 = np.clip(j - r, 0, cols), np.clip(j + r + 1, 0, cols)
    return np.rint(cum[i1][:, j1] - cum[i0][:, j1] - cum[i1][:, j0] + cum[i0][:, j0]).astype(int)


def _smooth_sessions(q: np.ndarray) -> np.ndarray:
    """Centred 1-2-1 moving average along sessions over calibrated cells only; uncalibrated cells stay NaN."""
    out = q.copy()
    present = ~np.isnan(q[..., 0])
    for ti in range(q.shape[1]):
        weights, total = np.zeros(q.shape[0]), np.zeros((q.shape[0], q.shape[2]))
        for dt, w in ((-1, 1.0), (0, 2.0), (1, 1.0)):
            j = ti + dt
            if 0 <= j < q.shape[1]:
                ok = present[:, j] & present[:, ti]
                weights += np.where(ok, w, 0.0)
                total += np.where(ok[:, None], w * np.nan_to_num(q[:, j]), 0.0)
        has = present[:, ti]
        out[has, ti] = total[has] / weights[has, None]
    return out


def expected_bands(
    measure: Measure,
    intake: np.ndarray,
    session: np.ndarray,
    age_group: str | None = None,
    calibration: Calibration | None = None,
    model: DefaultModel | None = None,
) -> pd.DataFrame:
    """Expected band per (intake, session): p10..p90 scores, model ('default'/'calibrated'), n and window.

    Session 1 is the intake itself: its band is the intake. Calibrated where the calibration has a cell
    with enough history, default otherwise.
    """
    intake = np.atleast_1d(np.asarray(intake, dtype=float))
    session = np.atleast_1d(np.asarray(session, dtype=int))
    imp = default_improvement_quantiles(measure, intake, session, age_group, model)
    models = np.full(len(intake), "default", dtype=object)
    n = np.full(len(intake), np.nan)
    window = np.full(len(intake), np.nan)
    if calibration is not None and len(intake):
        cq, cn, cw = calibration.lookup(intake, session)
        use = ~np.isnan(cq[:, 0]) & (session >= 2)
        imp = np.where(use[:, None], cq, imp)
        models[use] = "calibrated"
        n[use] = cn[use]
        window[use] = cw[use]
    imp = np.where((session <= 1)[:, None], 0.0, imp)
    # Rounded to the measure's own precision, so "below p25" compares exactly the numbers a therapist sees.
    scores = np.round(to_scores(measure, intake, imp), measure.decimals)
    frame = pd.DataFrame(scores, columns=list(BAND_COLUMNS))
    frame.insert(0, "session", session)
    frame["model"] = models
    frame["n"] = pd.array(np.where(np.isnan(n), pd.NA, n), dtype="Int64")
    frame["window"] = window
    return frame


def band_at(
    measure: Measure,
    intake: float,
    session: int,
    age_group: str | None = None,
    calibration: Calibration | None = None,
    model: DefaultModel | None = None,
) -> Band:
    """The expected band for one client at one session."""
    row = expected_bands(measure, [intake], [session], age_group, calibration, model).iloc[0]
    return Band(
        session=int(row["session"]),
        **{c: float(row[c]) for c in BAND_COLUMNS},
        model=str(row["model"]),
        n=None if pd.isna(row["n"]) else int(row["n"]),
        window=None if pd.isna(row["window"]) else float(row["window"]),
    )


def default_poor_probability(
    measure: Measure,
    intake: np.ndarray,
    session: np.ndarray,
    improvement: np.ndarray,
    age_group: str | None = None,
    model: DefaultModel | None = None,
) -> np.ndarray:
    """Default model: chance of ending without reliable improvement, given the improvement so far at a session.

    The default band read as one client's course: improvement(t) = median(t) + u * growth * RC * ln t + e(t),
    with one normal slope u per client and e(t) the measurement error of a change score (SD RC / 1.959964;
    two change scores from the same intake share its error, so their errors correlate 0.5). The end is
    ``end_session`` (or the next session for a client already past it). Returns P(improvement at the end <
    RC | improvement now) from the bivariate normal; NaN without a reliable-change threshold or before session 2.
    """
    model = model or DefaultModel()
    intake = np.atleast_1d(np.asarray(intake, dtype=float))
    t = np.atleast_1d(np.asarray(session, dtype=float))
    v = np.atleast_1d(np.asarray(improvement, dtype=float))
    rc, _ = measure.reliable_change_threshold()
    if rc is None:
        return np.full(len(intake), np.nan)
    end = np.maximum(float(model.end_session), t + 1)
    both = np.concatenate([t, end])
    med = default_improvement_quantiles(measure, np.concatenate([intake, intake]), both, age_group, model)
    med = med[:, PERCENTILES.index(50)]
    m_now, m_end = med[: len(t)], med[len(t) :]
    err = rc / Z_CRIT  # SD of a change score's measurement error
    slope = model.growth * rc
    log_now, log_end = np.log(np.maximum(t, 1.0)), np.log(end)
    var_now = err**2 + (slope * log_now) ** 2
    var_end = err**2 + (slope * log_end) ** 2
    cov = slope**2 * log_now * log_end + err**2 / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = m_end + cov / var_now * (v - m_now)
        sd = np.sqrt(np.maximum(var_end - cov**2 / var_now, 1e-12))
        z = (rc - mean) / sd
    p = _normal_cdf(z)
    return np.where((t >= 2) & ~np.isnan(v), p, np.nan)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF for an array, vectorised: erf by Abramowitz & Stegun 7.1.26 (error below 1.5e-7)."""
    x = np.abs(np.asarray(z, dtype=float)) / math.sqrt(2.0)
    k = 1.0 / (1.0 + 0.3275911 * x)
    poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def outcome_probability(
    measure: Measure,
    intake: np.ndarray,
    session: np.ndarray,
    improvement: np.ndarray,
    age_group: str | None = None,
    calibration: Calibration | None = None,
    model: DefaultModel | None = None,
) -> pd.DataFrame:
    """Chance of ending without reliable improvement, per (intake, session, improvement so far).

    Calibrated where the history has at least ``min_n`` ended episodes of similar intake with a similar
    improvement at the same session (their share that ended without reliable improvement), the default
    model's probability otherwise. Columns: p_poor, model, n, poor (episodes that ended poorly), window.
    """
    intake = np.atleast_1d(np.asarray(intake, dtype=float))
    session = np.atleast_1d(np.asarray(session, dtype=int))
    improvement = np.atleast_1d(np.asarray(improvement, dtype=float))
    p = default_poor_probability(measure, intake, session, improvement, age_group, model)
    models = np.full(len(intake), "default", dtype=object)
    n = np.full(len(intake), np.nan)
    poor = np.full(len(intake), np.nan)
    window = np.full(len(intake), np.nan)
    if calibration is not None and len(intake) and measure.reliable_change_threshold()[0] is not None:
        cn, cp, cw = calibration.outcome_lookup(intake, session, improvement)
        use = (cn > 0) & (session >= 2) & ~np.isnan(improvement)
        p = np.where(use, cp / np.maximum(cn, 1), p)
        models[use] = "calibrated"
        n[use], poor[use], window[use] = cn[use], cp[use], cw[use]
    models[np.isnan(p)] = None
    return pd.DataFrame({"p_poor": p, "model": models, "n": n, "poor": poor, "window": window})


def position(measure: Measure, score: np.ndarray, bands: pd.DataFrame) -> np.ndarray:
    """Where scores lie against their bands: 'below_p10', 'below_p25' or 'within' (strictly worse = below)."""
    score = np.asarray(score, dtype=float)
    p10 = bands["p10"].to_numpy(dtype=float)
    p25 = bands["p25"].to_numpy(dtype=float)
    if measure.higher_is_better:
        below10, below25 = score < p10, score < p25
    else:
        below10, below25 = score > p10, score > p25
    return np.where(below10, "below_p10", np.where(below25, "below_p25", "within"))
