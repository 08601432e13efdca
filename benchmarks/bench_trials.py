"""The fixed cost of a trial: a grid study of near-free trials (one epoch of a one-layer
model on 32 rows), one at a time, started cold from the shell as a user runs it.

What a trial costs beyond its own epoch is everything the runner does for it: planning
it, its folder, status and provenance, building the model and data, checkpoints, the
test split, the index. Measured as the gap between the first metric rows of consecutive
trials (their metrics.jsonl times): the median over the study, and its first and last
10% (a cost that grows with the study shows there).

    python benchmarks/bench_trials.py [--trials 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import emit  # noqa: E402

RECIPE = """\
name: near-free
output_dir: {out}
device: cpu
model: {{target: benchmarks.workloads.Tiny}}
data: {{target: benchmarks.workloads.tiny_loader}}
train: {{epochs: 1, batch_size: 16, progress: "off"}}
study:
  space:
    model.args.width: {{int: [1, {n}]}}
  concurrency: 1
"""


def first_rows(study: Path) -> list[float]:
    """Each trial's first metric row time, in order."""
    times = []
    for metrics in study.glob("*/metrics.jsonl"):
        with metrics.open() as handle:
            times.append(json.loads(handle.readline())["time"])
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "recipe.yaml"
        path.write_text(RECIPE.format(out=out, n=args.trials))
        subprocess.run([sys.executable, "-m", "model_trainer", "run", str(path)], cwd=ROOT,
                       check=True, capture_output=True)
        times = first_rows(Path(out) / "near-free")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    tenth = max(1, len(gaps) // 10)
    emit({"trials": len(times),
          "per_trial_ms": round(1000 * statistics.median(gaps), 1),
          "first_10pct_ms": round(1000 * statistics.median(gaps[:tenth]), 1),
          "last_10pct_ms": round(1000 * statistics.median(gaps[-tenth:]), 1)}, args.json)


if __name__ == "__main__":
    main()
