"""GPU check: the digits and CIFAR-FakeData recipes on CUDA in fp32 and bf16.

Prints one line per run: recipe, precision, final val metrics, seconds per epoch.
Exits 0 with a message on a machine without an NVIDIA GPU.

    python benchmarks/gpu_check.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RUNS = [
    ("digits_mlp", ["train.early_stopping.patience=null"]),
    ("cifar_resnet", ["data.args.source=fake", "data.args.fake_size=2048", "data.num_workers=2",
                      "train.batch_size=128", "model.args.width=16"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU on this machine; nothing to check")
        return 0
    sys.path.insert(0, str(REPO))
    from model_trainer.experiment import run_experiment
    from model_trainer.recipe import load_recipe

    print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mtrain-gpu-check-") as out:
        for name, overrides in RUNS:
            for precision in ("fp32", "bf16"):
                loaded = load_recipe(REPO / "recipes" / f"{name}.yaml", [
                    f"output_dir={out}/{precision}", "device=cuda", f"train.precision={precision}",
                    f"train.epochs={args.epochs}", "train.progress=off", *overrides])
                started = time.perf_counter()
                try:
                    result = run_experiment(loaded)
                except Exception as exc:  # report and go on with the other runs
                    failures += 1
                    print(f"{name:14s} {precision:5s} FAILED {type(exc).__name__}: {exc}")
                    continue
                per_epoch = (time.perf_counter() - started) / max(result.epochs_done, 1)
                metrics = " ".join(f"{k}={v:.4f}" for k, v in result.final_metrics.items())
                print(f"{name:14s} {precision:5s} {metrics}  {per_epoch:.2f} s/epoch "
                      f"(first epoch includes CUDA start-up)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
