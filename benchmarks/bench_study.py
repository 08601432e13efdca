"""Study speed-up and the framework's cost per trial.

Runs the same 8 short trials (4 configurations x 2 seeds of the digits MLP) three ways in
one process: one after the other (concurrency 1, inline), at concurrency 2 on a Ray that
is already running with warm workers (the steady state of a long study), and at
concurrency 2 including Ray's start and its workers' first imports. The cost per trial is
the wall time the study spends beyond the trials' own training time (their
`duration_s`), divided by the trial count.

    python benchmarks/bench_study.py [--epochs 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from benchmarks.common import emit  # noqa: E402
from model_trainer.recipe import load_recipe  # noqa: E402
from model_trainer.study import run_study  # noqa: E402

RECIPE = """\
name: bench-study
seed: 0
output_dir: {out}
device: cpu
model: {{target: benchmarks.workloads.MLP}}
data: {{target: benchmarks.workloads.make_loader, args: {{workload: mlp}}}}
train:
  epochs: {epochs}
  batch_size: 64
  progress: off
study:
  space:
    model.args.hidden: {{choice: [64, 128, 192, 256]}}
  seeds: [0, 1]
  concurrency: {concurrency}
  resources: {{cpus: 1}}
"""


def timed_study(epochs: int, concurrency: int) -> tuple[float, float, int]:
    """(wall seconds, sum of the trials' own durations, trial count) in a fresh folder."""
    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "recipe.yaml"
        path.write_text(RECIPE.format(out=out, epochs=epochs, concurrency=concurrency))
        start = time.perf_counter()
        run_study(load_recipe(path), live=False)
        wall = time.perf_counter() - start
        durations = [json.loads(p.read_text())["duration_s"]
                     for p in Path(out).rglob("status.json")]
    return wall, sum(durations), len(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    import ray

    cold_wall, _, _ = timed_study(args.epochs, 2)  # includes starting (and stopping) Ray
    seq_wall, seq_train, n = timed_study(args.epochs, 1)
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    timed_study(1, 2)  # warm-up: Ray's two worker processes import torch once, then are reused
    par_wall, par_train, _ = timed_study(args.epochs, 2)
    ray.shutdown()
    result = {
        "study_trials": n,
        "study_sequential_s": round(seq_wall, 2),
        "study_concurrency2_s": round(par_wall, 2),
        "study_concurrency2_with_ray_start_s": round(cold_wall, 2),
        "study_speedup_ratio": round(par_wall / seq_wall, 3),
        "study_speedup_ratio_with_ray_start": round(cold_wall / seq_wall, 3),
        "study_cost_per_trial_inline_s": round((seq_wall - seq_train) / n, 3),
        "study_cost_per_trial_ray_s": round((par_wall * 2 - par_train) / n, 3),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
