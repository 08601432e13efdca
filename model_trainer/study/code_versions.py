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

from model_trainer.errors import CodeChanged, UsageError
from model_trainer.locks import FolderLock
from model_trainer.recipe.fingerprint import Fingerprint, fingerprint
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.trial.code_check import record, recorded_code
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import CodeChange

# keys whose values change which code or data files a trial runs
CODE_KEYS = ("model.target", "model.config", "data.", "wrapper", "train.optimizer.name",
             "train.scheduler.name", "train.metrics")
SHOWN = 5  # trials named in the message


def check_trials(loaded: Any, index: StudyIndex, study_dir: Path, when: CodeChange) -> None:
    """CodeChanged when a trial of the study ran other code (unless `when` accepts it)."""
    changed = [(t, now, old) for t, now, old in _compared(loaded, index, study_dir)
               if not now.same_as(old)]
    if not changed:
        return
    if when is CodeChange.NEW:
        raise UsageError("--if-code-changed new starts a new trial for one run; for a study, "
                         f"give it another name (name={loaded.recipe.name}-v2) to run this "
                         "code as a new study, or accept the change")
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
        f"trial's status.json), or give the study another name (name={loaded.recipe.name}-v2) "
        "to run this code as a new study")


def check_existing_study(loaded: Any) -> None:
    """What `mtrain run` would find in the study's folder, read only (CodeChanged)."""
    from model_trainer.layout import STUDY_INDEX
    from model_trainer.study.index import study_folder_for

    study_dir = study_folder_for(loaded.recipe.output_dir, loaded.recipe.name, loaded.study_id)
    index = StudyIndex.load(study_dir / STUDY_INDEX)
    if index is not None and index.study_id == loaded.study_id:
        check_trials(loaded, index, study_dir, CodeChange.STOP)


def _compared(loaded: Any, index: StudyIndex, study_dir: Path
              ) -> list[tuple[StudyTrial, Fingerprint, Fingerprint]]:
    """(trial, the code it would run now, the code it ran) for every trial that ran."""
    found = []
    cache: dict[str, Fingerprint] = {}
    for trial in index.trials:
        old = recorded_code(study_dir / trial.trial_id)
        if old is None:
            continue
        touched = {k: v for k, v in trial.params.items() if k.startswith(CODE_KEYS)}
        key = json.dumps(touched, sort_keys=True, default=repr)
        if key not in cache:
            recipe = loaded.variant(touched).recipe if touched else loaded.recipe
            cache[key] = fingerprint(recipe)
        found.append((trial, cache[key], old))
    return found


def _accept(folder: Path, code: Fingerprint, changes: list[str]) -> None:
    """Record in a trial's folder that it goes on with `code`."""
    with FolderLock(folder, "trial"):
        status = TrialStatus.load(folder)
        if status is None:
            return
        status.accept_code(code.digest, changes)
        status.save(folder)
        record(folder, code)
