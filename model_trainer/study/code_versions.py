"""A study's trials and the code they ran: a rerun with other code never adopts them
silently (trial/code_check.py has the rules for one trial).

Before a study runs anything, every trial its index records is compared with the code
and data its recipe runs now. A difference stops the study (exit 2), naming the trials
and what changed, unless `--if-code-changed accept` says to keep them: each such trial
then records the change in its status.json and the study goes on. A study of this code
from scratch is a study of another name (`name=...`): `new` is refused with that advice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_trainer.errors import CodeChanged, RecipeError, UsageError
from model_trainer.layout import STUDY_INDEX
from model_trainer.locks import FolderLock
from model_trainer.recipe.fingerprint import Fingerprint, fingerprint
from model_trainer.storage import StorageError
from model_trainer.study.index import StudyIndex, study_folder_for
from model_trainer.trial.code_check import comparable, record, recorded_code
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import CodeChange

# keys whose values change which code a trial runs (a string value may name a data file)
CODE_KEYS = ("model.target", "model.config", "data.target", "data.config", "wrapper",
             "train.optimizer.name", "train.scheduler.name", "train.metrics")
SHOWN = 5  # trials named in the message


class CodeVersions:
    """The code and data each trial of a study runs, fingerprinted once when the study
    starts (the workers' forkserver imports the modules then too): the check of a rerun
    and every trial's record use the same values."""

    def __init__(self, loaded: Any):
        self.loaded = loaded
        self._made: dict[str, Fingerprint | None] = {}

    def of(self, params: dict[str, Any]) -> Fingerprint | None:
        """The fingerprint of the trial with `params` (None: a combination that breaks a
        recipe rule, which never runs)."""
        touched = {k: v for k, v in params.items()
                   if k.startswith(CODE_KEYS) or isinstance(v, str)}
        key = json.dumps(touched, sort_keys=True, default=repr)
        if key not in self._made:
            try:
                recipe = self.loaded.variant(touched).recipe if touched else self.loaded.recipe
            except RecipeError:
                recipe = None
            self._made[key] = fingerprint(recipe) if recipe is not None else None
        return self._made[key]


def check_trials(versions: CodeVersions, index: StudyIndex, study_dir: Path,
                 when: CodeChange) -> None:
    """CodeChanged when a trial of the study ran other code (unless `when` accepts it)."""
    changed = []
    for trial in index.trials:
        old, now = recorded_code(study_dir / trial.trial_id), versions.of(trial.params)
        if old is not None and now is not None and comparable(old) and not now.same_as(old):
            changed.append((trial, now, old))
    if not changed:
        return
    name = versions.loaded.recipe.name
    if when is CodeChange.NEW:
        raise UsageError("--if-code-changed new starts a new trial for one run; for a study, "
                         f"give it another name (name={name}-v2) to run this code as a new "
                         "study, or accept the change")
    if when is CodeChange.ACCEPT:
        for trial, now, old in changed:
            _accept(study_dir / trial.trial_id, now, now.changes_since(old))
        return
    lines = [f"{t.trial_id}: {'; '.join(now.changes_since(old)) or 'the code changed'}"
             for t, now, old in changed[:SHOWN]]
    more = f" (and {len(changed) - SHOWN} more)" if len(changed) > SHOWN else ""
    raise CodeChanged(
        f"{len(changed)} trial(s) of study {index.study_id} in {study_dir} ran other code "
        f"than this run has{more}: {' | '.join(lines)}. Their results are not this code's. "
        "Run with --if-code-changed accept to keep them with this code (recorded in each "
        f"trial's status.json), or give the study another name (name={name}-v2) to run this "
        "code as a new study")


def check_existing_study(loaded: Any, study_dir: Path | None = None,
                         when: CodeChange = CodeChange.STOP) -> CodeVersions:
    """Compare the trials the study's folder holds with this code, before anything there
    changes (`mtrain validate`, and a run before it opens the study)."""
    versions = CodeVersions(loaded)
    if study_dir is None:
        recipe = loaded.recipe
        try:
            study_dir = study_folder_for(recipe.output_dir, recipe.name, loaded.study_id,
                                         recipe.study.storage if recipe.study else None)
        except StorageError:  # validate offline: the folder this machine would use
            study_dir = study_folder_for(recipe.output_dir, recipe.name, loaded.study_id)
    index = StudyIndex.load(study_dir / STUDY_INDEX)
    if index is not None and index.study_id == loaded.study_id:
        check_trials(versions, index, study_dir, when)
    return versions


def _accept(folder: Path, code: Fingerprint, changes: list[str]) -> None:
    """Record in a trial's folder that it goes on with `code`."""
    with FolderLock(folder, "trial"):
        status = TrialStatus.load(folder)
        if status is None:
            return
        status.accept_code(code.digest, changes)
        status.save(folder)
        record(folder, code)
