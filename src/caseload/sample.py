"""A synthetic sample caseload: realistic ORS/SRS (and some PHQ-9/GAD-7) ratings for demos, tests and benchmarks.

Every client is invented (codes "S-0001", clinicians "T01"). The generator follows the simulation norms in
shared/reference/formats-and-norms.md section 3: ORS intake ~ Normal(18, 8) truncated to 0..40, change
roughly log-linear in session number and proportional to the distance from the cutoff, AR(1) session noise,
SRS near the ceiling (40 x Beta(14, 1): formats 3.4 suggests Beta(9, 1) but also 15-25% below 36 at
session 1, which Beta(9, 1) overshoots at 39%), a session-count mixture (single sessions + negative binomial),
dropout that is likelier after low alliance or poor progress, and missed ratings. Each client has a latent
class and an "eventual outcome" (the first-to-last category of the complete, untruncated course) kept in
``SyntheticCaseload.clients`` for benchmarks; neither is written into the export files.

Dates are drawn as days before ``today``, so a seed gives the same caseload relative to the generation day
and the newest sessions are always recent (active clients exist).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from caseload.change import classify_change
from caseload.measures import Measure, load_measures

SAMPLE_IMPORT_NAME = "Sample caseload (synthetic).csv"
MAX_ITEMS = 9  # PHQ-9 has the most items of the measures the sample uses
ITEM_COLUMNS = [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]
EXPORT_COLUMNS = [
    "client_id",
    "clinician_id",
    "session_date",
    "session_number",
    "measure",
    "rater",
    "age_group",
    *ITEM_COLUMNS,
    "total",
    "ending",
]
MEASURE_ORDER = {"ORS": 0, "SRS": 1, "PHQ9": 2, "GAD7": 3}

# Latent classes of clients whose intake is on the clinical side, with their shares (sum 1). Chosen so that a
# caseload lands near the calibration targets of formats-and-norms 3.5: reliable improvement 40-55%,
# no reliable change 35-45%, reliable deterioration 5-8%.
CLASS_SHARES = {
    "early_responder": 0.34,
    "slow_improver": 0.30,
    "non_responder": 0.28,
    "deteriorator": 0.08,
}
ABOVE_CUTOFF = "above_cutoff"  # intake on the non-clinical side: change about 0 or negative (formats 3.1)


@dataclass(frozen=True)
class SampleConfig:
    """Knobs of the generator; the defaults follow formats-and-norms section 3 (sources there)."""

    ors_intake_mean: float = 18.0  # 3.1: adult outpatient ORS intake 16-19; Normal(18, 8) suggested
    ors_intake_sd: float = 8.0
    noise_sd: float = 2.5  # 3.2: AR(1) session noise; 3-4 suggested, 2.5 keeps test-retest near .8
    noise_ar: float = 0.5
    single_session_share: float = (
        0.05  # 3.3 says up to 25% in routine care; the demo keeps "a couple" (a quota)
    )
    sessions_mean: float = 8.0  # 3.3: negative binomial mean about 7-8, dispersion 1.5, capped at 40
    sessions_dispersion: float = 1.5
    max_sessions: int = 40
    active_share: float = 0.6  # share of clients still in treatment on the generation day
    history_days: int = 540  # how far back closed courses start
    second_episode_share: float = 0.06  # clients who return after a long break (a new episode)
    phq_share: float = 0.3  # clients who also fill in PHQ-9 and GAD-7
    adolescent_share: float = 0.12
    parent_rater_share: float = 0.4  # adolescents whose parent also rates the ORS
    missing_ors: float = 0.04  # 3.3: missing measures in about 5-10% of attended sessions
    missing_srs: float = 0.07
    missing_phq: float = 0.10
    total_only_share: float = 0.03  # ratings exported as a total without items (OpenFIT Format B style)
    # Closed courses whose export says how they ended (on the last session's ratings); the rest leave it to
    # the clinician. Our choice: ICCE-style systems ask for the ending type at closure (rom-systems 3.6).
    ending_recorded_share: float = 0.8


@dataclass(frozen=True)
class SyntheticCaseload:
    """Generated ratings (canonical long layout) and, per client episode, the truth behind them."""

    ratings: pd.DataFrame
    clients: pd.DataFrame


def simulate_caseload(
    n_clients: int,
    seed: int,
    today: date | None = None,
    n_clinicians: int | None = None,
    config: SampleConfig | None = None,
    registry: dict[str, Measure] | None = None,
) -> SyntheticCaseload:
    """Ratings and per-client truth (latent class, eventual outcome) of ``n_clients`` invented clients."""
    if n_clients < 1:
        raise ValueError("n_clients must be at least 1")
    cfg = config or SampleConfig()
    registry = registry or load_measures()
    today = today or date.today()
    rng = np.random.default_rng(seed)
    # A stream of its own, so recording endings leaves every other generated number as it was.
    ending_rng = np.random.default_rng([seed, 8])
    n_clin = n_clinicians or max(2, round(n_clients / 12))
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    classes = _class_quota(rng, n_clients, cfg)
    singles = set(rng.permutation(n_clients)[: round(n_clients * cfg.single_session_share)].tolist())
    for i in range(n_clients):
        client_id = f"S-{i + 1:04d}"
        clinician = f"T{rng.integers(1, n_clin + 1):02d}"
        age_group = "adolescent" if rng.random() < cfg.adolescent_share else "adult"
        active = rng.random() < cfg.active_share
        course = _course(rng, cfg, registry, age_group, classes[i], single=i in singles)
        second = None
        if not active and rng.random() < cfg.second_episode_share:
            second = _course(rng, cfg, registry, age_group, _draw_class(rng, cfg))
        # Lay the courses out in time, newest last, as day offsets before `today`.
        if second is not None:
            end_offset = int(rng.integers(0, 20)) if rng.random() < 0.7 else int(rng.integers(70, 200))
            second_days = second["days"]
            second_start = end_offset + second_days[-1]
            first_end = second_start + int(rng.integers(120, 400))
            first_start = first_end + course["days"][-1]
            layout = [(course, first_start, 1), (second, second_start, 2)]
        elif active:
            # Today falls inside the course: keep only the sessions already held.
            span = course["days"][-1]
            start = int(rng.integers(0, span + 1)) if span > 0 else int(rng.integers(0, 8))
            layout = [(course, start, 1)]
        else:
            end = int(rng.integers(10, cfg.history_days))
            layout = [(course, end + course["days"][-1], 1)]
        number = 0
        for c, start, episode in layout:
            held = [k for k, d in enumerate(c["days"]) if start - d >= 0]
            first_number = number + 1
            complete = len(held) == len(c["days"])
            recorded = complete and ending_rng.random() < cfg.ending_recorded_share
            for k in held:
                number = first_number + k
                when = today - timedelta(days=int(start - c["days"][k]))
                for rec in c["sessions"][k]:
                    rows.append(
                        {
                            "client_id": client_id,
                            "clinician_id": clinician,
                            "session_date": when,
                            "session_number": number,
                            "age_group": age_group,
                            "ending": c["ending"] if recorded and k == held[-1] else None,
                            **rec,
                        }
                    )
            if not held:
                continue
            truth.append(
                {
                    "client_id": client_id,
                    "episode": episode,
                    "clinician_id": clinician,
                    "age_group": age_group,
                    "latent_class": c["latent_class"],
                    "alliance_pattern": c["alliance_pattern"],
                    "sudden_gain_session": c["sudden_gain_session"],
                    "intake_true": c["intake_true"],
                    "sessions_total": len(c["days"]),
                    "sessions_held": len(held),
                    "in_progress": len(held) < len(c["days"]),
                    "ending": "open" if len(held) < len(c["days"]) else c["ending"],
                    "eventual_first": c["eventual_first"],
                    "eventual_last": c["eventual_last"],
                    "eventual_category": c["eventual_category"],
                    "eventual_good": c["eventual_category"] in ("improved", "recovered"),
                    "has_phq": c["has_phq"],
                }
            )
            number = first_number + len(c["days"]) - 1
    ratings = pd.DataFrame(rows)
    for col in ITEM_COLUMNS:
        if col not in ratings:
            ratings[col] = np.nan
    ratings["session_date"] = pd.to_datetime(ratings["session_date"])
    ratings["_order"] = ratings["measure"].map(MEASURE_ORDER)
    ratings = (
        ratings.sort_values(["client_id", "session_number", "_order", "rater"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    return SyntheticCaseload(ratings=ratings[EXPORT_COLUMNS], clients=pd.DataFrame(truth))


def generate_caseload(n_clients: int, seed: int, today: date | None = None, **kwargs: Any) -> pd.DataFrame:
    """The sample ratings in the canonical long layout; the per-client truth rides along in ``.attrs["clients"]``."""
    sim = simulate_caseload(n_clients, seed, today=today, **kwargs)
    frame = sim.ratings.copy()
    frame.attrs["clients"] = sim.clients
    return frame


def export_frame(ratings: pd.DataFrame) -> pd.DataFrame:
    """The ratings as export text: ISO dates, items and totals with the measure's decimals, blanks for missing."""
    out = pd.DataFrame({c: ratings[c].astype(str) for c in ("client_id", "clinician_id", "measure", "rater")})
    out["session_date"] = pd.to_datetime(ratings["session_date"]).dt.strftime("%Y-%m-%d")
    out["session_number"] = ratings["session_number"].astype(int).astype(str)
    out["age_group"] = ratings["age_group"].astype(str)
    out["ending"] = ratings["ending"].astype(object).where(ratings["ending"].notna(), "").astype(str)
    one_decimal = ratings["measure"].isin(["ORS", "SRS"]).to_numpy()
    for col in [*ITEM_COLUMNS, "total"]:
        values = ratings[col].to_numpy(dtype=float)
        text = np.where(
            np.isnan(values),
            "",
            np.where(one_decimal, np.char.mod("%.1f", values), np.char.mod("%.0f", values)),
        )
        out[col] = text
    return out[EXPORT_COLUMNS]


def sample_csv_bytes(ratings: pd.DataFrame) -> bytes:
    """The ratings as a UTF-8 CSV in the canonical long layout."""
    return export_frame(ratings).to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_sample(
    out_dir: str | Path, n_clients: int = 40, seed: int = 7, today: date | None = None
) -> list[Path]:
    """Write sample_caseload.csv and sample_caseload.xlsx (same rows) into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ratings = simulate_caseload(n_clients, seed, today=today).ratings
    csv_path = out / "sample_caseload.csv"
    csv_path.write_bytes(sample_csv_bytes(ratings))
    xlsx_path = out / "sample_caseload.xlsx"
    xlsx_path.write_bytes(_xlsx_bytes(ratings))
    return [csv_path, xlsx_path]


def load_sample(
    con, registry: dict[str, Measure], n_clients: int = 40, seed: int = 7, today: date | None = None
):
    """Import a freshly generated sample caseload through the real importer, labelled as synthetic sample data.

    Returns the importer's ImportReport; the import is named "Sample caseload (synthetic).csv" so every
    screen that lists imports shows where these clients came from.
    """
    from caseload.ingest import import_file

    today = today or date.today()
    ratings = simulate_caseload(n_clients, seed, today=today, registry=registry).ratings
    return import_file(
        con, sample_csv_bytes(ratings), file_name=SAMPLE_IMPORT_NAME, registry=registry, today=today
    )


def store_rows(ratings: pd.DataFrame, registry: dict[str, Measure], import_id: int) -> pd.DataFrame:
    """The generated ratings in the store's ratings-table layout (items as a list), for tests and benchmarks.

    The app stores sample data through the importer (``load_sample``); this conversion lets benchmarks fill
    a store with a million ratings without timing the importer.
    """
    ratings = ratings.reset_index(drop=True)
    n_items = ratings["measure"].map(lambda c: registry[c].n_items).to_numpy()
    values = ratings[ITEM_COLUMNS].to_numpy(dtype=float)
    items = [None if np.isnan(row[0]) else row[:k].tolist() for row, k in zip(values, n_items, strict=True)]
    return pd.DataFrame(
        {
            "client_id": ratings["client_id"].astype(str),
            "clinician_id": ratings["clinician_id"].astype(str),
            "episode_id": pd.Series([None] * len(ratings), dtype="object"),
            "age_group": ratings["age_group"].astype(str),
            "session_date": pd.to_datetime(ratings["session_date"]).dt.date,
            "session_number": ratings["session_number"].astype(int),
            "measure": ratings["measure"].astype(str),
            "rater": ratings["rater"].astype(str),
            "items": items,
            "total": ratings["total"].astype(float),
            "total_source": np.where([i is None for i in items], "total", "items"),
            "import_id": import_id,
            "source_row": np.arange(1, len(ratings) + 1),
            "ending": ratings["ending"].astype(object).where(ratings["ending"].notna(), None),
        }
    )


# --- one client's course -------------------------------------------------------------------------------


def _class_shares(cfg: SampleConfig) -> dict[str, float]:
    """Shares of all latent classes: above-cutoff intakes as Normal(mean, sd) implies, the rest split."""
    above = 1 - NormalDist(cfg.ors_intake_mean, cfg.ors_intake_sd).cdf(25.0)
    return {ABOVE_CUTOFF: above, **{k: v * (1 - above) for k, v in CLASS_SHARES.items()}}


def _class_quota(rng: np.random.Generator, n: int, cfg: SampleConfig) -> list[str]:
    """Latent classes for n clients in their shares (largest remainder), shuffled: small samples get each kind."""
    shares = _class_shares(cfg)
    exact = {k: v * n for k, v in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    quota = [k for k, c in counts.items() for _ in range(c)]
    return [quota[j] for j in rng.permutation(n)]


def _draw_class(rng: np.random.Generator, cfg: SampleConfig) -> str:
    shares = _class_shares(cfg)
    return str(rng.choice(list(shares), p=list(shares.values())))


def _intake(rng: np.random.Generator, cfg: SampleConfig, mean: float, cutoff: float, above: bool) -> float:
    """An ORS intake from Normal(mean, sd) on the side of the cutoff the class needs (rejection sampling)."""
    for _ in range(1000):
        x = rng.normal(mean, cfg.ors_intake_sd)
        if 0.5 <= x <= 39.5 and (x >= cutoff) == above:
            return float(x)
    return float(cutoff + 2 if above else cutoff - 2)


def _course(
    rng: np.random.Generator,
    cfg: SampleConfig,
    registry: dict[str, Measure],
    age_group: str,
    latent: str,
    single: bool = False,
):
    """One episode: session days, the ratings held at each session and the truth about it."""
    ors = registry["ORS"]
    cutoff = float(ors.cutoff_for(age_group))
    shift = cutoff - float(ors.cutoff_for("adult"))  # adolescents start (and end) a little higher
    intake = _intake(rng, cfg, cfg.ors_intake_mean + shift, cutoff, latent == ABOVE_CUTOFF)
    gap = cutoff + 2.0 - intake  # distance to just above the cutoff, in points
    sudden_gain_session = None
    jump = 0.0
    if latent == "early_responder":
        delta, t_ref = gap * rng.uniform(0.9, 1.2), 3.0
    elif latent == "slow_improver":
        delta, t_ref = gap * rng.uniform(0.7, 1.0), 10.0
    elif latent == "non_responder":
        delta, t_ref = gap * rng.normal(0.05, 0.1), 8.0
    elif latent == "deteriorator":
        delta, t_ref = -rng.uniform(4.0, 9.0), 6.0
    else:
        delta, t_ref = rng.normal(-1.0, 2.0), 8.0
    delta *= 1 + 0.25 * rng.standard_normal()  # client random slope (formats 3.2: SD about 0.4 |delta|)
    if latent in ("early_responder", "slow_improver") and rng.random() < 0.25:
        # Sudden gains: a one-session jump of 5-8 points carries part of the change (formats 3.2).
        jump = min(rng.uniform(5.0, 8.0), max(delta, 0.0))
        sudden_gain_session = int(rng.integers(3, 8))
        delta -= jump
    alliance = _alliance_pattern(rng, latent)
    planned = 1 if single else _planned_sessions(rng, cfg)
    has_phq = rng.random() < cfg.phq_share
    parent = age_group == "adolescent" and rng.random() < cfg.parent_rater_share

    srs_base = 40 * rng.beta(14, 1)  # about 23% of clients below 36 before session noise
    if alliance == "low":
        srs_base = 40 * rng.beta(6, 1.6)
    phq1 = float(np.clip(rng.normal(15.4, 5.5), 0, 27))  # formats 3.1: NHS Talking Therapies intake
    gad1 = float(np.clip(rng.normal(14.0, 4.5), 0, 21))
    if latent == ABOVE_CUTOFF:
        phq1, gad1 = phq1 * 0.5, gad1 * 0.5
    rupture_at = int(rng.integers(2, max(3, planned + 1))) if alliance == "rupture" else None

    noise = 0.0
    true_scores, observed = [], []
    sessions: list[list[dict[str, Any]]] = []
    days = [0]
    ending = "planned"
    t = 0
    while True:
        t += 1
        g = min(np.log(t) / np.log(t_ref), 1.3) if t > 1 else 0.0
        true_t = intake + delta * g + (jump if sudden_gain_session and t >= sudden_gain_session else 0.0)
        innovation = rng.normal(0, cfg.noise_sd * np.sqrt(1 - cfg.noise_ar**2))
        noise = rng.normal(0, cfg.noise_sd) if t == 1 else cfg.noise_ar * noise + innovation
        score = float(np.clip(true_t + noise, 0, 40))
        true_scores.append(true_t)
        observed.append(score)
        recs: list[dict[str, Any]] = []
        if t == 1 or rng.random() >= cfg.missing_ors:
            recs.append(_rating(rng, "ORS", score, 4, 10, cfg, item_sd=1.5))
        if parent and rng.random() < 0.7:
            recs.append(
                _rating(rng, "ORS", score - 2 + rng.normal(0, 2.5), 4, 10, cfg, item_sd=1.5, rater="parent")
            )
        srs = srs_base + 0.2 * (t - 1) + rng.normal(0, 1.0)
        if alliance == "declining" and t >= 2:
            srs -= 0.9 * (t - 1)
        if rupture_at is not None and t == rupture_at:
            srs -= rng.uniform(5, 10)
        srs_low = srs < 36
        if rng.random() >= cfg.missing_srs:
            recs.append(_rating(rng, "SRS", float(np.clip(srs, 0, 40)), 4, 10, cfg, item_sd=0.5))
        if has_phq:
            progress = float(np.clip((true_t - intake) / max(gap, 3.0), -0.6, 1.2))
            if rng.random() >= cfg.missing_phq or t == 1:
                phq = phq1 - (phq1 - 4.0) * progress + rng.normal(0, 1.5)
                risk = t <= 3 and phq1 >= 18 and rng.random() < 0.35
                recs.append(_rating(rng, "PHQ9", phq, 9, 3, cfg, integer=True, risk_item=risk))
            if rng.random() >= cfg.missing_phq or t == 1:
                gad = gad1 - (gad1 - 4.0) * progress + rng.normal(0, 1.3)
                recs.append(_rating(rng, "GAD7", gad, 7, 3, cfg, integer=True))
        sessions.append(recs)
        if t >= min(planned, cfg.max_sessions):
            break
        # Unplanned endings are likelier after a low alliance rating or poor progress (formats 3.3).
        off = t >= 3 and true_t - intake < -1.0
        hazard = 0.02 + (0.07 if srs_low else 0.0) + (0.06 if off else 0.0)
        if rng.random() < hazard:
            ending = "unplanned"
            break
        # Clients who have recovered often finish early by agreement.
        if t >= 4 and score > cutoff + 3 and rng.random() < 0.2:
            break
        days.append(days[-1] + _gap_days(rng))
    first, last = observed[0], observed[-1]
    category = classify_change(ors, first, last if len(observed) > 1 else None, age_group).category
    return {
        "days": days,
        "sessions": sessions,
        "latent_class": latent,
        "alliance_pattern": alliance,
        "sudden_gain_session": sudden_gain_session,
        "intake_true": intake,
        "ending": ending,
        "eventual_first": first,
        "eventual_last": last,
        "eventual_category": category,
        "has_phq": has_phq,
    }


def _alliance_pattern(rng: np.random.Generator, latent: str) -> str:
    """Stable, low, rupture or declining alliance; low and declining are likelier without progress."""
    poor = latent in ("non_responder", "deteriorator")
    p = [0.62, 0.15, 0.10, 0.13] if poor else [0.80, 0.06, 0.10, 0.04]
    return str(rng.choice(["stable", "low", "rupture", "declining"], p=p))


def _planned_sessions(rng: np.random.Generator, cfg: SampleConfig) -> int:
    """Session count of the non-single-session part of formats 3.3's mixture: 1 + negative binomial, capped."""
    k = cfg.sessions_dispersion
    n = 1 + rng.negative_binomial(k, k / (k + cfg.sessions_mean))
    return int(min(max(n, 2), cfg.max_sessions))


def _gap_days(rng: np.random.Generator) -> int:
    """Days to the next session: mostly weekly, sometimes fortnightly, occasionally several weeks."""
    u = rng.random()
    if u < 0.75:
        return 7
    if u < 0.93:
        return 14
    return int(rng.integers(21, 43))


def _rating(
    rng: np.random.Generator,
    measure: str,
    target: float,
    n_items: int,
    item_max: int,
    cfg: SampleConfig,
    item_sd: float = 1.0,
    integer: bool = False,
    rater: str = "self",
    risk_item: bool = False,
) -> dict[str, Any]:
    """One rating: items scattered around target / n_items, the total their exact sum."""
    target = float(np.clip(target, 0, n_items * item_max))
    rec: dict[str, Any] = {"measure": measure, "rater": rater}
    if integer:
        items = _integer_items(rng, int(round(target)), n_items, item_max)
        if risk_item and items[-1] == 0:
            items[-1] = 1
            donors = [i for i in range(n_items - 1) if items[i] > 0]
            if donors:
                items[int(rng.choice(donors))] -= 1
        elif not risk_item and items[-1] > 0:
            # Keep the risk item for the clients the generator marks; move its points elsewhere.
            spare = [i for i in range(n_items - 1) if items[i] < item_max]
            while items[-1] > 0 and spare:
                j = int(rng.choice(spare))
                items[j] += 1
                items[-1] -= 1
                spare = [i for i in range(n_items - 1) if items[i] < item_max]
        values = [float(v) for v in items]
        total = float(sum(items))
    else:
        raw = target / n_items + rng.normal(0, item_sd, n_items)
        raw[-1] = target / n_items + rng.normal(0, item_sd * 0.4)  # "overall" tracks the total most closely
        values = [float(v) for v in np.round(np.clip(raw, 0, item_max), 1)]
        total = round(sum(values), 1)
    if not integer and rng.random() < cfg.total_only_share:
        values = [np.nan] * n_items
    for i in range(MAX_ITEMS):
        rec[f"item_{i + 1}"] = values[i] if i < n_items else np.nan
    rec["total"] = total
    return rec


def _integer_items(rng: np.random.Generator, total: int, n_items: int, item_max: int) -> list[int]:
    """Integer items 0..item_max that add up exactly to ``total`` (clipped to the possible range)."""
    total = int(min(max(total, 0), n_items * item_max))
    items = np.minimum(rng.multinomial(total, np.full(n_items, 1 / n_items)), item_max)
    while items.sum() < total:  # hand the clipped points to items with room left
        room = np.flatnonzero(items < item_max)
        items[rng.choice(room)] += 1
    return [int(v) for v in items]


def _xlsx_bytes(ratings: pd.DataFrame) -> bytes:
    """The ratings as a one-sheet workbook (openpyxl write-only), with real date cells; byte-stable per input."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    fixed = datetime(2026, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    ws = wb.create_sheet("ratings")
    ws.append(EXPORT_COLUMNS)
    text = export_frame(ratings)
    dates = pd.to_datetime(ratings["session_date"]).dt.date.tolist()
    numeric = [*ITEM_COLUMNS, "total"]
    for r, row in enumerate(text.itertuples(index=False)):
        values = []
        for col, cell in zip(EXPORT_COLUMNS, row, strict=True):
            if col == "session_date":
                values.append(dates[r])
            elif col == "session_number":
                values.append(int(cell))
            elif col in numeric:
                values.append(float(cell) if cell != "" else None)
            else:
                values.append(cell)
        ws.append(values)
    buf = io.BytesIO()
    wb.save(buf)
    return _stable_zip(buf.getvalue(), fixed)


def _stable_zip(data: bytes, when: datetime) -> bytes:
    """Rewrite a zip with fixed member timestamps so regenerating the same workbook gives the same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _fix_core_times(body, when)
            fixed = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, body)
    return out.getvalue()


def _fix_core_times(body: bytes, when: datetime) -> bytes:
    import re

    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", body)
