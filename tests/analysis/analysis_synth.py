"""Synthetic trial and study folders with every oddity `mtrain analyze` must survive.

Layout written by `make_runs(root)`:

    root/
      skip_ablation/            study: model.args.hidden x model.args.skip x seeds 0,1,2
        study.yaml, study_index.json (objective val_accuracy/max)
        <18 grid trials>        one failed (traceback), one still running (truncated last
                                line), one diverged (NaN/inf values)
        pending-<id>/           pending: status.json only, no metrics
        garbage-<id>/           status.json is not JSON
      lr_study/                 a second study from another recipe (objective val_loss/min)
        <6 trials>
      loose/                    two single trials, no study: grouped as "loose"
      tensorboard/, analysis/, loose/checkpoints/   decoy status.json files, not trials
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import yaml

HIDDEN = (64, 128, 256)
SKIP = (True, False)
SEEDS = (0, 1, 2)
SEED_NOISE = {0: 0.0, 1: 0.011, 2: -0.013}
FAILED = (64, False, 2)
RUNNING = (256, False, 2)
DIVERGED = (128, False, 1)
EPOCHS = 5


def base_recipe(name: str = "skip-ablation", hidden: int = 128, skip: bool = True,
                lr: float = 1.0e-3, seed: int = 0) -> dict:
    return {
        "name": name,
        "seed": seed,
        "output_dir": "runs",
        "device": "auto",
        "model": {"target": "examples.digits.MLP", "config": "examples.digits.MLPConfig",
                  "args": {"hidden": hidden, "skip": skip, "num_classes": 10}},
        "data": {"target": "examples.digits.make_loader", "args": {}},
        "wrapper": "model_trainer.ModelWrapper",
        "train": {"epochs": EPOCHS, "batch_size": 64,
                  "optimizer": {"name": "adamw", "lr": lr, "weight_decay": 0.0},
                  "scheduler": {"name": "none"}, "grad_clip": None, "grad_accum": 1,
                  "precision": "fp32", "metrics": ["accuracy"],
                  "monitor": {"metric": "val_loss", "mode": "min"},
                  "early_stopping": {"patience": None}},
    }


def target_accuracy(hidden: int, skip: bool, seed: int) -> float:
    """The best val_accuracy a grid trial reaches: skip helps, width helps a little."""
    config_noise = 0.002 * (((hidden // 64) + 3 * int(skip) + 5 * seed) % 3 - 1)
    return 0.80 + {64: -0.03, 128: 0.0, 256: 0.02}[hidden] - (0.0 if skip else 0.10) \
        + SEED_NOISE[seed] + config_noise


def trial_id(prefix: str, *parts) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def metric_lines(best_acc: float, epochs: int = EPOCHS, steps_per_epoch: int = 10) -> list[str]:
    lines = []
    for epoch in range(1, epochs + 1):
        acc = best_acc - 0.08 * (epochs - epoch) / epochs
        step = epoch * steps_per_epoch
        lines.append(json.dumps({"step": step, "epoch": epoch, "split": "train", "time": 1.7e9 + step,
                                 "metrics": {"loss": 1.2 - acc, "lr": 1e-3}}))
        lines.append(json.dumps({"step": step, "epoch": epoch, "split": "val", "time": 1.7e9 + step + 0.5,
                                 "metrics": {"loss": 1.0 - acc, "accuracy": acc}}))
    return lines


def write_trial(folder: Path, recipe: dict | None, status: dict | str, lines: list[str] | None,
                truncate: bool = False) -> Path:
    folder.mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "status.json").write_text("{}")  # must not count as a trial
    if recipe is not None:
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    text = status if isinstance(status, str) else json.dumps(status)
    (folder / "status.json").write_text(text)
    if lines is not None:
        body = "\n".join(lines) + "\n"
        if truncate:
            body += '{"step": 999, "epoch": 99, "split": "val", "metr'
        (folder / "metrics.jsonl").write_text(body)
    return folder


def status(tid: str, state: str, best: float | None, params: dict | None, study_id: str | None,
           **extra) -> dict:
    out = {
        "trial_id": tid, "name": "skip-ablation", "state": state, "attempts": 1,
        "started_at": "2025-01-01T10:00:00+00:00", "ended_at": "2025-01-01T10:05:00+00:00",
        "duration_s": 300.0, "stop_reason": "epochs reached", "epochs_done": EPOCHS,
        "global_step": EPOCHS * 10,
        "best": None if best is None else {"metric": "val_loss", "mode": "min", "value": best, "epoch": EPOCHS},
        "error": None, "versions": {"torch": "2.x"}, "git_commit": "abc123",
        "study": None if study_id is None else {"study_id": study_id, "params": params},
    }
    out.update(extra)
    return out


def make_skip_study(root: Path) -> Path:
    study = root / "skip_ablation"
    study.mkdir(parents=True)
    base = base_recipe()
    space = {"model.args.hidden": {"choice": list(HIDDEN)}, "model.args.skip": {"choice": list(SKIP)}}
    base["study"] = {"space": space, "sampler": "grid", "seeds": list(SEEDS), "concurrency": 2}
    (study / "study.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    index_trials = []
    number = 0
    for hidden in HIDDEN:
        for skip in SKIP:
            for seed in SEEDS:
                tid = trial_id(f"h{hidden}-skip{int(skip)}-s{seed}", hidden, skip, seed)
                params = {"model.args.hidden": hidden, "model.args.skip": skip}
                acc = target_accuracy(hidden, skip, seed)
                lines = metric_lines(acc)
                state, truncate, extra = "completed", False, {}
                if (hidden, skip, seed) == FAILED:
                    state, lines = "failed", lines[:2]
                    extra = {"stop_reason": None, "epochs_done": 1, "error": {
                        "type": "RuntimeError", "message": "CUDA out of memory <script>alert(1)</script>",
                        "traceback": "Traceback (most recent call last):\n  File \"loop.py\", line 3\n"
                                     "RuntimeError: CUDA out of memory"}}
                elif (hidden, skip, seed) == RUNNING:
                    state, lines, truncate = "running", lines[:6], True
                    extra = {"ended_at": None, "duration_s": None, "epochs_done": 3, "stop_reason": None}
                elif (hidden, skip, seed) == DIVERGED:
                    lines = lines[:4] + [
                        '{"step": 30, "epoch": 3, "split": "val", "time": 1.7e9, '
                        '"metrics": {"loss": Infinity, "accuracy": NaN}}'
                    ]
                    extra = {"stop_reason": "diverged", "epochs_done": 3}
                recipe = base_recipe(hidden=hidden, skip=skip, seed=seed)
                st = status(tid, state, 1.0 - acc, params, "study-skip", **extra)
                write_trial(study / tid, recipe, st, lines, truncate)
                index_trials.append({"number": number, "trial_id": tid, "params": params, "seed": seed,
                                     "state": state, "value": acc if state == "completed" else None})
                number += 1
    pending = trial_id("pending", 1)
    write_trial(study / pending, base_recipe(hidden=64, skip=True, seed=3),
                status(pending, "pending", None, {"model.args.hidden": 64, "model.args.skip": True},
                       "study-skip", started_at=None, ended_at=None, duration_s=None, epochs_done=0),
                None)
    write_trial(study / trial_id("garbage", 1), base_recipe(seed=4), '{"trial_id": "oops", "sta', None)
    (study / "study_index.json").write_text(json.dumps({
        "study_id": "study-skip", "objective": {"metric": "val_accuracy", "mode": "max"},
        "space": space, "trials": index_trials,
    }))
    return study


def make_lr_study(root: Path) -> Path:
    study = root / "lr_study"
    study.mkdir(parents=True)
    base = base_recipe(name="lr-sweep")
    base["model"] = {"target": "examples.cnn.CNN", "args": {"channels": 16}}
    space = {"train.optimizer.lr": {"loguniform": [1.0e-4, 1.0e-2]}}
    base["study"] = {"space": space, "sampler": "random", "trials": 3, "seeds": [0, 1]}
    (study / "study.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    entries = []
    for i, lr in enumerate((3.0e-4, 1.0e-3, 5.0e-3)):
        for seed in (0, 1):
            tid = trial_id(f"lr{i}-s{seed}", lr, seed)
            recipe = {**base_recipe(name="lr-sweep", lr=lr, seed=seed),
                      "model": {"target": "examples.cnn.CNN", "args": {"channels": 16}}}
            acc = 0.7 + 0.02 * i + 0.005 * seed
            write_trial(study / tid, recipe,
                        status(tid, "completed", 1 - acc, {"train.optimizer.lr": lr}, "study-lr"),
                        metric_lines(acc))
            entries.append({"number": len(entries), "trial_id": tid, "params": {"train.optimizer.lr": lr},
                            "seed": seed, "state": "completed", "value": 1 - acc})
    (study / "study_index.json").write_text(json.dumps({
        "study_id": "study-lr", "objective": {"metric": "val_loss", "mode": "min"},
        "space": space, "trials": entries}))
    return study


def make_loose(root: Path) -> None:
    for i, batch in enumerate((32, 64)):
        recipe = base_recipe(name=f"single{i}")
        recipe["train"]["batch_size"] = batch
        recipe["model"]["args"]["act"] = ("<i>relu</i>", "gelu")[i]  # user text that must be escaped
        tid = trial_id(f"single{i}", batch)
        write_trial(root / "loose" / tid, recipe, status(tid, "completed", 0.3, None, None),
                    metric_lines(0.75 + 0.01 * i))


def make_decoys(root: Path) -> None:
    """status.json files in folders the walk must skip: they are not trials."""
    for skipped in ("tensorboard/run1", "analysis/old", "loose/checkpoints/epoch1"):
        (root / skipped).mkdir(parents=True)
        (root / skipped / "status.json").write_text(json.dumps({"trial_id": "decoy", "state": "completed"}))


def make_runs(root: Path) -> Path:
    make_skip_study(root)
    make_lr_study(root)
    make_loose(root)
    make_decoys(root)
    return root


def quiet_console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=200, color_system=None)


def finite(values) -> list[float]:
    return [v for v in values if isinstance(v, float) and math.isfinite(v)]


def set_dotted(recipe: dict, key: str, value) -> None:
    node = recipe
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if isinstance(value, dict) and isinstance(node.get(leaf), dict):
        node[leaf] = {**node[leaf], **value}  # a sampled mapping merges into the base's
    else:
        node[leaf] = value


def make_study(folder: Path, space: dict, sampler: str, configs: list[dict], seeds: list[int],
               value, states: dict | None = None, seeds_spec=None, base_changes: dict | None = None) -> Path:
    """A study folder as the runner leaves it: study.yaml, study_index.json and one trial
    per (configuration, seed) whose best val_accuracy is `value(params, seed)`.
    `states` maps (config index, seed) to a state other than completed."""
    folder.mkdir(parents=True)
    base = base_recipe(name=folder.name)
    base["train"]["monitor"] = {"metric": "val_accuracy", "mode": "max"}
    for key, item in (base_changes or {}).items():
        set_dotted(base, key, item)
    study_yaml = {**base, "study": {"space": space, "sampler": sampler,
                                    "seeds": seeds if seeds_spec is None else seeds_spec}}
    (folder / "study.yaml").write_text(yaml.safe_dump(study_yaml, sort_keys=False))
    entries = []
    for number, params in enumerate(configs):
        for seed in seeds:
            recipe = json.loads(json.dumps(base))
            recipe["seed"] = seed
            for key, item in params.items():
                set_dotted(recipe, key, item)
            tid = trial_id(f"{folder.name}-{number}-s{seed}", repr(params), seed)
            state = (states or {}).get((number, seed), "completed")
            acc = value(params, seed)
            st = status(tid, state, acc, params, folder.name)
            st["best"] = {"metric": "val_accuracy", "mode": "max", "value": acc, "epoch": EPOCHS}
            write_trial(folder / tid, recipe, st, metric_lines(acc))
            entries.append({"number": number, "trial_id": tid, "params": params, "seed": seed,
                            "state": state, "value": acc})
    (folder / "study_index.json").write_text(json.dumps({
        "study_id": folder.name, "objective": {"metric": "val_accuracy", "mode": "max"},
        "space": space, "sampler": sampler, "trials": entries}))
    return folder
