"""The study driver's own cost per trial as a study grows (no torch, near-free trials).

A grid study of N configurations runs with an executor that finishes each trial as soon
as it is submitted, so what is timed is the driver alone: planning the trial (its recipe
is validated and its id computed), recording each change in the index, the display. The
cost per trial is measured over the first and the last 10% of the study; a driver whose
work per trial grows with the study shows it as a ratio above 1.

    python benchmarks/bench_driver.py [--trials 100 1000 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import emit  # noqa: E402

RECIPE = """\
name: driver
output_dir: {out}
model: {{target: benchmarks.bench_driver.Model}}
data: {{target: benchmarks.bench_driver.loader}}
train: {{progress: off}}
study:
  space:
    model.args.width: {{int: [1, {n}]}}
"""


class Model:
    """A model the recipe can name and check, without torch."""

    def __init__(self, width: int = 1):
        self.width = width


def loader(config, flag):
    return None


class InstantExecutor:
    """Every trial completes the moment it is submitted; records when each one did."""

    runs_in_driver = False

    def __init__(self) -> None:
        self.done: list = []
        self.times: list[float] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    @property
    def running(self) -> int:
        return len(self.done)

    def submit(self, key, payload) -> None:
        self.done.append(key)

    def wait_one(self):
        from model_trainer.study.trial_task import TrialOutcome
        from model_trainer.vocabulary import RecordState

        self.times.append(time.perf_counter())
        key = self.done.pop()
        return key, TrialOutcome(RecordState.COMPLETED, value=float(key.number))

    def cancel_all(self, reason=None):
        return []


def per_trial_ms(n: int) -> tuple[float, float, float]:
    """(whole run, first 10%, last 10%) in ms per trial."""
    from rich.console import Console

    from model_trainer.recipe import load_recipe
    from model_trainer.study import run_study

    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "study.yaml"
        path.write_text(RECIPE.format(out=out, n=n))
        executor = InstantExecutor()
        start = time.perf_counter()
        run_study(load_recipe(path), console=Console(file=io.StringIO()), live=False,
                  executor=executor)
        total = time.perf_counter() - start
    gaps = [b - a for a, b in zip(executor.times, executor.times[1:], strict=False)]
    tenth = max(1, len(gaps) // 10)
    return (1000 * total / n, 1000 * statistics.mean(gaps[:tenth]),
            1000 * statistics.mean(gaps[-tenth:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--json")
    args = parser.parse_args()
    result = {}
    for n in args.trials:
        whole, first, last = per_trial_ms(n)
        result[f"trials_{n}"] = {"driver_ms_per_trial": round(whole, 2),
                                 "first_10pct_ms": round(first, 2),
                                 "last_10pct_ms": round(last, 2),
                                 "growth_last_over_first": round(last / first, 2)}
    emit(result, args.json)


if __name__ == "__main__":
    main()
