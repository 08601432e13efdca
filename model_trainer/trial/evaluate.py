"""`mtrain eval`: evaluate finished trials again from their saved checkpoints.

The trial's own recipe.yaml (resolved, self-contained) rebuilds its wrapper and loaders;
the chosen checkpoint's weights go into the model, and the split's row is appended to
metrics.jsonl with `"source": "eval"` and the checkpoint's name, at the checkpoint's step
and epoch: a re-evaluation, never taken for training's figures. The trial's lock is held
meanwhile: a trial that another process runs is refused (exit 2, naming it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.layout import (
    BEST_CHECKPOINT,
    CHECKPOINTS,
    LAST_CHECKPOINT,
    METRICS,
    STATUS,
)
from model_trainer.locks import FolderLock
from model_trainer.metrics_file import MetricsWriter
from model_trainer.recipe.resolve import import_object
from model_trainer.recipe.trial_file import load_trial_recipe
from model_trainer.train import checkpoint, distributed
from model_trainer.train.hook_checks import check_hooks
from model_trainer.train.state import TrainState
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import Split

CHECKPOINT_FILES = {"best": BEST_CHECKPOINT, "last": LAST_CHECKPOINT}


@dataclass
class Evaluation:
    """One trial's new row: which trial, from which checkpoint (and its epoch), what came."""

    trial_dir: Path
    checkpoint: str
    epoch: int
    metrics: dict[str, float]


def trial_folders(path: Path) -> list[Path]:
    """`path` itself when it is a trial folder, else the trial folders directly inside it
    (a study); UsageError when there are none."""
    if (path / STATUS).is_file():
        return [path]
    found = sorted(p.parent for p in path.glob(f"*/{STATUS}"))
    if not path.is_dir() or not found:
        raise UsageError(f"{path} is neither a trial folder nor a study folder (no "
                         f"{STATUS} in it or in its sub-folders)")
    return found


def evaluate_trial(folder: Path, ckpt: str = "best", split: str = Split.TEST) -> Evaluation:
    """Evaluate split `split` of the finished trial in `folder` with checkpoint `ckpt`."""
    with FolderLock(folder, "trial"):  # one writer: not while a run appends to it
        return _evaluate(folder, ckpt, split)


def _evaluate(folder: Path, ckpt: str, split: str) -> Evaluation:
    status = TrialStatus.load(folder)
    if status is None or not status.state.finished:
        state = status.state if status else "unreadable"
        raise UsageError(f"{folder}: the trial is {state}, not finished; run it to the end "
                         "(mtrain run) before evaluating it again")
    path = folder / CHECKPOINTS / CHECKPOINT_FILES[ckpt]
    if not path.is_file():
        raise UsageError(f"{folder}: it has no {CHECKPOINT_FILES[ckpt]} checkpoint"
                         + (" (no evaluation ever improved the monitor)" if ckpt == "best" else ""))
    recipe = trial_recipe(folder)
    wrapper = import_object(recipe.wrapper)(recipe)
    check_hooks(wrapper)
    wrapper.setup()
    saved = checkpoint.load_file(path)
    distributed.unwrap(wrapper.model).load_state_dict(saved["model"])
    state = TrainState.from_dict(saved["loop"])
    row = wrapper.loop.evaluate(split)
    if not row:
        raise UsageError(f"{folder}: the recipe's data has no {split} split to evaluate")
    writer = MetricsWriter(folder / METRICS)
    writer.append(split, row, state.global_step, state.epoch, checkpoint=ckpt, source="eval")
    writer.close()
    return Evaluation(folder, ckpt, state.epoch, row)


def trial_recipe(folder: Path) -> Any:
    """The trial's recipe.yaml as a recipe again (Derived values filled again by
    config_parser); one process, no progress display."""
    loaded, _ = load_trial_recipe(folder, ["train.strategy=single", "train.devices=1",
                                           "train.progress=off"])
    return loaded.recipe
