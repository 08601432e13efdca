"""A rerun of a study that has nothing left to do answers from its files alone.

When a study ends with nothing left to run, the driver leaves `study_done.json` in its
folder: a fingerprint of the recipe as written (checked without importing the user's
code) and the size and modification time of every source file the driver had imported
outside the Python installation (the user's modules, model_trainer's own). A later
`mtrain run` of the same recipe finds it, checks those files, the index and every trial
folder, and prints the summary without importing torch or starting workers: about a
second instead of several. Anything else (an edited recipe, override or module, a deleted
trial folder, a trial a rerun would retry) takes the full path, which decides as always.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
from pathlib import Path

from model_trainer.files import atomic_write_json
from model_trainer.layout import STUDY_DONE, STUDY_INDEX
from model_trainer.recipe.load import LoadedRecipe, peek_recipe
from model_trainer.recipe.schema import Recipe
from model_trainer.recipe.view import recipe_yaml
from model_trainer.study.index import StudyIndex
from model_trainer.study.policy import runs_again


def fingerprint(recipe: Recipe) -> str:
    return hashlib.sha256(recipe_yaml(recipe).encode()).hexdigest()


def nothing_left(index: StudyIndex) -> bool:
    """Every trial the study plans exists and none would run again on a rerun."""
    return len(index.trials) >= (index.total or 0) and not any(map(runs_again, index.trials))


def remember(loaded: LoadedRecipe, index: StudyIndex, study_dir: Path) -> None:
    """Leave the fingerprint of a study with nothing left to run (adaptive studies excluded:
    their summary is computed from the recipe)."""
    if not isinstance(loaded.recipe.study.seeds, list) or not nothing_left(index):
        return
    atomic_write_json(study_dir / STUDY_DONE, {"recipe": fingerprint(loaded.as_written()),
                                                "files": _source_stamps()})


def finished_study(path: str | Path, overrides: list[str] | tuple[str, ...],
                   multirun: bool) -> tuple[StudyIndex, Path] | None:
    """The index and folder of the finished study this recipe would only rerun to find
    done; None where anything may have changed (the full run then decides)."""
    recipe = peek_recipe(path, overrides, multirun)
    if recipe is None or recipe.study is None:
        return None
    key = fingerprint(recipe)
    out = Path(recipe.output_dir)
    for folder in [out / recipe.name, *map(Path, glob.glob(f"{glob.escape(str(out / recipe.name))}-*"))]:
        try:
            done = json.loads((folder / STUDY_DONE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(done, dict) or done.get("recipe") != key:
            continue
        if done.get("files") != _stamps_now(done.get("files")):
            return None
        index = StudyIndex.load(folder / STUDY_INDEX)
        if index is None or not nothing_left(index) or index.gone(folder):
            return None
        return index, folder
    return None


def _source_stamps() -> dict[str, list[int]]:
    """[size, mtime_ns] of every imported source file outside the Python installation."""
    installed = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
    stamps = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if real.startswith(installed):
            continue
        try:
            stat = os.stat(real)
        except OSError:
            continue
        stamps[real] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def _stamps_now(files: object) -> dict[str, list[int]] | None:
    if not isinstance(files, dict):
        return None
    now = {}
    for path in files:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        now[path] = [stat.st_size, stat.st_mtime_ns]
    return now
