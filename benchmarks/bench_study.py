"""Studies on one machine, cold from the shell as a user runs them, side by side.

The same 8 trials (the digits MLP at 4 widths x 2 seeds) run five ways, each started as a
fresh process (imports and engine start included): a plain PyTorch script running them one
after the other (benchmarks/plain_study.py, the floor), `mtrain run` at concurrency 1, on
model_trainer's local executor and on its Ray executor at concurrency 2, and on Ray Tune
at concurrency 2 (from the [compare] extra). For the local executor also: when the first
trial started and when the process exited after printing its summary, beside the time a
fresh `python -c "import torch"` takes on this machine, and one that also makes an
optimizer (which imports torch._dynamo: what every PyTorch process pays before a step). Reported per way: the wall
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
from typing import NamedTuple

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


class Measured(NamedTuple):
    wall: float  # seconds from the command to its exit
    rss_mb: float  # peak of the process tree's summed RSS
    pss_mb: float  # peak of its summed PSS
    lines: list[tuple[float, str]]  # (seconds after the command, line) of its output


def measured(cmd: list[str]) -> Measured:
    """The wall time, peak memory and timed output lines of a command's process tree."""
    import psutil

    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak, done = [0.0, 0.0], threading.Event()
    lines: list[tuple[float, str]] = []

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
    for line in proc.stdout:  # to its end: the exit is timed by wait(), not by the pipe
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        tail = "\n".join(text for _, text in lines[-20:])
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{tail}")
    return Measured(wall, peak[0] / 2**20, peak[1] / 2**20, lines)


def study(epochs: int, out: str, *overrides: str) -> Measured:
    path = Path(out) / "recipe.yaml"
    path.write_text(RECIPE.format(out=out, epochs=epochs))
    return measured([sys.executable, "-m", "model_trainer", "run", str(path), *overrides])


def tune(epochs: int, out: str) -> Measured:
    return measured([sys.executable, str(ROOT / "benchmarks" / "tune_study.py"),
                     "--epochs", str(epochs), "--out", out])


def plain_sequential(epochs: int, out: str) -> Measured:
    del out
    return measured([sys.executable, str(ROOT / "benchmarks" / "plain_study.py"),
                     "--epochs", str(epochs)])


def timeline(run: Measured) -> dict[str, float]:
    """When the first trial started, and how long the exit took after the summary."""
    started = next(t for t, line in run.lines if " started (" in line)
    summary = next(t for t, line in run.lines if line.startswith("study "))
    return {"first_trial_started_s": round(started, 2),
            "exit_after_summary_s": round(run.wall - summary, 3)}


READY = "import torch; torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())"


def fresh_python_s(code: str) -> float:
    """A fresh interpreter running `code`, the best of three (this machine's noise)."""
    def once() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    return round(min(once() for _ in range(3)), 2)


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
    # "import torch" alone; "ready": also its first optimizer, which imports torch._dynamo
    # (about a second more): what any PyTorch process pays before its first step
    torch_s, ready_s = fresh_python_s("import torch"), fresh_python_s(READY)
    result: dict = {"machine": {"two_processes_speedup": machine_parallel_speedup(),
                                "torch_import_s": torch_s, "torch_ready_s": ready_s}}
    for epochs in args.epochs:
        row: dict = {}
        runs = {
            "plain_sequential": lambda out, e=epochs: plain_sequential(e, out),
            "sequential": lambda out, e=epochs: study(e, out, "study.concurrency=1"),
            "local": lambda out, e=epochs: study(e, out, "study.concurrency=2"),
            "ray": lambda out, e=epochs: study(e, out, "study.concurrency=2",
                                               "study.executor=ray"),
            "ray_tune": lambda out, e=epochs: tune(e, out),
        }
        for name, run in runs.items():
            with tempfile.TemporaryDirectory() as out:
                try:
                    done = run(out)
                except (RuntimeError, FileNotFoundError) as exc:
                    row[f"{name}_s"] = f"failed: {str(exc).splitlines()[-1][:120]}"
                    continue
                row[f"{name}_s"] = round(done.wall, 2)
                row[f"{name}_peak_rss_mb"] = round(done.rss_mb)
                row[f"{name}_peak_pss_mb"] = round(done.pss_mb)
                if name == "local":
                    times = timeline(done)
                    row.update(times)
                    row["first_trial_over_torch_import"] = round(
                        times["first_trial_started_s"] / torch_s, 2)
                    row["first_trial_over_torch_ready"] = round(
                        times["first_trial_started_s"] / ready_s, 2)
                    # the same study again: nothing left to do
                    row["rerun_nothing_to_do_s"] = round(study(epochs, out,
                                                               "study.concurrency=2").wall, 2)
        seq, tune_s = row.get("sequential_s"), row.get("ray_tune_s")
        plain_s = row.get("plain_sequential_s")
        for name in ("local", "ray"):
            wall = row.get(f"{name}_s")
            if isinstance(wall, float) and isinstance(plain_s, float):
                row[f"{name}_over_plain_sequential"] = round(wall / plain_s, 3)
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
