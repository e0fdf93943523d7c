"""Alert quality: how well the session-4 status predicts how a course of treatment ends (issue 4, item 5).

For each seed: generate a history caseload of complete courses (sample.py, known outcomes) and calibrate on
it; generate a fresh set of clients, keep only their first 4 sessions, and compute the session-4 ORS status
with the default model and with the calibrated one. Compare against each fresh client's eventual outcome
(the category of the complete course): "poor" = unchanged or deteriorated (incl. harmed), "good" = improved
or recovered. Also the simple rule "no reliable change by session 4", as it stands and with its threshold
moved to flag as many clients as the model does (ranking by change since intake); and, threshold-free, each
predictor's ranking (AUC, and what it catches flagging exactly 45%).

Aims (issue 4): at_risk|off_track catches >= 70% of poor outcomes while flagging <= 45% of clients; off_track
alone has PPV >= 80%; calibrated beats default; both beat the simple rule at the same flag rate. Nothing here
is tuned per seed: the thresholds are AlertConfig's defaults (a chance of a poor end of 2/3 for at_risk, 0.8
for off_track), the same for every seed and history size; ``--sweep`` shows other at_risk chances beside it.

Run:  python benchmarks/alert_quality.py [--seeds 1 2 3 4 5] [--history 2000] [--fresh 1500] [--sweep] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from caseload.alerts import AlertConfig
from caseload.engine import caseload_overview, store_calibrations
from caseload.measures import load_measures
from caseload.sample import SampleConfig, simulate_caseload, store_rows
from caseload.store import connect
from caseload.trajectories import outcome_probability

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
    con.execute("insert into ratings by name select * from incoming")  # columns the rows lack stay empty
    con.unregister("incoming")
    return con


SWEEP = (0.5, 0.6, 2 / 3, 0.75, 0.8)  # at_risk probabilities shown beside the default, to show the trade-off


def evaluate_seed(
    seed: int,
    n_history: int,
    n_fresh: int,
    registry,
    clinical_only: bool = False,
    config: AlertConfig | None = None,
    sweep: bool = False,
) -> dict[str, object]:
    """Every figure for one seed: each predictor's session-4 flags against the eventual outcome."""
    config = config or AlertConfig()
    history = simulate_caseload(n_history, seed, today=TODAY, config=CONFIG, registry=registry)
    fresh = simulate_caseload(n_fresh, 10_000 + seed, today=TODAY, config=CONFIG, registry=registry)
    hist_con = _store(history.ratings, registry)
    calibrations = store_calibrations(hist_con, registry)
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
    models = (("default", {"trajectory": "default"}), ("calibrated", {"calibrations": calibrations}))
    configs = {"": config}
    if sweep:
        configs |= {
            f"@{p:.2f}": replace(config, at_risk_probability=p)
            for p in SWEEP
            if abs(p - config.at_risk_probability) > 1e-9
        }
    statuses: dict[str, pd.DataFrame] = {}
    for name, kw in models:
        for suffix, cfg in configs.items():
            frame = caseload_overview(con, registry, today=TODAY, alert_config=cfg, **kw)
            ors = frame[(frame["measure"] == "ORS") & (frame["rater"] == "self")].set_index("client_id")
            statuses[name + suffix] = ors
        out[f"{name}_bands_used"] = statuses[name]["expected_model"].value_counts().to_dict()
        odds = [
            a["values"]["model"]
            for alerts in statuses[name]["alerts"]
            for a in alerts
            if a["rule"] in ("at_risk", "off_track") and "p_poor" in a["values"]
        ]
        out[f"{name}_odds_used"] = pd.Series(odds, dtype=object).value_counts().to_dict()
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
        if "@" not in name:
            out[f"{name}_off"] = Scores.of(status == "off_track", poor).__dict__
    # The simple rule: no reliable improvement by session 4 (improvement below the registry's 5 points).
    rc, _ = registry["ORS"].reliable_change_threshold()
    improvement = ors.loc[clients, "improvement"].to_numpy(dtype=float)
    out["simple_rule"] = Scores.of(improvement < rc, poor).__dict__
    for name in ("default", "calibrated"):
        flagged = top(-improvement, out[f"{name}_any"]["flagged"])  # least improved first
        out[f"simple_rule_at_{name}_rate"] = Scores.of(flagged, poor).__dict__
    # Threshold-free comparison: each predictor's ranking (chance of a poor end; the simple rule's is the
    # change since intake), by its AUC and by what it catches when it flags exactly the budget's 45%.
    frame = ors.loc[clients]
    rankings = {"simple_rule": -improvement}
    for name, cals in (("default", {}), ("calibrated", calibrations)):
        p_poor = np.full(len(clients), np.nan)
        for pop, idx in frame.groupby("population", sort=False).indices.items():
            p_poor[idx] = outcome_probability(
                registry["ORS"],
                frame["first_score"].to_numpy(dtype=float)[idx],
                frame["t"].to_numpy(dtype=int)[idx],
                frame["improvement"].to_numpy(dtype=float)[idx],
                None if pop == "default" else pop,
                cals.get(("ORS", pop)),
            )["p_poor"].to_numpy(dtype=float)
        rankings[name] = p_poor
        # Calibration check: the mean predicted chance among clients at or above the at_risk probability.
        out[f"{name}_mean_p_flagged"] = float(np.nanmean(p_poor[p_poor >= config.at_risk_probability]))
    budget = int(round(0.45 * len(clients)))
    for name, score in rankings.items():
        out[f"{name}_auc"] = auc(score, poor)
        out[f"{name}_top45"] = Scores.of(top(score, budget), poor).__dict__
    return out


def top(score: np.ndarray, k: int) -> np.ndarray:
    """Flags for the k highest scores (ties in input order)."""
    flagged = np.zeros(len(score), dtype=bool)
    flagged[np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")[:k]] = True
    return flagged


def auc(score: np.ndarray, poor: np.ndarray) -> float:
    """Area under the ROC curve: the chance a client who ends poorly is ranked above one who improves."""
    ranks = pd.Series(np.nan_to_num(score, nan=-np.inf)).rank(method="average").to_numpy()
    n_pos, n_neg = int(poor.sum()), int((~poor).sum())
    return float((ranks[poor].sum() - n_pos * (n_pos + 1) / 2) / max(n_pos * n_neg, 1))


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


def aims(results: list[dict[str, object]]) -> dict[str, str]:
    """The issue's aims: 'met' on every seed, 'met on average' (mean over seeds), or 'NOT met'."""

    def judge(test) -> str:
        per_seed = [test(lambda key, metric, r=r: r[key][metric]) for r in results]
        on_mean = test(lambda key, metric: float(np.mean([r[key][metric] for r in results])))
        if all(per_seed):
            return "met"
        return f"met on average ({sum(per_seed)}/{len(per_seed)} seeds)" if on_mean else "NOT met"

    out = {}
    for name in ("default", "calibrated"):
        out[f"{name}: sensitivity >= 70% at flag rate <= 45%"] = judge(
            lambda v, n=name: v(f"{n}_any", "sensitivity") >= 0.70 and v(f"{n}_any", "flag_rate") <= 0.45
        )
        out[f"{name}: off_track PPV >= 80%"] = judge(lambda v, n=name: v(f"{n}_off", "ppv") >= 0.80)
        out[f"{name}: beats the simple rule at the same flag rate (sensitivity)"] = judge(
            lambda v, n=name: v(f"{n}_any", "sensitivity") > v(f"simple_rule_at_{n}_rate", "sensitivity")
        )
    out["calibrated beats default (sensitivity when each flags the same 45%)"] = judge(
        lambda v: v("calibrated_top45", "sensitivity") > v("default_top45", "sensitivity")
    )
    for name in ("default", "calibrated"):
        out[f"{name} beats the simple rule (sensitivity when each flags the same 45%)"] = judge(
            lambda v, n=name: v(f"{n}_top45", "sensitivity") > v("simple_rule_top45", "sensitivity")
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
    parser.add_argument(
        "--sweep",
        action="store_true",
        help=f"also show the flags at at_risk probabilities {', '.join(f'{p:.2f}' for p in SWEEP)}",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    registry = load_measures()
    started = time.perf_counter()
    results = [
        evaluate_seed(seed, args.history, args.fresh, registry, args.clinical_only, sweep=args.sweep)
        for seed in args.seeds
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
    print(
        "\nPer seed (flag rate / sensitivity / specificity; off_track PPV; simple rule's sensitivity at that rate):"
    )
    for r in results:
        cells = []
        for name in ("default", "calibrated"):
            a, o, simple = r[f"{name}_any"], r[f"{name}_off"], r[f"simple_rule_at_{name}_rate"]
            cells.append(
                f"{name} {a['flag_rate']:.1%} / {a['sensitivity']:.1%} / {a['specificity']:.1%};"
                f" PPV {o['ppv']:.1%}; simple {simple['sensitivity']:.1%}"
            )
        print(f"  seed {r['seed']}: " + " | ".join(cells))
    print("\nAims:")
    for aim, judged in verdict.items():
        print(f"  [{judged}] {aim}")
    print("\nRanking quality (mean over seeds): AUC ", end="")
    names = ("default", "calibrated", "simple_rule")
    print(", ".join(f"{k} {np.mean([r[f'{k}_auc'] for r in results]):.3f}" for k in names))
    print("Mean predicted chance of a poor end among clients at or above the at_risk probability: ", end="")
    print(", ".join(f"{k} {np.mean([r[f'{k}_mean_p_flagged'] for r in results]):.1%}" for k in names[:2]))
    first = results[0]
    print(f"\nSeed {first['seed']}: bands used, default {first['default_bands_used']}, calibrated ", end="")
    print(
        f"{first['calibrated_bands_used']}; odds behind the calibrated flags {first['calibrated_odds_used']};"
    )
    print(f"history episodes {first['history_episodes_calibrated']}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
