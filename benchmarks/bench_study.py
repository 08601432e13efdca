"""Studies on one machine, cold from the shell as a user runs them, side by side.

The same 8 trials (the digits MLP at 4 widths x 2 seeds) run four ways, each started as a
fresh process (imports and engine start included): one after the other (`mtrain run` at
concurrency 1), on model_trainer's local executor and on its Ray executor at concurrency
2, and on Ray Tune at concurrency 2 (from the [compare] extra). Reported per way: the wall
time and the peak memory of the whole process tree, two ways: summed RSS, sampled every
50 ms (counts the torch pages that forked workers share once per process, so it
overstates), and summed PSS, sampled every second as reading it costs ~10 ms a process
(shares each page among the processes that map it: the memory the study really takes).
Then the ratios the issue asks for. Also: a rerun of a finished study (nothing to do).

    python benchmarks/bench_study.py [--epochs 10 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PSS_EVERY = 20  # samples: PSS once a second
sys.path.insert(0, str(ROOT))

from benchmarks.common import emit  # noqa: E402

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
  optimizer: {{name: adamw, lr: 1.0e-3}}
  metrics: [accuracy]
  monitor: {{metric: val_accuracy, mode: max}}
  progress: off
study:
  space:
    model.args.hidden: {{choice: [64, 128, 192, 256]}}
  seeds: [0, 1]
  resources: {{cpus: 1}}
"""


def measured(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak MB of summed RSS, peak MB of summed PSS) of the process tree."""
    import psutil

    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak, done = [0.0, 0.0], threading.Event()

    def sample() -> None:
        for tick in itertools.count():
            if done.is_set():
                return
            # PSS reads every page table (~10 ms a torch process): once a second, so the
            # sampler does not take a core from the study it measures; RSS every 50 ms
            full = tick % PSS_EVERY == 0
            rss = pss = 0
            try:
                root = psutil.Process(proc.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    info = p.memory_full_info() if full else p.memory_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += info.pss if full else 0
            peak[0] = max(peak[0], rss)
            peak[1] = max(peak[1], pss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, peak[0] / 2**20, peak[1] / 2**20


def study(epochs: int, out: str, *overrides: str) -> tuple[float, float, float]:
    path = Path(out) / "recipe.yaml"
    path.write_text(RECIPE.format(out=out, epochs=epochs))
    return measured([sys.executable, "-m", "model_trainer", "run", str(path), *overrides])


def tune(epochs: int, out: str) -> tuple[float, float, float]:
    return measured([sys.executable, str(ROOT / "benchmarks" / "tune_study.py"),
                     "--epochs", str(epochs), "--out", out])


BUSY = """\
import time, torch
torch.set_num_threads(1)
x, w = torch.randn(256, 512), torch.randn(512, 512)
start = time.perf_counter()
for _ in range(2000):
    x @ w
print(time.perf_counter() - start)
"""


def machine_parallel_speedup() -> float:
    """How much faster two single-threaded torch processes finish a fixed amount of work
    than one does twice: 2.0 on two free cores, less where the cores are shared (the
    bound on local_over_sequential is about 1 / this, before start-up)."""
    def run(n: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE,
                                  text=True) for _ in range(n)]
        return max(float(p.communicate()[0]) for p in procs)

    one = min(run(1) for _ in range(3))  # the best of three: this machine's noise is large
    return round(2 * one / min(run(2) for _ in range(3)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--json")
    args = parser.parse_args()
    result: dict = {"machine": {"two_processes_speedup": machine_parallel_speedup()}}
    for epochs in args.epochs:
        row: dict = {}
        runs = {
            "sequential": lambda out, e=epochs: study(e, out, "study.concurrency=1"),
            "local": lambda out, e=epochs: study(e, out, "study.concurrency=2"),
            "ray": lambda out, e=epochs: study(e, out, "study.concurrency=2",
                                               "study.executor=ray"),
            "ray_tune": lambda out, e=epochs: tune(e, out),
        }
        for name, run in runs.items():
            with tempfile.TemporaryDirectory() as out:
                try:
                    wall, rss, pss = run(out)
                except (RuntimeError, FileNotFoundError) as exc:
                    row[f"{name}_s"] = f"failed: {str(exc).splitlines()[-1][:120]}"
                    continue
                row[f"{name}_s"] = round(wall, 2)
                row[f"{name}_peak_rss_mb"], row[f"{name}_peak_pss_mb"] = round(rss), round(pss)
                if name == "local":  # the same study again: nothing left to do
                    row["rerun_nothing_to_do_s"] = round(study(epochs, out,
                                                               "study.concurrency=2")[0], 2)
        seq, tune_s = row.get("sequential_s"), row.get("ray_tune_s")
        for name in ("local", "ray"):
            wall = row.get(f"{name}_s")
            if isinstance(wall, float) and isinstance(seq, float):
                row[f"{name}_over_sequential"] = round(wall / seq, 3)
            if isinstance(wall, float) and isinstance(tune_s, float):
                row[f"{name}_over_ray_tune"] = round(wall / tune_s, 3)
                for kind in ("rss", "pss"):
                    row[f"{name}_{kind}_over_ray_tune"] = round(
                        row[f"{name}_peak_{kind}_mb"] / row[f"ray_tune_peak_{kind}_mb"], 3)
        result[f"epochs_{epochs}"] = row
    emit(result, args.json)


if __name__ == "__main__":
    main()
