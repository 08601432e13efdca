"""GPU check: the digits and CIFAR-FakeData recipes on CUDA in fp32 and bf16, and DDP.

Prints one line per run: recipe, precision, final val metrics, seconds per epoch; then
train.deterministic on CIFAR-FakeData (twice on, twice off: whether reruns are bit-identical
and the seconds per epoch, with the GPUs and driver the trial recorded); then, on a machine
with >= 2 GPUs, digits_ddp on 2 GPUs (NCCL) against one GPU on the same global batch (SGD,
no dropout) with the largest metric difference.
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
    from model_trainer.recipe import load_recipe
    from model_trainer.trial.experiment import run_experiment

    print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mtrain-gpu-check-") as out:
        for name, overrides in RUNS:
            for precision in ("fp32", "bf16", "fp16"):
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
        failures += determinism_check(out, args.epochs)
        failures += ddp_check(out, args.epochs)
        failures += nccl_one_rank_check(out, args.epochs)
        failures += fractional_study_check(out, args.epochs)
    return 1 if failures else 0


def determinism_check(out: str, epochs: int) -> int:
    """CIFAR-FakeData with train.deterministic on and off, two runs each: on gives the same
    rows bit for bit; the cost is the ratio of seconds per epoch."""
    import json

    from model_trainer.recipe import load_recipe
    from model_trainer.trial.experiment import run_experiment

    name, overrides = RUNS[1]
    found: dict[bool, list] = {True: [], False: []}
    for run in range(2):
        for on in (False, True):
            loaded = load_recipe(REPO / "recipes" / f"{name}.yaml", [
                f"output_dir={out}/det-{on}-{run}", "device=cuda", f"train.epochs={epochs}",
                "train.progress=off", f"train.deterministic={str(on).lower()}", *overrides])
            started = time.perf_counter()
            result = run_experiment(loaded)
            per_epoch = (time.perf_counter() - started) / max(result.epochs_done, 1)
            rows = [{k: v for k, v in json.loads(line).items() if k != "time"} for line in
                    (result.trial_dir / "metrics.jsonl").read_text().splitlines()]
            found[on].append((per_epoch, rows, result.trial_dir))
    record = json.loads((found[True][0][2] / "provenance.json").read_text())
    for on in (False, True):
        (t0, rows0, _), (t1, rows1, _) = found[on]
        print(f"deterministic={str(on).lower():5s} reruns identical: {rows0 == rows1}  "
              f"{min(t0, t1):.2f} s/epoch (best of 2)")
    slower = min(t for t, _, _ in found[True]) / min(t for t, _, _ in found[False])
    print(f"deterministic cost: x{slower:.2f} time per epoch; recorded GPUs {record['gpus']}, "
          f"driver {record['nvidia_driver']}, CUBLAS_WORKSPACE_CONFIG="
          f"{record['environment'].get('CUBLAS_WORKSPACE_CONFIG')}")
    return 0 if found[True][0][1] == found[True][1][1] else 1


def ddp_check(out: str, epochs: int) -> int:
    """digits_ddp on 2 GPUs vs 1 GPU: the same metrics within float tolerance."""
    from model_trainer.recipe import load_recipe
    from model_trainer.trial.experiment import run_experiment

    if torch.cuda.device_count() < 2:
        print(f"ddp            skipped: {torch.cuda.device_count()} GPU(s), DDP needs 2")
        return 0
    same = ["device=cuda", f"train.epochs={epochs}", "train.progress=off",
            "model.args.dropout=0.0", "train.optimizer={name: sgd, lr: 0.05}",
            "train.scheduler.name=none", "train.early_stopping.patience=null",
            "data.args.val_fraction=0.2877"]  # 1280 train samples: 10 global batches, no padding
    results = {}
    for label, extra in (("1gpu", ["train.strategy=single", "train.devices=1"]),
                         ("ddp2", ["train.strategy=ddp", "train.devices=2"])):
        loaded = load_recipe(REPO / "recipes" / "digits_ddp.yaml",
                             [f"output_dir={out}/{label}", *same, *extra])
        started = time.perf_counter()
        try:
            result = run_experiment(loaded)
        except Exception as exc:  # report, count as a failure
            print(f"ddp            {label} FAILED {type(exc).__name__}: {exc}")
            return 1
        results[label] = (result.final_metrics,
                          (time.perf_counter() - started) / max(result.epochs_done, 1))
    (one, t1), (two, t2) = results["1gpu"], results["ddp2"]
    diff = max(abs(one[k] - two[k]) for k in one)
    metrics = " ".join(f"{k}={v:.4f}" for k, v in two.items())
    print(f"ddp            2 GPUs {metrics}  max |ddp - 1 GPU| = {diff:.2e}  "
          f"{t2:.2f} s/epoch (1 GPU {t1:.2f}; includes start-up)")
    return 0 if diff < 1e-3 else 1


def nccl_one_rank_check(out: str, epochs: int) -> int:
    """An NCCL process group of one rank around digits_ddp: DDP wrapper, collectives on
    the GPU (metric reductions, state broadcast). The result must equal a plain 1-GPU run."""
    import os
    import socket

    import torch.distributed as dist

    from model_trainer.recipe import load_recipe
    from model_trainer.trial.experiment import run_experiment

    same = ["device=cuda", f"train.epochs={epochs}", "train.progress=off",
            "model.args.dropout=0.0", "train.early_stopping.patience=null",
            "train.strategy=single", "train.devices=1"]
    results = {}
    for label in ("plain", "nccl1"):
        loaded = load_recipe(REPO / "recipes" / "digits_ddp.yaml", [f"output_dir={out}/{label}",
                                                                     *same])
        try:
            if label == "nccl1":
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    port = probe.getsockname()[1]
                os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
                torch.cuda.set_device(0)
                dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0,
                                        world_size=1)
            results[label] = run_experiment(loaded).final_metrics
        except Exception as exc:
            print(f"nccl (1 rank)  {label} FAILED {type(exc).__name__}: {exc}")
            return 1
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    one, two = results["plain"], results["nccl1"]
    diff = max(abs(one[k] - two[k]) for k in one)
    print(f"nccl (1 rank)  {' '.join(f'{k}={v:.4f}' for k, v in two.items())}  "
          f"max |nccl - plain| = {diff:.2e}")
    return 0 if diff < 1e-4 else 1


def fractional_study_check(out: str, epochs: int) -> int:
    """A digits study on the local executor with half a GPU per trial, two at a time: both
    workers share GPU 0 (CUDA_VISIBLE_DEVICES), every trial trains on CUDA and completes."""
    import json

    from model_trainer.recipe import load_recipe
    from model_trainer.study import run_study

    loaded = load_recipe(REPO / "recipes" / "digits_study.yaml", [
        f"output_dir={out}/study", "device=cuda", f"train.epochs={epochs}",
        "study.concurrency=2", "study.resources={cpus: 1, gpus: 0.5}", "study.seeds=[0]",
        "study.space={model.args.hidden: {choice: [64, 128]}}"])
    started = time.perf_counter()
    try:
        result = run_study(loaded, live=False)
    except Exception as exc:
        print(f"study 2x0.5 GPU FAILED {type(exc).__name__}: {exc}")
        return 1
    states = {json.loads(p.read_text())["state"] for p in Path(out, "study").rglob("status.json")}
    ok = result.counts.get("completed") == 2 and states == {"completed"}  # device=cuda ran
    print(f"study 2x0.5 GPU {result.counts} in {time.perf_counter() - started:.1f} s "
          f"(local executor, both workers on GPU 0){'' if ok else ' FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
