"""Sudden gains and sudden losses between consecutive ratings, by the Tang & DeRubeis (1999) criteria.

Implemented as in the R package suddengains (Wiedemann et al. 2020, PLOS ONE 15(3) e0230276,
github milanwiedemann/suddengains 0.7.2, functions identify_sg / identify_sl / create_bysg / count_intervals),
whose published example results the tests reproduce. An interval runs from the pregain rating n to the
postgain rating n+1; it is a sudden gain when

1. the change n -> n+1 is at least ``cutoff`` points in the better direction (criterion 1),
2. the change is at least ``pct`` (25%) of the pregain score (criterion 2), and
3. the mean of up to three ratings n-2..n differs from the mean of up to three ratings n+1..n+3 by more than
   t * pooled SD, t the two-sided Student t critical value at ``alpha`` with n_pre + n_post - 2 df
   (2.776, 3.182 or 4.303 as ratings go missing), each side needing at least two ratings (criterion 3).

A sudden loss is the mirror image. Conventions of the package kept here: the first rating only ever serves
as a pre-gain mean value (no gain is sought from rating 1 to 2), the last only as a post-gain value; an
interval whose criteria cannot all be applied (a missing n or n+1, fewer than two ratings on either side)
is "not analysed" (None), never "no gain". So a loss from rating k to k+1 can only be confirmed once rating
k+2 exists. Scores are positional: pass missing sessions as None/NaN to keep their place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from caseload.measures import Z_CRIT

KINDS = ("gain", "loss")
SELECT = ("first", "last", "smallest", "largest")


class GainsError(ValueError):
    """Sudden-gain parameters that cannot be used."""


@dataclass(frozen=True)
class IntervalCheck:
    """Whether one interval n -> n+1 meets each criterion; None where a criterion cannot be applied."""

    pregain: int
    crit1: bool | None
    crit2: bool | None
    crit3: bool | None
    sudden: bool | None
    n_pre: int
    n_post: int
    mean_pre: float | None
    mean_post: float | None
    critical_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SuddenChange:
    """One sudden gain or loss: where it happened, the six ratings around it, its size and whether it reversed.

    ``pregain`` is the 0-based position of rating n in the sequence given. ``magnitude`` is the size of the
    n -> n+1 change in points, positive in the direction of the event. ``reversal_value`` is the midpoint of
    ratings n and n+1; the change ``reversed`` when a later rating (from n+3 on, as suddengains does) lies
    strictly back beyond it.
    """

    kind: str
    pregain: int
    around: tuple[float | None, ...]
    magnitude: float
    reversal_value: float
    reversed: bool
    critical_value: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["around"] = list(self.around)
        return d


def crit1_cutoff(sd: float, reliability: float) -> float:
    """Criterion-1 cutoff from the reliable change index, as suddengains define_crit1_cutoff (>= 0.4.0).

    1.96 * sqrt(2 * SE^2), SE = SD * sqrt(1 - reliability) (Jacobson & Truax 1991); we use 1.959964.
    """
    if not sd > 0 or not 0 <= reliability < 1:
        raise GainsError(f"need sd > 0 and reliability in [0, 1), got sd={sd}, reliability={reliability}")
    se = sd * math.sqrt(1 - reliability)
    return Z_CRIT * math.sqrt(2 * se**2)


def check_intervals(
    scores: Sequence[float | None],
    cutoff: float | None,
    *,
    kind: str = "gain",
    higher_is_better: bool = False,
    pct: float | None = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust: bool = True,
    critical_value: float = 2.776,
) -> list[IntervalCheck]:
    """Check every interval n -> n+1 with n from the second to the third-last rating (suddengains' loop).

    ``cutoff`` (criterion 1) and ``pct`` (criterion 2) are sizes, given as positive numbers for gains and
    losses alike; None switches a criterion off, as does ``crit3=False``. ``adjust=False`` uses
    ``critical_value`` for every interval instead of the t value for the ratings present.
    Criterion 2 for losses is the mirror of the gain rule (worsening >= pct * pregain score). suddengains'
    identify_sl writes it as ``pre - post <= pct * pre``, which any worsening, and even a small improvement,
    satisfies; we keep the Tang & DeRubeis meaning instead.
    """
    if kind not in KINDS:
        raise GainsError(f"kind must be 'gain' or 'loss', not {kind!r}")
    if cutoff is None and pct is None and not crit3:
        raise GainsError("switch on at least one of the three criteria")
    if cutoff is not None and not cutoff > 0:
        raise GainsError(f"criterion-1 cutoff is a size in points and must be positive, got {cutoff}")
    if pct is not None and not pct > 0:
        raise GainsError(f"criterion-2 proportion must be positive, got {pct}")
    if not 0 < alpha < 1:
        raise GainsError(f"alpha must lie in (0, 1), got {alpha}")
    x = [_value(s) for s in scores]
    # +1 when a rise is the event looked for, -1 when a fall is
    sign = (1 if higher_is_better else -1) * (1 if kind == "gain" else -1)
    out = []
    for n in range(1, len(x) - 2):
        pre_val, post_val = x[n], x[n + 1]
        c1 = c2 = None
        if pre_val is not None and post_val is not None:
            step = sign * (post_val - pre_val)
            if cutoff is not None:
                c1 = step >= cutoff
            if pct is not None:
                c2 = step >= pct * pre_val
        pre = [v for v in x[max(0, n - 2) : n + 1] if v is not None]
        post = [v for v in x[n + 1 : n + 4] if v is not None]
        c3 = None
        crit_value = mean_pre = mean_post = None
        if pre:
            mean_pre = sum(pre) / len(pre)
        if post:
            mean_post = sum(post) / len(post)
        if crit3 and len(pre) >= 2 and len(post) >= 2:
            df = len(pre) + len(post) - 2
            crit_value = t_quantile(1 - alpha / 2, df) if adjust else critical_value
            pooled = math.sqrt(((len(pre) - 1) * _var(pre) + (len(post) - 1) * _var(post)) / df)
            c3 = sign * (mean_post - mean_pre) > crit_value * pooled
        applied = [c for c, on in ((c1, cutoff is not None), (c2, pct is not None), (c3, crit3)) if on]
        sudden = None if any(c is None for c in applied) else all(applied)
        out.append(IntervalCheck(n, c1, c2, c3, sudden, len(pre), len(post), mean_pre, mean_post, crit_value))
    return out


def sudden_changes(
    scores: Sequence[float | None],
    cutoff: float | None,
    *,
    kind: str = "gain",
    higher_is_better: bool = False,
    **criteria: Any,
) -> list[SuddenChange]:
    """Every sudden gain (or loss) in one client's ratings, in session order, as suddengains create_bysg."""
    x = [_value(s) for s in scores]
    out = []
    for check in check_intervals(x, cutoff, kind=kind, higher_is_better=higher_is_better, **criteria):
        if not check.sudden:
            continue
        n = check.pregain
        around = tuple(x[i] if 0 <= i < len(x) else None for i in range(n - 2, n + 4))
        before, after = x[n], x[n + 1]
        midpoint = (before + after) / 2
        rise = after > before
        later = [v for v in x[n + 3 :] if v is not None]
        reversed_ = any(v < midpoint for v in later) if rise else any(v > midpoint for v in later)
        out.append(
            SuddenChange(
                kind=kind,
                pregain=n,
                around=around,
                magnitude=abs(after - before),
                reversal_value=midpoint,
                reversed=reversed_,
                critical_value=check.critical_value if check.critical_value is not None else math.nan,
            )
        )
    return out


def sudden_gains(scores: Sequence[float | None], cutoff: float | None, **kw: Any) -> list[SuddenChange]:
    """Sudden gains (Tang & DeRubeis 1999) in one client's ratings; see :func:`check_intervals`."""
    return sudden_changes(scores, cutoff, kind="gain", **kw)


def sudden_losses(scores: Sequence[float | None], cutoff: float | None, **kw: Any) -> list[SuddenChange]:
    """Sudden losses, the mirror of sudden gains (suddengains identify_sl); ``cutoff`` is a positive size."""
    return sudden_changes(scores, cutoff, kind="loss", **kw)


def select_change(changes: Sequence[SuddenChange], how: str = "first") -> SuddenChange | None:
    """One gain per client when there are several, as create_byperson's multiple_sg_select."""
    if how not in SELECT:
        raise GainsError(f"how must be one of {', '.join(SELECT)}, not {how!r}")
    if not changes:
        return None
    if how == "first":
        return changes[0]
    if how == "last":
        return changes[-1]
    key = (lambda c: c.magnitude) if how == "largest" else (lambda c: -c.magnitude)
    return max(changes, key=key)  # ties: the earliest, as a stable sort would give


def has_analysable_pattern(scores: Sequence[float | None]) -> bool:
    """Whether any interval could be tested, suddengains select_cases(method = "pattern").

    One of: x N x x, x N x . x, x . N x x, x . N x . x (N the pregain rating, . missing) anywhere in the series.
    """
    present = "".join("x" if _value(s) is not None else "." for s in scores)
    return any(p in present for p in ("xxxx", "xxx.x", "x.xxx", "x.xx.x"))


def count_intervals(series: Sequence[Sequence[float | None]], **criteria: Any) -> dict[str, int]:
    """How many between-rating intervals there are, could be tested, and could not (suddengains count_intervals).

    ``series`` holds one equally long sequence per client; ``criteria`` go to :func:`check_intervals`.
    Whether an interval can be tested depends only on which ratings are missing, not on the cutoff.
    """
    lengths = {len(s) for s in series}
    if len(lengths) > 1:
        raise GainsError("count_intervals needs every client's series over the same sessions")
    length = lengths.pop() if lengths else 0
    cutoff = criteria.pop("cutoff", None)
    analysed = not_analysed = 0
    for s in series:
        for check in check_intervals(s, cutoff, **criteria):
            if check.sudden is None:
                not_analysed += 1
            else:
                analysed += 1
    total = max(length - 1, 0) * len(series)
    return {
        "total_between_sess_intervals": total,
        "total_between_sess_intervals_sg": max(length - 3, 0) * len(series),
        "available_between_sess_intervals_sg": analysed,
        "not_available_between_sess_intervals_sg": not_analysed,
    }


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution (what R's qt gives), by bisection on the exact CDF.

    Cached: a caseload asks for the same few (p, df) pairs thousands of times (13 s of 20 s for 2,000 clients).
    """
    if not 0 < p < 1 or not df > 0:
        raise GainsError(f"t quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return (lo + hi) / 2


def t_cdf(t: float, df: float) -> float:
    """Student t CDF via the regularised incomplete beta function: 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2."""
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1 - math.exp(ln_front) * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def _value(s: Any) -> float | None:
    if s is None:
        return None
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise GainsError(f"a score must be a number or missing, got {s!r}") from None
    return None if math.isnan(v) else v


def _var(xs: Sequence[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((v - m) ** 2 for v in xs) / (len(xs) - 1)
