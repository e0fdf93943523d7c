"""Reliable change and clinical significance of first-to-latest change, and caseload effect sizes.

Jacobson & Truax (1991) by default; Hageman & Arrindell (1999) as the optional alternative. The
formulas and boundary conventions follow the R package clinicalsignificance (Claus et al., JSS 111(1),
doi:10.18637/jss.v111.i01, github benediktclaus/clinicalsignificance), whose published counts the tests
reproduce. Pure functions over floats: no Streamlit, no store.

One boundary differs on purpose: clinicalsignificance counts a score exactly at the cutoff as neither
clinical (at pre) nor functional (at post); Caseload follows its registry rule that a score at the cutoff is
not clinical, so ending exactly at the cutoff can be recovery. No published dataset has a score on its cutoff.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from caseload.measures import Z_CRIT, Measure

Z_CRIT_HA = NormalDist().inv_cdf(0.95)  # one-sided 1.644854: Hageman & Arrindell, as in clinicalsignificance
CUTOFF_SDS = (
    2.0  # Jacobson, Follette & Revenstorf (1984) cutoffs a and b lie 2 SDs out, as in clinicalsignificance
)
METHODS = ("jt", "ha")
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated", "harmed", "not_enough_data")
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240901  # fixed, so the same caseload always shows the same interval
MIN_EFFECT_N = 3


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
    m_clin: float, sd_clin: float, m_func: float | None, sd_func: float | None, higher_is_better: bool
) -> dict[str, float]:
    """Cutoffs a, b and c of Jacobson, Follette & Revenstorf (1984) from clinical and functional norms.

    a = 2 SD_clin beyond the clinical mean toward the functional side; b = 2 SD_func from the functional mean
    toward the clinical side; c = (SD_clin * M_func + SD_func * M_clin) / (SD_clin + SD_func), the point
    equally likely under both distributions. Two SDs (not 1.96), as in clinicalsignificance (.calc_cutoff_jt).
    That package computes b with SD_clin; we follow Jacobson & Truax (1991) and use SD_func. Without
    functional norms only a is returned.
    """
    return _cutoffs(m_clin, sd_clin, m_func, sd_func, higher_is_better)


def hageman_arrindell_cutoffs(
    m_clin: float,
    sd_clin: float,
    m_func: float | None,
    sd_func: float | None,
    reliability: float,
    higher_is_better: bool,
) -> dict[str, float]:
    """True-score cutoffs a, b, c of Hageman & Arrindell (1999): each SD shrunk by sqrt(its reliability).

    The reliabilities of the clinical and functional scores follow from one error, SE = SD_clin * sqrt(1 - r),
    r_pop = (SD_pop^2 - SE^2) / SD_pop^2, as in clinicalsignificance (.calc_cutoff_ha); b uses the functional
    SD here, as in :func:`jacobson_cutoffs`. Without functional norms only a is returned.
    """
    if not 0 <= reliability < 1:
        raise ChangeError(f"reliability must lie in [0, 1), got {reliability}")
    se = float(sd_clin) * math.sqrt(1 - reliability)
    s_clin = _true_sd(float(sd_clin), se)
    s_func = None if sd_func is None else _true_sd(float(sd_func), se)
    return _cutoffs(m_clin, s_clin, m_func, s_func, higher_is_better)


def _true_sd(sd: float, se: float) -> float:
    """SD * sqrt(reliability) with reliability = (SD^2 - SE^2) / SD^2, i.e. the true-score SD."""
    if not sd > 0:
        raise ChangeError(f"norm SDs must be positive, got {sd}")
    if sd <= se:
        raise ChangeError(f"an SD of {sd:g} is not above the measurement error {se:g}: no true-score cutoff")
    return sd * math.sqrt((sd**2 - se**2) / sd**2)


def _cutoffs(
    m_clin: float, sd_clin: float, m_func: float | None, sd_func: float | None, higher_is_better: bool
) -> dict[str, float]:
    m_clin, sd_clin = float(m_clin), float(sd_clin)
    if not sd_clin > 0:
        raise ChangeError(f"the clinical SD must be positive, got {sd_clin}")
    d = 1.0 if higher_is_better else -1.0
    out = {"a": m_clin + d * CUTOFF_SDS * sd_clin}
    if m_func is None or sd_func is None:
        return out
    m_func, sd_func = float(m_func), float(sd_func)
    if not sd_func > 0:
        raise ChangeError(f"the functional SD must be positive, got {sd_func}")
    out["b"] = m_func - d * CUTOFF_SDS * sd_func
    out["c"] = (sd_clin * m_func + sd_func * m_clin) / (sd_clin + sd_func)
    return out


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
    Method "ha" (Hageman & Arrindell 1999) needs ``group``; see :func:`_classify_ha`. With one rating the
    category is not_enough_data and, for "jt", the threshold is still given (for a band around the intake).
    """
    if method not in METHODS:
        raise ChangeError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not _present(first):
        raise ChangeError(f"{measure.code}: the first score is missing")
    first = float(first)
    cutoff = _opt_float(measure.cutoff_for(age_group))
    clinical_first = _clinical(measure, first, age_group)
    if not _present(latest):
        threshold, strict = None, False
        if method == "jt":
            try:
                threshold, strict, _ = _jt_threshold(measure, sd)
            except ChangeError:
                pass  # one rating: nothing to classify, so a missing threshold is no error yet
        return ChangeResult(
            category="not_enough_data",
            first=first,
            latest=None,
            change=None,
            improvement=None,
            threshold=threshold,
            deterioration_threshold=threshold,
            strict=strict,
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
    # Compared at 9 decimals: 8.2 - 3.2 is 4.999999999999999 in binary floating point, but 5 points on the form.
    imp, thr = round(improvement, 9), round(threshold, 9)
    if strict:
        rci = float((latest - first) / s_diff)
        reliable_up, reliable_down = imp > thr, -imp > thr
    else:
        rci = None
        reliable_up, reliable_down = imp >= thr, -imp >= thr
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
    cutoff comparison for display. HA shrinks each client's change toward the group's mean change (it corrects
    for regression to the mean), so it is not uniformly stricter than JT: its recovery rule is, but where the
    group improves a lot it calls more clients reliably improved (claus_2020: 32 against JT's 29), and the
    points in ``threshold`` (improvement) and ``deterioration_threshold`` differ and depend on the group.
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
        if not r_post > 0:
            raise ChangeError(f"{measure.code}: post SD is not above the measurement error; HA is undefined")
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


def classify_changes(
    measure: Measure,
    first: Sequence[float],
    latest: Sequence[float | None],
    *,
    age_groups: Sequence[str | None] | None = None,
    method: str = "jt",
    sd: float | None = None,
    sample_sd: bool = False,
) -> list[ChangeResult]:
    """Classify many clients at once; ``sample_sd`` takes the SD of first scores of clients with two ratings.

    That SD (n - 1), and for "ha" the group statistics, come from the clients with both a first and a latest
    score, as clinicalsignificance does (its n_used). Results keep the input order.
    """
    if len(first) != len(latest) or (age_groups is not None and len(age_groups) != len(first)):
        raise ChangeError("first, latest (and age_groups) must have one entry per client")
    pairs = [(float(a), float(b)) for a, b in zip(first, latest, strict=True) if _present(a) and _present(b)]
    if sample_sd:
        if sd is not None:
            raise ChangeError("give either sd or sample_sd, not both")
        if len(pairs) < 2:
            raise ChangeError(f"{measure.code}: a sample SD needs at least 2 clients with two ratings")
        sd = _sd([a for a, _ in pairs])
    group = None
    if method == "ha":
        if measure.reliability is None:
            raise ChangeError(f"{measure.code}: Hageman–Arrindell needs the measure's reliability")
        group = GroupStats.from_scores([a for a, _ in pairs], [b for _, b in pairs], measure.reliability)
    ages = age_groups if age_groups is not None else [None] * len(first)
    return [
        classify_change(measure, a, b, age, method, sd=sd, group=group)
        for a, b, age in zip(first, latest, ages, strict=True)
    ]


def category_counts(results: Sequence[ChangeResult]) -> dict[str, int]:
    """How many clients fall in each category, every category listed (zeros included), in CATEGORIES order."""
    counts = Counter(r.category for r in results)
    return {c: counts.get(c, 0) for c in CATEGORIES}


def ha_group_level(group: GroupStats, cutoff: float, higher_is_better: bool) -> dict[str, float]:
    """Hageman & Arrindell's group-level estimates: share of the group that truly changed and truly ended functional.

    changed = P(true change in the better direction) = Phi(-M_change / (SD_change * sqrt(r_dd))) mirrored by
    direction; functional = P(true post score beyond the cutoff) with SD_post * sqrt(r_xx2), as
    clinicalsignificance's group-level summary.
    """
    nd = NormalDist()
    sd_change = math.sqrt(
        group.sd_pre**2 + group.sd_post**2 - 2 * group.r_pre_post * group.sd_pre * group.sd_post
    )
    z_changed = -(group.m_post - group.m_pre) / (sd_change * math.sqrt(group.r_dd))
    z_functional = (cutoff - group.m_post) / (group.sd_post * math.sqrt(group.reliability_post))
    if higher_is_better:
        return {"changed": 1 - nd.cdf(z_changed), "functional": 1 - nd.cdf(z_functional)}
    return {"changed": nd.cdf(z_changed), "functional": nd.cdf(z_functional)}


@dataclass(frozen=True)
class EffectSize:
    """A caseload effect size with its confidence interval, the n it rests on and who was left out and why."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str
    n_excluded: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    reference_n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pre_post_effect_size(
    first: Sequence[float | None], latest: Sequence[float | None], higher_is_better: bool = True
) -> EffectSize:
    """Pre-post d = mean improvement / SD of first scores (n - 1), positive = better; 95% CI.

    Improvement is latest - first, or first - latest when lower is better (pass higher_is_better=False for
    symptom measures such as PHQ-9). The CI is d +- 1.959964 * SE with the large-sample
    SE^2 = SD_diff^2 / (n SD_first^2) + d^2 / (2n) (Becker 1988, Br J Math Stat Psychol 41:257, generalised
    to unequal pre/post SDs). Clients without a first or a latest score are counted as excluded.
    """
    pairs, excluded = _pairs(first, latest)
    method = "pre-post d = mean change / SD(first); CI: Becker (1988) normal approximation"
    n = len(pairs)
    if n < MIN_EFFECT_N:
        return EffectSize(
            None,
            None,
            None,
            n,
            f"{method}; not computed: fewer than {MIN_EFFECT_N} clients",
            sum(excluded.values()),
            excluded,
        )
    pre = np.array([a for a, _ in pairs])
    gain = np.array([(b - a) if higher_is_better else (a - b) for a, b in pairs])
    sd_pre = float(pre.std(ddof=1))
    if sd_pre == 0:
        return EffectSize(
            None,
            None,
            None,
            n,
            f"{method}; not computed: every first score is the same",
            sum(excluded.values()),
            excluded,
        )
    d = float(gain.mean()) / sd_pre
    se = math.sqrt(float(gain.var(ddof=1)) / (n * sd_pre**2) + d**2 / (2 * n))
    return EffectSize(d, d - Z_CRIT * se, d + Z_CRIT * se, n, method, sum(excluded.values()), excluded)


def severity_adjusted_effect_size(
    first: Sequence[float | None],
    latest: Sequence[float | None],
    reference: tuple[Sequence[float | None], Sequence[float | None]] | None = None,
    *,
    higher_is_better: bool = True,
    cutoff: float | None = None,
) -> EffectSize:
    """Severity-adjusted effect size (ACORN / psychoutcomes.org SAES) with a 95% percentile bootstrap CI.

    In the reference sample (default: the clients given), improvement is regressed on intake score (OLS).
    Each client's residualised gain is their improvement minus the one predicted from their intake; the
    SAES is (reference mean improvement + mean residual of the clients) / SD of reference intake scores.
    So a caseload that starts more or less severe than the reference is judged against what the reference
    achieved from the same intakes. With ``cutoff``, only clients (and reference clients) whose intake is
    strictly on the clinical side count, as ACORN does. Against itself it equals the pre-post d. ACORN's GLM
    also adjusts for case mix and first-assessment session; we adjust for intake only. The CI resamples
    clients (and, when separate, reference clients) 2000 times with a fixed seed.
    """
    pairs, excluded = _pairs(first, latest)
    pairs, excluded = _clinical_only(pairs, excluded, cutoff, higher_is_better)
    own_reference = reference is None
    if own_reference:
        ref_pairs = pairs
    else:
        ref_pairs, _ = _pairs(*reference)
        ref_pairs, _ = _clinical_only(ref_pairs, {}, cutoff, higher_is_better)
    method = "SAES: residualised gain on intake (OLS in the reference) / SD(reference intake); CI: bootstrap"
    n, n_ref = len(pairs), len(ref_pairs)
    n_excl = sum(excluded.values())
    if n < MIN_EFFECT_N or n_ref < MIN_EFFECT_N:
        who = "clients" if n < MIN_EFFECT_N else "reference clients"
        why = f"not computed: fewer than {MIN_EFFECT_N} {who}"
        return EffectSize(None, None, None, n, f"{method}; {why}", n_excl, excluded, n_ref)
    x = np.array([a for a, _ in pairs])
    y = np.array([(b - a) if higher_is_better else (a - b) for a, b in pairs])
    rx = np.array([a for a, _ in ref_pairs])
    ry = np.array([(b - a) if higher_is_better else (a - b) for a, b in ref_pairs])
    value = _saes(x[None, :], y[None, :], rx[None, :], ry[None, :])[0]
    if not math.isfinite(value):
        return EffectSize(
            None,
            None,
            None,
            n,
            f"{method}; not computed: reference intakes do not vary",
            n_excl,
            excluded,
            n_ref,
        )
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boots = []
    for start in range(0, BOOTSTRAP_RESAMPLES, 250):
        b = min(250, BOOTSTRAP_RESAMPLES - start)
        idx = rng.integers(0, n, size=(b, n))
        bx, by = x[idx], y[idx]
        if own_reference:
            brx, bry = bx, by
        else:
            ridx = rng.integers(0, n_ref, size=(b, n_ref))
            brx, bry = rx[ridx], ry[ridx]
        boots.append(_saes(bx, by, brx, bry))
    est = np.concatenate(boots)
    est = est[np.isfinite(est)]
    low, high = (float(v) for v in np.quantile(est, [0.025, 0.975]))
    return EffectSize(float(value), low, high, n, method, n_excl, excluded, n_ref)


def _saes(x: np.ndarray, y: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Row-wise SAES for resampled arrays (one resample per row)."""
    rxm, rym = rx.mean(axis=1, keepdims=True), ry.mean(axis=1, keepdims=True)
    sxx = ((rx - rxm) ** 2).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = ((rx - rxm) * (ry - rym)).sum(axis=1, keepdims=True) / sxx
        resid = y - (rym + slope * (x - rxm))
        sd_ref = np.sqrt(sxx[:, 0] / (rx.shape[1] - 1))
        return (rym[:, 0] + resid.mean(axis=1)) / sd_ref


def _pairs(
    first: Sequence[float | None], latest: Sequence[float | None]
) -> tuple[list[tuple[float, float]], dict[str, int]]:
    if len(first) != len(latest):
        raise ChangeError("first and latest must have one entry per client")
    pairs: list[tuple[float, float]] = []
    excluded: dict[str, int] = {}
    for a, b in zip(first, latest, strict=True):
        if not _present(a):
            excluded["no first score"] = excluded.get("no first score", 0) + 1
        elif not _present(b):
            excluded["only one rating"] = excluded.get("only one rating", 0) + 1
        else:
            pairs.append((float(a), float(b)))
    return pairs, excluded


def _clinical_only(
    pairs: list[tuple[float, float]], excluded: dict[str, int], cutoff: float | None, higher_is_better: bool
) -> tuple[list[tuple[float, float]], dict[str, int]]:
    if cutoff is None:
        return pairs, excluded
    kept = [(a, b) for a, b in pairs if (a < cutoff if higher_is_better else a > cutoff)]
    if len(kept) < len(pairs):
        excluded = {**excluded, "intake not in the clinical range": len(pairs) - len(kept)}
    return kept, excluded
