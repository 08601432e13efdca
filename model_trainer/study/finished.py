"""A rerun of a study that has nothing left to do answers from its files alone.

When a study ends with nothing left to run, the driver leaves `study_done.json` in its
folder: the study id, a fingerprint of the recipe as written (checked without importing
the user's code), the working directory and sys.path the code was found from, and the
size and modification time of every source file the driver had imported outside the
Python installation (the user's modules, model_trainer's own). A later `mtrain run` of
the same recipe finds it, checks all of that, the resources, the index and every trial
folder, and prints the summary without importing torch or starting workers: half a second
instead of several. Anything else (an edited recipe, override or module, another
directory, a deleted trial folder, a trial a rerun would retry) takes the full path,
which decides as always; a driver that opens the study deletes the file first.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from model_trainer.errors import UserError
from model_trainer.files import atomic_write_json, read_json
from model_trainer.layout import STUDY_DONE, STUDY_INDEX
from model_trainer.recipe.fingerprint import fingerprint, path_stamp, same_stamp
from model_trainer.recipe.load import LoadedRecipe
from model_trainer.recipe.schema import Recipe
from model_trainer.recipe.view import recipe_yaml
from model_trainer.storage import StorageError
from model_trainer.study.code_versions import CodeVersions
from model_trainer.study.executors import check_resources
from model_trainer.study.index import StudyIndex, study_folder_for
from model_trainer.study.policy import runs_again

log = logging.getLogger(__name__)


def nothing_left(index: StudyIndex) -> bool:
    """Every trial the study plans exists and none would run again on a rerun."""
    return len(index.trials) >= (index.total or 0) and not any(map(runs_again, index.trials))


def remember(loaded: LoadedRecipe, index: StudyIndex, study_dir: Path,
             versions: CodeVersions) -> None:
    """Leave `study_done.json` when nothing is left to run (not for adaptive seeds or a
    hypothesis, whose summary needs the recipe's code). A cache: a failure to write it is only logged."""
    if not _cacheable(loaded.recipe) or not nothing_left(index):
        return
    try:
        code = fingerprint(loaded.recipe)
        made = [versions.of(t.params) for t in index.trials]
        data = {s["path"]: s for f in made if f is not None for s in f.data.values()
                if "path" in s}  # every trial's data files, its swept ones too
        atomic_write_json(study_dir / STUDY_DONE, {"study_id": index.study_id,
                                                    **_inputs(loaded.as_written()),
                                                    "code": code.digest,
                                                    "declared": "data.target" in code.data,
                                                    "data": data,
                                                    "files": _source_stamps()})
    except Exception as exc:  # noqa: BLE001 - the study itself succeeded
        log.debug("study_done.json not written: %s", exc)


def forget(study_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (study_dir / STUDY_DONE).unlink()


def finished_study(recipe: Recipe | None) -> tuple[StudyIndex, Path] | None:
    """The index and folder of the finished study this recipe (as `peek_recipe` read it)
    would only rerun to find done; None where anything may have changed (the full run
    then decides)."""
    if recipe is None or recipe.study is None or not _cacheable(recipe):
        return None
    expected = _inputs(recipe)
    base = Path(recipe.output_dir) / recipe.name
    for folder in [base, *map(Path, glob.glob(f"{glob.escape(str(base))}-*"))]:
        done = _read(folder / STUDY_DONE)
        if done is None or any(done.get(k) != v for k, v in expected.items()):
            continue
        study_id = done.get("study_id")
        try:
            home = study_folder_for(recipe.output_dir, recipe.name, study_id,
                                    recipe.study.storage) if isinstance(study_id, str) else None
        except StorageError:
            return None  # the full path says what is wrong with storage
        if home != folder:
            return None  # not where this recipe's study would be looked for
        if done.get("files") != _stamps_now(done.get("files")) or not _resources_ok(recipe):
            return None
        if done.get("declared") is not False or \
                done.get("code") != fingerprint(recipe, declared=False).digest or \
                not _same_data(done.get("data")):
            return None  # other code or data (or data only its factory can tell): full path
        index = StudyIndex.load(folder / STUDY_INDEX)
        if index is None or index.study_id != study_id or not nothing_left(index) \
                or index.gone(folder):
            return None
        return index, folder
    return None


def _cacheable(recipe: Recipe) -> bool:
    return recipe.study is not None and isinstance(recipe.study.seeds, list) and \
        recipe.hypothesis is None  # verdicts are read again, from the recipe's claims


def _inputs(recipe: Recipe) -> dict[str, Any]:
    """What decides the study and where its code is found from."""
    # sys.path[0] is the entry point's own (mtrain's bin folder, '' for python -c): the
    # working directory and the rest are where the recipe's modules are looked for
    return {"recipe": hashlib.sha256(recipe_yaml(recipe).encode()).hexdigest(),
            "cwd": os.getcwd(), "sys_path": sys.path[1:]}


def _read(path: Path) -> dict[str, Any] | None:
    data = read_json(path)
    return data if isinstance(data, dict) else None


def _resources_ok(recipe: Recipe) -> bool:
    """The check a full run makes before anything (more CPUs or GPUs than exist)."""
    try:
        check_resources(recipe)
    except UserError:
        return False
    return True


def _source_stamps() -> dict[str, list[int]]:
    """[size, mtime_ns] of every imported source file outside the Python installation."""
    installed = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
    stamps = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
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


def _same_data(recorded: object) -> bool:
    """Every data file or folder the study's trials named is as it was."""
    if not isinstance(recorded, dict):
        return False
    for path, stamp in recorded.items():
        try:
            if not same_stamp(stamp, path_stamp(Path(path))):
                return False
        except OSError:
            return False
    return True


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
