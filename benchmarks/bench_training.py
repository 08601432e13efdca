"""Per-epoch time of a plain PyTorch loop, model_trainer and Lightning, run alternately.

Same model, data, batch size, seed and thread count for all three; each run trains
`--epochs` epochs with an evaluation on the val split at the end of every epoch, and an
epoch's time is the gap between two consecutive ends of evaluation (so the first epoch,
with its set-up, is never counted). model_trainer runs with its default settings:
progress display on, train metrics logged every `log_every` steps, a checkpoint per epoch.

    python benchmarks/bench_training.py [--rounds 3] [--epochs 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.workloads import (  # noqa: E402
    WORKLOADS,
    make_loader,
    plain_evaluate,
    plain_train_epoch,
)
from model_trainer.recipe import load_recipe  # noqa: E402
from model_trainer.recipe.resolve import import_object  # noqa: E402

RECIPE = """\
name: bench-{workload}
seed: 0
output_dir: {out}
device: cpu
model: {{target: {model}}}
data: {{target: benchmarks.workloads.make_loader, args: {{workload: {workload}}}}}
train:
  epochs: {epochs}
  batch_size: {batch_size}
  optimizer: {{name: adamw, lr: {lr}, weight_decay: 0.0}}
  metrics: [accuracy]
"""


def plain(workload: str, epochs: int) -> list[float]:
    """The loop a researcher writes by hand: train, then evaluate loss and accuracy."""
    spec = WORKLOADS[workload]
    torch.manual_seed(0)
    config = SimpleNamespace(seed=0, data=SimpleNamespace(args={"workload": workload}),
                             train=SimpleNamespace(batch_size=spec["batch_size"]))
    train, val = make_loader(config, "train"), make_loader(config, "val")
    model = import_object(spec["model"])()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.0)
    ends = []
    for _ in range(epochs):
        plain_train_epoch(model, optimizer, train)
        plain_evaluate(model, val)
        ends.append(time.perf_counter())
    return gaps(ends)


def mtrain(workload: str, epochs: int) -> list[float]:
    """model_trainer through `mtrain run`'s code path (load_recipe + run_experiment)."""
    from model_trainer.trial.experiment import run_experiment

    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "recipe.yaml"
        path.write_text(RECIPE.format(workload=workload, out=out, epochs=epochs,
                                      **WORKLOADS[workload]))
        run_experiment(load_recipe(path))
        rows = [json.loads(line) for line in next(Path(out).rglob("metrics.jsonl")).open()]
    return gaps([r["time"] for r in rows if r["split"] == "val"])


def lightning(workload: str, epochs: int) -> list[float] | None:
    """Lightning's Trainer with its defaults (progress bar, logger, checkpointing)."""
    try:
        import lightning as L
    except ImportError:
        return None
    spec = WORKLOADS[workload]
    config = SimpleNamespace(seed=0, data=SimpleNamespace(args={"workload": workload}),
                             train=SimpleNamespace(batch_size=spec["batch_size"]))
    ends: list[float] = []

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = import_object(spec["model"])()

        def training_step(self, batch, _):
            _, loss = self.model(**batch)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, _):
            logits, loss = self.model(**batch)
            self.log("val_loss", loss)
            self.log("val_accuracy", (logits.argmax(1) == batch["labels"]).float().mean())

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=spec["lr"], weight_decay=0.0)

    class Timer(L.Callback):
        def on_validation_epoch_end(self, trainer, module):
            if not trainer.sanity_checking:
                ends.append(time.perf_counter())

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                            default_root_dir=out, callbacks=[Timer()],
                            enable_model_summary=False)
        trainer.fit(Module(), make_loader(config, "train"), make_loader(config, "val"))
    return gaps(ends)


def plain_whole(workload: str, epochs: int) -> float:
    """A plain script's whole run: model and data made, `epochs` epochs with a val
    evaluation each, the test split at the end (the same work `mtrain run` does)."""
    start = time.perf_counter()
    spec = WORKLOADS[workload]
    torch.manual_seed(0)
    config = SimpleNamespace(seed=0, data=SimpleNamespace(args={"workload": workload}),
                             train=SimpleNamespace(batch_size=spec["batch_size"]))
    train, val, test = (make_loader(config, f) for f in ("train", "val", "test"))
    model = import_object(spec["model"])()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.0)
    for _ in range(epochs):
        plain_train_epoch(model, optimizer, train)
        plain_evaluate(model, val)
    plain_evaluate(model, test)
    return time.perf_counter() - start


def mtrain_whole(workload: str, epochs: int) -> float:
    """The same through `model_trainer.run`: recipe loading, the trial folder, checkpoints."""
    import model_trainer

    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "recipe.yaml"
        path.write_text(RECIPE.format(workload=workload, out=out, epochs=epochs,
                                      **WORKLOADS[workload]))
        start = time.perf_counter()
        model_trainer.run(path)
        return time.perf_counter() - start


# an epoch longer than this (the CNN's ~160 ms): costs of a few us a step or ms a run,
# measured as differences of epochs and runs, are within this machine's noise (they read
# -1,600 to +2,300 us a step): reported as such, not as numbers
NOISE_BOUND_S = 0.1
# what a recipe adds to measure the cost of a feature per step (step_overhead_us)
FEATURES = {"ema": "  ema: {decay: 0.999}\n",
            "callback": "  callbacks: [benchmarks.workloads.StepCallback]\n"}


def _set_up(workload: str, epochs: int, feature: str | None = None) -> Any:
    """model_trainer's wrapper for the workload, set up (loaders, model, optimizer) as a
    run would, without a trial folder."""
    from model_trainer.wrapper import ModelWrapper

    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "recipe.yaml"
        path.write_text(RECIPE.format(workload=workload, out=out, epochs=epochs,
                                      **WORKLOADS[workload]) + FEATURES.get(feature, ""))
        wrapper = ModelWrapper(load_recipe(path).recipe)
        wrapper.setup()
    return wrapper


def step_overhead_us(workload: str, epochs: int = 30, feature: str | None = None) -> float:
    """What model_trainer's loop adds to one train step, in microseconds: the same model
    and loader trained an epoch at a time by the plain loop and by `Loop.train_epoch`,
    alternating, the fastest epoch of each (the least disturbed by the machine), divided
    by the steps of an epoch. `feature`: with train.ema, or a callback called every step."""
    wrapper = _set_up(workload, epochs, feature)
    spec = WORKLOADS[workload]
    model = import_object(spec["model"])()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.0)
    plain_s, ours_s = [], []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        plain_train_epoch(model, optimizer, wrapper.train_loader)
        plain_s.append(time.perf_counter() - start)
        wrapper.loop.state.batch_in_epoch = 0
        start = time.perf_counter()
        wrapper.loop.train_epoch(epoch)
        ours_s.append(time.perf_counter() - start)
    return 1e6 * (min(ours_s) - min(plain_s)) / len(wrapper.train_loader)


def eval_overhead_ms(workload: str, epochs: int = 30) -> float:
    """What model_trainer adds to one evaluation on val, in milliseconds: `Loop.evaluate`
    (loss, train.metrics, custom_evaluation) against the plain loop's evaluation of the
    same model and loader, alternating, the fastest of each."""
    wrapper = _set_up(workload, epochs)
    plain_s, ours_s = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        plain_evaluate(wrapper.model, wrapper.val_loader)
        plain_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        wrapper.loop.evaluate("val")
        ours_s.append(time.perf_counter() - start)
    return 1e3 * (min(ours_s) - min(plain_s))


def gaps(ends: list[float]) -> list[float]:
    return [b - a for a, b in zip(ends, ends[1:], strict=False)]


RUNNERS = {"plain": plain, "mtrain": mtrain, "lightning": lightning}


def peak_memory_mb(runner: str, workload: str, epochs: int, threads: int) -> float:
    """Peak RSS that training adds in a fresh process: sampled every 5 ms during the run,
    over the RSS after the imports and the data are loaded."""
    cmd = [sys.executable, __file__, "--child", runner, "--workload", workload,
           "--epochs", str(epochs), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _training_peak_mb(run) -> float:
    import threading

    import psutil

    process, peak, done = psutil.Process(), [0], threading.Event()
    baseline = process.memory_info().rss

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return (max(peak[0], process.memory_info().rss) - baseline) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--json")
    parser.add_argument("--child")
    parser.add_argument("--workload", default="mlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:  # memory measurement in a fresh process
        import model_trainer.trial.experiment  # noqa: F401  (imports are not the trainer's peak)

        config = SimpleNamespace(seed=0, data=SimpleNamespace(args={"workload": args.workload}),
                                 train=SimpleNamespace(batch_size=64))
        make_loader(config, "train")
        print(_training_peak_mb(lambda: RUNNERS[args.child](args.workload, args.epochs)))
        return
    results = {}
    for workload in args.workloads:
        epochs: dict[str, list[float]] = {name: [] for name in RUNNERS}
        for _ in range(args.rounds):  # alternate, so drift hits all three alike
            for name, runner in RUNNERS.items():
                times = runner(workload, args.epochs)
                if times is None:
                    epochs.pop(name, None)
                    continue
                epochs[name] += times
        medians = {name: statistics.median(t) for name, t in epochs.items() if t}
        row = {f"{name}_epoch_s": round(m, 4) for name, m in medians.items()}
        row["mtrain_over_plain"] = round(medians["mtrain"] / medians["plain"], 3)
        wholes: dict[str, list[float]] = {"plain": [], "mtrain": []}
        # whole 10-epoch runs, set-up and test included: 0.2 s each for the MLP, where this
        # machine's noise is a large share, so three times as many
        for _ in range(3 * args.rounds):
            wholes["plain"].append(plain_whole(workload, 10))
            wholes["mtrain"].append(mtrain_whole(workload, 10))
        whole = {name: statistics.median(t) for name, t in wholes.items()}
        row["plain_whole_10_epochs_s"] = round(whole["plain"], 3)
        row["mtrain_whole_10_epochs_s"] = round(whole["mtrain"], 3)
        row["whole_run_over_plain"] = round(whole["mtrain"] / whole["plain"], 3)
        # per run: the whole run's extra time less 10 epochs of the per-epoch extra
        extra_per_epoch = medians["mtrain"] - medians["plain"]
        fixed = 1000 * (whole["mtrain"] - whole["plain"] - 10 * extra_per_epoch)
        names = ["fixed_cost_per_run_ms", "step_overhead_us", "eval_overhead_ms",
                 *(f"step_overhead_{feature}_us" for feature in FEATURES)]
        if medians["plain"] > NOISE_BOUND_S:  # a few us a step is below this machine's noise
            row.update(dict.fromkeys(names, f"below noise (an epoch is "
                                            f"{1000 * medians['plain']:.0f} ms)"))
        else:
            row.update(zip(names, [round(fixed, 1), round(step_overhead_us(workload), 1),
                                   round(eval_overhead_ms(workload), 2),
                                   *(round(step_overhead_us(workload, feature=feature), 1)
                                     for feature in FEATURES)], strict=True))
        if "lightning" in medians:
            row["lightning_over_plain"] = round(medians["lightning"] / medians["plain"], 3)
        else:
            row["lightning"] = "skipped: install the [compare] extra"
        mem = {n: peak_memory_mb(n, workload, 2, args.threads) for n in ("plain", "mtrain")}
        row["plain_train_peak_mb"] = round(mem["plain"], 1)
        row["mtrain_train_peak_mb"] = round(mem["mtrain"], 1)
        results[workload] = row
        print(f"{workload}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
