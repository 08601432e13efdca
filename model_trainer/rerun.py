"""What a trial folder says about a rerun: finished or not, which stateless values
changed since the last run, and where `--force` moves the old run."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import yaml

from model_trainer.files import atomic_write_bytes
from model_trainer.recipe.identity import attribute_kinds, to_plain
from model_trainer.recipe.markers import Kind
from model_trainer.train.records import RECIPE

log = logging.getLogger("model_trainer.train")
TERMINAL = ("completed", "pruned")


def is_finished(status: dict[str, Any], recipe: Any, folder: Path) -> bool:
    """A completed or pruned trial that the current recipe would not train further."""
    if status.get("state") not in TERMINAL:
        return False
    if status.get("state") == "pruned":
        return True
    if status.get("stop_reason") == "early stop":
        changed = stateless_changes(folder / RECIPE, recipe)
        return not any(k.startswith("train.early_stopping.") for k in changed)
    return int(status.get("epochs_done") or 0) >= recipe.train.epochs


def stateless_changes(old_recipe: Path, recipe: Any) -> dict[str, list[Any]]:
    """{dotted key: [old, new]} of the stateless values that differ from the last run."""
    try:
        old = yaml.safe_load(old_recipe.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(old, dict):
        return {}
    new = to_plain(recipe)
    changes = {}
    for key, kind in attribute_kinds(recipe).items():
        if kind is Kind.STATELESS:
            before, after = _get(old, key), _get(new, key)
            if before != after:
                changes[key] = [before, after]
    return changes


def _get(plain: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(plain, dict):
            return None
        plain = plain.get(part)
    return plain


def write_recipe(path: Path, recipe: Any) -> None:
    """The resolved recipe (Derived values filled) as the trial's recipe.yaml."""
    text = yaml.safe_dump(to_plain(recipe), sort_keys=False)
    atomic_write_bytes(path, text.encode())


def move_aside(folder: Path) -> None:
    """`force`: keep the old trial under a hidden `.replaced/` folder (analysis skips it)."""
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    target = folder.parent / ".replaced" / f"{folder.name}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    log.warning("--force: the previous run of %s was moved to %s", folder.name, target)
