"""Time `mtrain analyze` on a synthetic study of 2,000 trials with 100 metric rows each.

    python benchmarks/bench_analysis.py [--trials 2000] [--rows 100] [--json PATH] [--keep DIR]

Prints `analysis: 2000 trials x 100 rows: 6.3 s` (plots and report included; generating
the folders is not timed) and, with --json, writes {"analysis_2000_trials_s": 6.3}.
The target is under 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """name: bench
seed: {seed}
output_dir: runs
device: auto
model:
  target: examples.digits.MLP
  config: examples.digits.MLPConfig
  args:
    hidden: {hidden}
    dropout: {dropout}
    num_classes: 10
data:
  target: examples.digits.make_loader
  args: {{}}
wrapper: model_trainer.ModelWrapper
train:
  epochs: {epochs}
  batch_size: 64
  optimizer:
    name: adamw
    lr: {lr}
    weight_decay: 0.0
  scheduler:
    name: none
  grad_clip: null
  grad_accum: 1
  precision: fp32
  metrics:
  - accuracy
  monitor:
    metric: val_accuracy
    mode: max
  early_stopping:
    patience: null
"""

SPACE = {
    "model.args.hidden": {"choice": [64, 128, 256, 512]},
    "train.optimizer.lr": {"loguniform": [1.0e-4, 1.0e-2]},
    "model.args.dropout": {"uniform": [0.0, 0.5]},
}


def generate(root: Path, trials: int, rows: int, seeds: int = 5) -> Path:
    """A study folder with `trials` trial folders, each with `rows` metrics.jsonl lines."""
    rng = random.Random(0)
    study = root / "bench_study"
    study.mkdir(parents=True)
    epochs = rows // 2
    base = RECIPE.format(seed=0, hidden=128, dropout=0.1, lr=1.0e-3, epochs=epochs)
    base += "study:\n  space:\n" + "".join(
        f"    {k}: {json.dumps(v)}\n" for k, v in SPACE.items()
    ) + f"  sampler: random\n  trials: {trials // seeds}\n  seeds: {list(range(seeds))}\n"
    (study / "study.yaml").write_text(base)
    index = []
    for number in range(trials):
        seed = number % seeds
        hidden = rng.choice(SPACE["model.args.hidden"]["choice"])
        lr = math.exp(rng.uniform(math.log(1e-4), math.log(1e-2)))
        dropout = rng.uniform(0.0, 0.5)
        tid = f"bench-{number:05d}-{rng.getrandbits(48):012x}"
        folder = study / tid
        folder.mkdir()
        (folder / "recipe.yaml").write_text(
            RECIPE.format(seed=seed, hidden=hidden, dropout=dropout, lr=lr, epochs=epochs))
        target = 0.9 - 0.05 * abs(math.log10(lr) + 3) + 0.01 * math.log2(hidden / 64) - 0.1 * dropout
        buf = io.StringIO()
        for epoch in range(1, epochs + 1):
            acc = target - 0.3 / epoch + rng.gauss(0, 0.01)
            step = epoch * 100
            buf.write(json.dumps({"step": step, "epoch": epoch, "split": "train", "time": 1.7e9 + step,
                                  "metrics": {"loss": 1.1 - acc + rng.gauss(0, 0.02), "lr": lr}}) + "\n")
            buf.write(json.dumps({"step": step, "epoch": epoch, "split": "val", "time": 1.7e9 + step,
                                  "metrics": {"loss": 1.0 - acc, "accuracy": acc}}) + "\n")
        (folder / "metrics.jsonl").write_text(buf.getvalue())
        params = {"model.args.hidden": hidden, "train.optimizer.lr": lr, "model.args.dropout": dropout}
        (folder / "status.json").write_text(json.dumps({
            "trial_id": tid, "name": "bench", "state": "completed", "attempts": 1,
            "started_at": "2025-01-01T00:00:00+00:00", "ended_at": "2025-01-01T00:10:00+00:00",
            "duration_s": 600.0, "stop_reason": "epochs reached", "epochs_done": epochs,
            "global_step": epochs * 100, "best": None, "error": None, "versions": {},
            "git_commit": None, "study": {"study_id": "bench", "params": params}}))
        index.append({"number": number, "trial_id": tid, "params": params, "seed": seed,
                      "state": "completed", "value": None})
    (study / "study_index.json").write_text(json.dumps({
        "study_id": "bench", "objective": {"metric": "val_accuracy", "mode": "max"},
        "space": SPACE, "trials": index}))
    return study


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="write the timing here")
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    args = parser.parse_args(argv)

    from rich.console import Console

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
    from model_trainer.analysis import analyze

    tmp = Path(tempfile.mkdtemp(prefix="bench_analysis_")) if args.keep is None else args.keep
    try:
        study = generate(tmp, args.trials, args.rows)
        os.sync()  # the files on disk, as a finished study's are: no write-back while timed
        start = time.perf_counter()
        analyze(study, console=Console(file=io.StringIO(), width=160))
        seconds = time.perf_counter() - start
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"analysis: {args.trials} trials x {args.rows} rows: {seconds:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({f"analysis_{args.trials}_trials_s": round(seconds, 2)}) + "\n")
    return seconds


if __name__ == "__main__":
    main()
