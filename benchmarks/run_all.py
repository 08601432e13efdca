"""`make bench`: run every benchmark in its own process, print one table, save JSON.

    python benchmarks/run_all.py [--json benchmarks/results.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
BENCHES = {  # name -> (script, arguments, quick arguments)
    "training": ("bench_training.py", ["--rounds", "4", "--epochs", "8"],
                 ["--rounds", "1", "--epochs", "3"]),
    "cli": ("bench_cli.py", ["--repeat", "5"], ["--repeat", "2"]),
    "study": ("bench_study.py", ["--epochs", "10", "60"], ["--epochs", "3"]),
    "driver": ("bench_driver.py", ["--trials", "100", "1000", "10000"],
               ["--trials", "100", "500"]),
    "trials": ("bench_trials.py", ["--trials", "300"], ["--trials", "50"]),
    "analysis": ("bench_analysis.py", [], ["--trials", "200"]),
    "adaptive": ("bench_adaptive.py", ["--studies", "1500"], ["--studies", "300"]),
}
GOALS = {  # what the issues ask for; the table says whether each was met
    ("training", "mlp", "mtrain_over_plain"): ("<=", 1.10),
    ("training", "cnn", "mtrain_over_plain"): ("<=", 1.03),
    ("training", "mlp", "whole_run_over_plain"): ("<=", 1.20),
    ("training", "cnn", "whole_run_over_plain"): ("<=", 1.08),
    ("study", "epochs_10", "local_over_plain_sequential"): ("<=", 1.0),
    ("study", "epochs_60", "local_over_plain_sequential"): ("<=", 0.75),
    ("study", "epochs_10", "first_trial_over_torch_import"): ("<=", 1.0),
    ("study", "epochs_10", "exit_after_summary_s"): ("<=", 0.3),
    ("study", "epochs_60", "exit_after_summary_s"): ("<=", 0.3),
    ("study", "epochs_10", "local_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_60", "local_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_10", "local_pss_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_60", "local_pss_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_10", "local_rss_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_60", "local_rss_over_ray_tune"): ("<=", 0.5),
    ("study", "epochs_10", "rerun_nothing_to_do_s"): ("<", 2.0),
    ("trials", None, "per_trial_ms"): ("<=", 50),
    ("driver", "trials_1000", "growth_last_over_first"): ("<=", 1.3),
    ("driver", "trials_10000", "growth_last_over_first"): ("<=", 1.3),
    ("analysis", None, "analysis_2000_trials_s"): ("<", 10.0),
    ("adaptive", None, "null_3_configs_any_effect_rate"): ("<=", 0.05),
    ("adaptive", None, "effect_3sd_trials_run_of_36"): ("<", 36),
    **{("adaptive", None, f"null_effect_rate_{shape}"): ("<=", 0.05)
       for shape in ("normal", "t3", "exponential", "lognormal")},
    **{("adaptive", None, f"power_{effect}sd_gap"): ("<=", 0.05) for effect in ("0.5", "1", "2")},
    ("adaptive", None, "seeds_saved_2sd"): (">=", 0.40),
    ("adaptive", None, "seeds_saved_3sd"): (">=", 0.40),
}


def run(name: str, quick: bool) -> dict:
    script, full, short = BENCHES[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(HERE / script), *(short if quick else full), "--json", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
        result = json.loads(out.read_text())
        result["bench_wall_s"] = round(time.perf_counter() - start, 1)
        return result


def rows(results: dict):
    for bench, result in results.items():
        groups = {k: v for k, v in result.items() if isinstance(v, dict)} or {None: result}
        for group, values in groups.items():
            for key, value in values.items():
                goal = GOALS.get((bench, group, key))
                verdict = ""
                if goal and isinstance(value, int | float):
                    op, limit = goal
                    ok = {"<=": value <= limit, "<": value < limit,
                          ">=": value >= limit}[op]
                    verdict = f"{'met' if ok else 'MISSED'} ({op} {limit})"
                yield bench, group or "", key, value, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(HERE / "results.json"))
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES))
    args = parser.parse_args()
    results = {}
    for name in args.only or BENCHES:
        print(f"running {name}...", file=sys.stderr, flush=True)
        results[name] = run(name, args.quick)
    table = Table(title="model_trainer benchmarks")
    for column in ("bench", "workload", "measure", "value", "goal"):
        table.add_column(column)
    for bench, group, key, value, verdict in rows(results):
        table.add_row(bench, group, key, str(value), verdict)
    Console().print(table)
    meta = {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(), "quick": args.quick}
    path = Path(args.json)
    earlier = json.loads(path.read_text()) if args.only and path.exists() else {}
    # --only replaces its benches' figures and keeps the others'
    path.write_text(json.dumps({**earlier, "meta": meta, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
