"""What a trial folder says about a rerun: finished or not, which stateless values
changed since the last run, and where `--force` moves the old run."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import yaml

from model_trainer import dotted
from model_trainer.files import atomic_write_bytes
from model_trainer.layout import RECIPE, REPLACED
from model_trainer.recipe.identity import attribute_kinds
from model_trainer.recipe.markers import Kind
from model_trainer.recipe.view import recipe_yaml, written_form
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import StopReason, TrialState
from model_trainer.yaml_rules import load_yaml

log = logging.getLogger("model_trainer.train")


def is_finished(status: TrialStatus, recipe: Any, folder: Path) -> bool:
    """A completed or pruned trial that the current recipe would not train further."""
    if not status.state.finished:
        return False
    if status.state is TrialState.PRUNED:
        return True
    if status.stop_reason == StopReason.EARLY_STOP:
        changed = stateless_changes(folder / RECIPE, recipe)
        return not any(k.startswith("train.early_stopping.") for k in changed)
    steps = recipe.train.max_steps
    if steps is not None and status.global_step >= steps:
        return True
    if status.stop_reason == StopReason.MAX_STEPS:
        return False  # more steps, or none: go on
    return status.epochs_done >= recipe.train.epochs


def stateless_changes(old_recipe: Path, recipe: Any) -> dict[str, list[Any]]:
    """{dotted key: [old, new]} of the stateless values that differ from the last run
    (both as recipe.yaml holds them)."""
    try:
        old = load_yaml(old_recipe.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("%s cannot be read (%s); treated as missing: the stateless changes "
                    "since the last run are not recorded", old_recipe, str(exc).splitlines()[0])
        return {}
    if not isinstance(old, dict):
        log.warning("%s is not a recipe mapping; treated as missing", old_recipe)
        return {}
    new = written_form(recipe)
    changes = {}
    for key, kind in attribute_kinds(recipe).items():
        if kind is Kind.STATELESS:
            before, after = dotted.get(old, key), dotted.get(new, key)
            if before != after:
                changes[key] = [before, after]
    return changes


def write_recipe(path: Path, recipe: Any) -> None:
    """The resolved recipe (Derived values filled) as the trial's recipe.yaml."""
    atomic_write_bytes(path, recipe_yaml(recipe).encode())


def move_aside(folder: Path) -> None:
    """`force`: keep the old trial under a hidden `.replaced/` folder (analysis skips it)."""
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    target = folder.parent / REPLACED / f"{folder.name}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    log.warning("--force: the previous run of %s was moved to %s", folder.name, target)
