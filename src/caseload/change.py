"""Reliable change and clinical significance of one client's first-to-latest change on one measure.

Jacobson & Truax (1991) by default; Hageman & Arrindell (1999) as the optional stricter method. The
formulas and boundary conventions follow the R package clinicalsignificance (Claus et al., JSS 111(1),
doi:10.18637/jss.v111.i01, github benediktclaus/clinicalsignificance), whose published counts the tests
reproduce. Pure functions over floats: no Streamlit, no store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from caseload.measures import Z_CRIT, Measure

Z_CRIT_HA = NormalDist().inv_cdf(0.95)  # one-sided 1.644854: Hageman & Arrindell, as in clinicalsignificance
CUTOFF_SDS = (
    2.0  # Jacobson, Follette & Revenstorf (1984) cutoffs a and b lie 2 SDs out, as in clinicalsignificance
)
METHODS = ("jt", "ha")
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated", "harmed", "not_enough_data")


class ChangeError(ValueError):
    """Change that cannot be classified with what was given (no threshold, no group statistics, bad input)."""


@dataclass(frozen=True)
class GroupStats:
    """Pre/post statistics of the group a client is judged within, which Hageman–Arrindell needs.

    Built from paired first and latest scores with :meth:`from_scores` (sample SDs, n - 1), as in
    clinicalsignificance's ``cs_distribution(rci_method = "HA")``.
    """

    m_pre: float
    sd_pre: float
    m_post: float
    sd_post: float
    r_pre_post: float
    reliability: float
    n: int

    @classmethod
    def from_scores(cls, first: Sequence[float], latest: Sequence[float], reliability: float) -> GroupStats:
        """Group statistics from paired first/latest scores; pairs with a missing value are left out."""
        pairs = [
            (float(a), float(b)) for a, b in zip(first, latest, strict=True) if _present(a) and _present(b)
        ]
        if len(pairs) < 3:
            raise ChangeError(f"Hageman–Arrindell needs at least 3 clients with two scores, got {len(pairs)}")
        if not 0 <= reliability < 1:
            raise ChangeError(f"reliability must lie in [0, 1), got {reliability}")
        pre = [a for a, _ in pairs]
        post = [b for _, b in pairs]
        m_pre, m_post = _mean(pre), _mean(post)
        sd_pre, sd_post = _sd(pre), _sd(post)
        if sd_pre == 0 or sd_post == 0:
            raise ChangeError("Hageman–Arrindell needs first and latest scores that vary between clients")
        cov = sum((a - m_pre) * (b - m_post) for a, b in pairs) / (len(pairs) - 1)
        return cls(m_pre, sd_pre, m_post, sd_post, cov / (sd_pre * sd_post), reliability, len(pairs))

    @property
    def se_measurement(self) -> float:
        """Standard error of measurement, from the pre SD: SD_pre * sqrt(1 - r_xx)."""
        return self.sd_pre * math.sqrt(1 - self.reliability)

    @property
    def reliability_post(self) -> float:
        """Reliability at post implied by the same error: (SD_post^2 - SE^2) / SD_post^2 (HA 1999)."""
        return (self.sd_post**2 - self.se_measurement**2) / self.sd_post**2

    @property
    def r_dd(self) -> float:
        """Reliability of the difference scores (HA 1999, eq. as in clinicalsignificance .calc_rci_ha)."""
        s1, s2, r12 = self.sd_pre, self.sd_post, self.r_pre_post
        num = s1**2 * self.reliability + s2**2 * self.reliability_post - 2 * s1 * s2 * r12
        den = s1**2 + s2**2 - 2 * s1 * s2 * r12
        return num / den


@dataclass(frozen=True)
class ChangeResult:
    """The first-to-latest change of one client on one measure, its category and every number behind it."""

    category: str
    first: float
    latest: float | None
    change: float | None
    improvement: float | None
    threshold: float | None
    deterioration_threshold: float | None
    strict: bool
    reliable_improvement: bool
    reliable_deterioration: bool
    clinical_first: bool | None
    clinical_latest: bool | None
    cutoff: float | None
    method: str
    rci: float | None = None
    ha_clinical_z: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliable_change_points(reliability: float, sd: float, z: float = Z_CRIT) -> float:
    """Jacobson–Truax reliable change in points: z * SD * sqrt(2) * sqrt(1 - r_xx); must be strictly exceeded."""
    if not 0 <= reliability < 1:
        raise ChangeError(f"reliability must lie in [0, 1), got {reliability}")
    if not sd > 0:
        raise ChangeError(f"the SD for reliable change must be positive, got {sd}")
    return float(z * sd * math.sqrt(2) * math.sqrt(1 - reliability))


def jacobson_cutoffs(
    m_clin: float, sd_clin: float, m_func: float, sd_func: float, higher_is_better: bool
) -> dict[str, float]:
    """Cutoffs a, b and c of Jacobson, Follette & Revenstorf (1984) from clinical and functional norms.

    a = 2 SD_clin beyond the clinical mean toward the functional side; b = 2 SD_func from the functional mean
    toward the clinical side; c = (SD_clin * M_func + SD_func * M_clin) / (SD_clin + SD_func), the point
    equally likely under both distributions. Two SDs (not 1.96), as in clinicalsignificance (.calc_cutoff_jt).
    That package computes b with SD_clin; we follow Jacobson & Truax (1991) and use SD_func.
    """
    if not (sd_clin > 0 and sd_func > 0):
        raise ChangeError(f"norm SDs must be positive (clinical {sd_clin}, functional {sd_func})")
    d = 1.0 if higher_is_better else -1.0
    m_clin, sd_clin, m_func, sd_func = float(m_clin), float(sd_clin), float(m_func), float(sd_func)
    return {
        "a": m_clin + d * CUTOFF_SDS * sd_clin,
        "b": m_func - d * CUTOFF_SDS * sd_func,
        "c": (sd_clin * m_func + sd_func * m_clin) / (sd_clin + sd_func),
    }


def hageman_arrindell_cutoffs(
    m_clin: float, sd_clin: float, m_func: float, sd_func: float, reliability: float, higher_is_better: bool
) -> dict[str, float]:
    """True-score cutoffs a, b, c of Hageman & Arrindell (1999): each SD shrunk by sqrt(reliability).

    The reliabilities of the clinical and functional scores follow from one error, SE = SD_clin * sqrt(1 - r),
    as in clinicalsignificance (.calc_cutoff_ha); b uses SD_func here, as in ``jacobson_cutoffs``.
    """
    m_clin, sd_clin, m_func, sd_func = float(m_clin), float(sd_clin), float(m_func), float(sd_func)
    se = sd_clin * math.sqrt(1 - reliability)
    r_clin = (sd_clin**2 - se**2) / sd_clin**2
    r_func = (sd_func**2 - se**2) / sd_func**2
    if r_func <= 0:
        raise ChangeError("the functional SD is smaller than the measurement error: no true-score cutoff")
    d = 1.0 if higher_is_better else -1.0
    s_clin, s_func = sd_clin * math.sqrt(r_clin), sd_func * math.sqrt(r_func)
    return {
        "a": m_clin + d * CUTOFF_SDS * s_clin,
        "b": m_func - d * CUTOFF_SDS * s_func,
        "c": (s_clin * m_func + s_func * m_clin) / (s_clin + s_func),
    }


def classify_change(
    measure: Measure,
    first: float,
    latest: float | None,
    age_group: str | None = None,
    method: str = "jt",
    *,
    sd: float | None = None,
    group: GroupStats | None = None,
) -> ChangeResult:
    """Classify first-to-latest change as recovered, improved, unchanged, deteriorated, harmed or not_enough_data.

    recovered = reliable improvement, clinical at first and not clinical at latest; harmed = reliable
    deterioration, not clinical at first and clinical at latest; improved / deteriorated = other reliable change.
    Method "jt" (Jacobson & Truax 1991): the registry's points ("at least this much"), or 1.959964 * SD * sqrt(2)
    * sqrt(1 - r) strictly exceeded, where ``sd`` overrides the registry SD (e.g. the sample SD of first scores).
    Method "ha" (Hageman & Arrindell 1999) needs ``group``; see :func:`_classify_ha`.
    """
    if method not in METHODS:
        raise ChangeError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not _present(first):
        raise ChangeError(f"{measure.code}: the first score is missing")
    first = float(first)
    cutoff = _opt_float(measure.cutoff_for(age_group))
    clinical_first = _clinical(measure, first, age_group)
    if not _present(latest):
        return ChangeResult(
            category="not_enough_data",
            first=first,
            latest=None,
            change=None,
            improvement=None,
            threshold=None,
            deterioration_threshold=None,
            strict=False,
            reliable_improvement=False,
            reliable_deterioration=False,
            clinical_first=clinical_first,
            clinical_latest=None,
            cutoff=cutoff,
            method=method,
        )
    latest = float(latest)
    if method == "ha":
        return _classify_ha(measure, first, latest, age_group, group)
    threshold, strict, s_diff = _jt_threshold(measure, sd)
    improvement = measure.improvement(first, latest)
    if strict:
        rci = float((latest - first) / s_diff)
        reliable_up, reliable_down = improvement > threshold, -improvement > threshold
    else:
        rci = None
        reliable_up, reliable_down = improvement >= threshold, -improvement >= threshold
    clinical_latest = _clinical(measure, latest, age_group)
    return ChangeResult(
        category=_category(reliable_up, reliable_down, clinical_first, clinical_latest),
        first=first,
        latest=latest,
        change=latest - first,
        improvement=improvement,
        threshold=threshold,
        deterioration_threshold=threshold,
        strict=strict,
        reliable_improvement=reliable_up,
        reliable_deterioration=reliable_down,
        clinical_first=clinical_first,
        clinical_latest=clinical_latest,
        cutoff=cutoff,
        method="jt",
        rci=rci,
    )


def _classify_ha(
    measure: Measure, first: float, latest: float, age_group: str | None, group: GroupStats | None
) -> ChangeResult:
    """Hageman & Arrindell (1999) as implemented by clinicalsignificance (cs_combined, rci_method = "HA").

    RC_indiv = [(x2 - x1) r_dd + (M2 - M1)(1 - r_dd)] / (sqrt(r_dd) * sqrt(2) * SE), compared one-sided with
    1.644854. Clinical significance at latest uses the true-score estimate
    CS_indiv = [M2 + (x2 - M2) r_xx2 - cutoff] / (sqrt(r_xx2) * SE): recovered needs CS_indiv beyond +1.644854
    on the functional side, harmed beyond -1.644854 on the clinical side. ``clinical_latest`` reports the plain
    cutoff comparison for display.
    """
    if group is None:
        raise ChangeError(
            f"{measure.code}: Hageman–Arrindell needs the group's pre/post statistics (group=...)"
        )
    d = 1.0 if measure.higher_is_better else -1.0
    r_dd, se = group.r_dd, group.se_measurement
    if not r_dd > 0:
        raise ChangeError(f"{measure.code}: reliability of difference scores is {r_dd:.3f}; HA is undefined")
    s_diff = math.sqrt(2) * se
    mean_change = group.m_post - group.m_pre
    rci = float(((latest - first) * r_dd + mean_change * (1 - r_dd)) / (math.sqrt(r_dd) * s_diff))
    reliable_up, reliable_down = d * rci > Z_CRIT_HA, d * rci < -Z_CRIT_HA
    up_points = float(Z_CRIT_HA * math.sqrt(r_dd) * s_diff - d * mean_change * (1 - r_dd)) / r_dd
    down_points = float(Z_CRIT_HA * math.sqrt(r_dd) * s_diff + d * mean_change * (1 - r_dd)) / r_dd
    cutoff = _opt_float(measure.cutoff_for(age_group))
    clinical_first = _clinical(measure, first, age_group)
    clinical_latest = _clinical(measure, latest, age_group)
    cs_z = None
    ha_functional = ha_clinical = None
    if cutoff is not None:
        r_post = group.reliability_post
        cs_z = float((group.m_post + (latest - group.m_post) * r_post - cutoff) / (math.sqrt(r_post) * se))
        ha_functional, ha_clinical = d * cs_z > Z_CRIT_HA, d * cs_z < -Z_CRIT_HA
    if reliable_up and clinical_first and ha_functional:
        category = "recovered"
    elif reliable_up:
        category = "improved"
    elif reliable_down and clinical_first is False and ha_clinical:
        category = "harmed"
    elif reliable_down:
        category = "deteriorated"
    else:
        category = "unchanged"
    return ChangeResult(
        category=category,
        first=first,
        latest=latest,
        change=latest - first,
        improvement=measure.improvement(first, latest),
        threshold=up_points,
        deterioration_threshold=down_points,
        strict=True,
        reliable_improvement=reliable_up,
        reliable_deterioration=reliable_down,
        clinical_first=clinical_first,
        clinical_latest=clinical_latest,
        cutoff=cutoff,
        method="ha",
        rci=rci,
        ha_clinical_z=cs_z,
    )


def _jt_threshold(measure: Measure, sd: float | None) -> tuple[float, bool, float | None]:
    """(points, strict, S_diff) for Jacobson–Truax; an explicit SD overrides registry points and SD."""
    if sd is not None:
        if measure.reliability is None:
            raise ChangeError(f"{measure.code}: reliable change from an SD needs the measure's reliability")
        return (
            reliable_change_points(measure.reliability, sd),
            True,
            reliable_change_points(measure.reliability, sd, 1.0),
        )
    threshold, strict = measure.reliable_change_threshold()
    if threshold is None:
        raise ChangeError(
            f"{measure.code}: no reliable-change threshold: give reliable_change points or reliability and sd"
        )
    if not strict:
        return threshold, False, None
    return threshold, True, reliable_change_points(measure.reliability, measure.sd, 1.0)


def _category(up: bool, down: bool, clinical_first: bool | None, clinical_latest: bool | None) -> str:
    if up:
        return "recovered" if clinical_first is True and clinical_latest is False else "improved"
    if down:
        return "harmed" if clinical_first is False and clinical_latest is True else "deteriorated"
    return "unchanged"


def _clinical(measure: Measure, score: float, age_group: str | None) -> bool | None:
    flag = measure.is_clinical(score, age_group)
    return None if flag is None else bool(flag)


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _present(x: Any) -> bool:
    if x is None:
        return False
    try:
        return not math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _sd(xs: Sequence[float]) -> float:
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
