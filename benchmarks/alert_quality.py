"""Alert quality: how well the session-4 status predicts how a course of treatment ends (issue 4, item 5).

For each seed: generate a history caseload of complete courses (sample.py, known outcomes) and calibrate
expected bands on it; generate a fresh set of clients, keep only their first 4 sessions, and compute the
session-4 ORS status with the default model and with the calibrated one. Compare against each fresh client's
eventual outcome (the category of the complete course): "poor" = unchanged or deteriorated (incl. harmed),
"good" = improved or recovered. Also the simple rule "no reliable change by session 4", both as it stands and
with its threshold moved to flag as many clients as the model does (ranking by change since intake).

Aims (issue 4): at_risk|off_track catches >= 70% of poor outcomes while flagging <= 45% of clients; off_track
alone has PPV >= 80%; calibrated beats default; both beat the simple rule at the same flag rate. Nothing here
is tuned: the thresholds are the documented defaults (25th/10th percentile), the same for every seed.

Run:  python benchmarks/alert_quality.py [--seeds 1 2 3 4 5] [--history 2000] [--fresh 1500] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from caseload.engine import caseload_overview, store_calibrations
from caseload.measures import load_measures
from caseload.sample import SampleConfig, simulate_caseload, store_rows
from caseload.store import connect
from caseload.trajectories import CalibrationRules

TODAY = date(2026, 11, 22)
TRUNCATE_AT = 4
POOR = {"unchanged", "deteriorated", "harmed"}
GOOD = {"improved", "recovered"}

# Complete courses only (no client still in treatment), one episode each, the norms' session counts.
CONFIG = SampleConfig(active_share=0.0, second_episode_share=0.0)


@dataclass(frozen=True)
class Scores:
    flag_rate: float
    sensitivity: float
    specificity: float
    ppv: float
    flagged: int
    n: int

    @classmethod
    def of(cls, flagged: np.ndarray, poor: np.ndarray) -> Scores:
        flagged, poor = flagged.astype(bool), poor.astype(bool)
        tp = int((flagged & poor).sum())
        return cls(
            flag_rate=float(flagged.mean()),
            sensitivity=tp / max(int(poor.sum()), 1),
            specificity=int((~flagged & ~poor).sum()) / max(int((~poor).sum()), 1),
            ppv=tp / max(int(flagged.sum()), 1),
            flagged=int(flagged.sum()),
            n=len(flagged),
        )


def _store(ratings: pd.DataFrame, registry) -> duckdb.DuckDBPyConnection:
    con = connect(":memory:")
    con.execute(
        "insert into imports (import_id, file_name, sha256, imported_at, rows_read, rows_imported,"
        " rows_duplicate, rows_rejected) values (1, 'synthetic', 'x', now(), 0, 0, 0, 0)"
    )
    rows = store_rows(ratings, registry, 1)
    con.register("incoming", rows)
    con.execute(
        "insert into ratings by name select client_id, clinician_id, episode_id, age_group, session_date,"
        " session_number, measure, rater, items, total, total_source, import_id, source_row from incoming"
    )
    con.unregister("incoming")
    return con


def evaluate_seed(
    seed: int, n_history: int, n_fresh: int, registry, clinical_only: bool = False
) -> dict[str, object]:
    """Every figure for one seed: the three predictors at session 4 against the eventual outcome."""
    history = simulate_caseload(n_history, seed, today=TODAY, config=CONFIG, registry=registry)
    fresh = simulate_caseload(n_fresh, 10_000 + seed, today=TODAY, config=CONFIG, registry=registry)
    hist_con = _store(history.ratings, registry)
    calibrations = store_calibrations(hist_con, registry)
    improved_only = store_calibrations(
        hist_con, registry, calibration_rules=CalibrationRules(reference="improved")
    )
    n_calibrated = {f"{m}/{p}": c.episodes for (m, p), c in calibrations.items()}
    hist_con.close()

    truth = fresh.clients.set_index("client_id")
    # Fresh clients whose course goes on past session 4 and ends with a classifiable outcome.
    eligible = truth[(truth["sessions_total"] > TRUNCATE_AT) & truth["eventual_category"].isin(POOR | GOOD)]
    ratings = fresh.ratings[
        fresh.ratings["client_id"].isin(eligible.index) & (fresh.ratings["session_number"] <= TRUNCATE_AT)
    ]
    con = _store(ratings, registry)
    out: dict[str, object] = {"seed": seed, "history_episodes_calibrated": n_calibrated}
    statuses = {}
    models = (
        ("default", {"trajectory": "default"}),
        ("calibrated", {"calibrations": calibrations}),
        ("calibrated_improved", {"calibrations": improved_only}),
    )
    for name, kw in models:
        frame = caseload_overview(con, registry, today=TODAY, **kw)
        ors = frame[(frame["measure"] == "ORS") & (frame["rater"] == "self")].set_index("client_id")
        statuses[name] = ors
        used = ors["expected_model"].value_counts().to_dict()
        out[f"{name}_bands_used"] = used
    con.close()
    ors = statuses["default"]
    clients = ors.index[ors["sessions"] >= 2]
    if clinical_only:
        # Only clients whose ORS intake lies on the clinical side of their population's cutoff.
        clinical = ors.loc[clients, "first_score"] < ors.loc[clients, "cutoff"]
        clients = clients[clinical.to_numpy()]
    poor = eligible.loc[clients, "eventual_category"].isin(POOR).to_numpy()
    out["n"] = len(clients)
    out["poor_share"] = float(poor.mean())
    for name, frame in statuses.items():
        status = frame.loc[clients, "status"].to_numpy()
        out[f"{name}_any"] = Scores.of(np.isin(status, ["at_risk", "off_track"]), poor).__dict__
        out[f"{name}_off"] = Scores.of(status == "off_track", poor).__dict__
    # The simple rule: no reliable improvement by session 4 (improvement below the registry's 5 points).
    rc, _ = registry["ORS"].reliable_change_threshold()
    improvement = ors.loc[clients, "improvement"].to_numpy(dtype=float)
    out["simple_rule"] = Scores.of(improvement < rc, poor).__dict__
    for name in ("default", "calibrated", "calibrated_improved"):
        k = out[f"{name}_any"]["flagged"]
        order = np.argsort(improvement, kind="stable")  # least improved first
        flagged = np.zeros(len(clients), dtype=bool)
        flagged[order[:k]] = True
        out[f"simple_rule_at_{name}_rate"] = Scores.of(flagged, poor).__dict__
    return out


def summarise(results: list[dict[str, object]]) -> dict[str, dict[str, str]]:
    """Mean and SD across seeds of every score."""
    keys = [k for k, v in results[0].items() if isinstance(v, dict) and "sensitivity" in v]
    table = {}
    for key in keys:
        row = {}
        for metric in ("flag_rate", "sensitivity", "specificity", "ppv"):
            values = np.array([r[key][metric] for r in results])
            row[metric] = f"{values.mean():.1%} ± {values.std(ddof=1) if len(values) > 1 else 0:.1%}"
        table[key] = row
    return table


def aims(results: list[dict[str, object]]) -> dict[str, bool]:
    """The issue's aims, judged on the mean over seeds."""

    def mean(key: str, metric: str) -> float:
        return float(np.mean([r[key][metric] for r in results]))

    out = {}
    for name in ("default", "calibrated", "calibrated_improved"):
        out[f"{name}: sensitivity >= 70% at flag rate <= 45%"] = (
            mean(f"{name}_any", "sensitivity") >= 0.70 and mean(f"{name}_any", "flag_rate") <= 0.45
        )
        out[f"{name}: off_track PPV >= 80%"] = mean(f"{name}_off", "ppv") >= 0.80
        out[f"{name}: beats the simple rule at the same flag rate (sensitivity)"] = mean(
            f"{name}_any", "sensitivity"
        ) > mean(f"simple_rule_at_{name}_rate", "sensitivity")
    out["calibrated beats default (sensitivity at no higher flag rate)"] = (
        mean("calibrated_any", "sensitivity") >= mean("default_any", "sensitivity")
        and mean("calibrated_any", "flag_rate") <= mean("default_any", "flag_rate") + 0.02
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--history", type=int, default=2000, help="clients in the calibration history")
    parser.add_argument("--fresh", type=int, default=1500, help="fresh clients judged at session 4")
    parser.add_argument(
        "--clinical-only",
        action="store_true",
        help="judge only clients whose intake is on the clinical side of the cutoff",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    registry = load_measures()
    started = time.perf_counter()
    results = [
        evaluate_seed(seed, args.history, args.fresh, registry, args.clinical_only) for seed in args.seeds
    ]
    summary, verdict = summarise(results), aims(results)
    if args.json:
        print(json.dumps({"per_seed": results, "summary": summary, "aims": verdict}, indent=2, default=str))
        return 0
    who = " (clinical intakes only)" if args.clinical_only else ""
    print(f"Alert quality at session {TRUNCATE_AT}{who}; seeds {args.seeds}; history {args.history} clients,")
    print(f"fresh {args.fresh} clients ({np.mean([r['n'] for r in results]):.0f} judged per seed, ", end="")
    print(f"{np.mean([r['poor_share'] for r in results]):.0%} end without reliable improvement)\n")
    print(f"{'predictor':40} {'flag rate':>15} {'sensitivity':>15} {'specificity':>15} {'PPV':>15}")
    for key, row in summary.items():
        print(
            f"{key:40} {row['flag_rate']:>15} {row['sensitivity']:>15} {row['specificity']:>15} {row['ppv']:>15}"
        )
    print("\nAims (mean over seeds):")
    for aim, ok in verdict.items():
        print(f"  [{'met' if ok else 'NOT met'}] {aim}")
    print(f"\nBands used (seed {results[0]['seed']}): default {results[0]['default_bands_used']}, ", end="")
    print(
        f"calibrated {results[0]['calibrated_bands_used']}; history episodes {results[0]['history_episodes_calibrated']}"
    )
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
