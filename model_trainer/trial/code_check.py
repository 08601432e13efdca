"""A rerun with other code: never old numbers reported as current, never silent training.

A trial records the fingerprint of the code and data it ran (`code.json`, and its digest
in status.json's `code`). A rerun fingerprints the recipe's code again; where the trial
it would continue or report ran other code, it stops (CodeChanged, exit 2) and names what
changed, unless told how to go on (`--if-code-changed`):
- `new`: train this code as a new trial, whose id joins the code's fingerprint to the
  recipe's (`<prefix>-<hash>`); a later rerun of the same recipe and code finds that
  trial by itself;
- `accept`: continue (or report) the trial with this code; status.json's `code_changes`
  records when and what changed.
A trial made before code was recorded is compared with nothing (a warning says so).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.errors import CodeChanged
from model_trainer.files import atomic_write_json, read_json
from model_trainer.layout import CODE, STATUS
from model_trainer.recipe.fingerprint import PYTHON, Fingerprint, fingerprint
from model_trainer.vocabulary import CodeChange

log = logging.getLogger("model_trainer.train")


@dataclass
class Choice:
    """Where a run trains, and what it accepted."""

    folder: Path
    trial_id: str
    accepted: list[str] | None = None  # the changes an `accept` took on, in words


def comparable(recorded: Fingerprint) -> bool:
    """Whether `recorded` can be compared with this process's fingerprints: the same
    Python (ast.dump, what the hashes are made of, changes between versions)."""
    return recorded.python == PYTHON


def code_trial_id(trial_id: str, digest: str) -> str:
    """The id of the trial of this recipe run with the code of `digest`."""
    prefix, _, recipe_hash = trial_id.rpartition("-")
    joined = hashlib.sha256(f"{recipe_hash}:{digest}".encode()).hexdigest()[:len(recipe_hash)]
    return f"{prefix}-{joined}"


def recorded_code(folder: Path) -> Fingerprint | None:
    """The fingerprint the trial in `folder` recorded (None: none, or an older trial)."""
    return Fingerprint.from_dict(read_json(folder / CODE))


def choose(folder: Path, trial_id: str, code: Fingerprint, when: CodeChange) -> Choice:
    """The trial folder this run of `code` continues or starts; CodeChanged when the
    trial there ran other code and `when` says stop."""
    if not (folder / STATUS).exists():
        return Choice(folder, trial_id)
    recorded = recorded_code(folder)
    if recorded is None or not comparable(recorded):
        why = ("has no record of its code (made by an older model_trainer)" if recorded is None
               else f"recorded its code under Python {recorded.python}, whose syntax trees "
               f"differ from this Python's")
        log.warning("%s %s: the rerun cannot tell whether the code changed", folder, why)
        return Choice(folder, trial_id)
    if code.same_as(recorded):
        return Choice(folder, trial_id)
    other_id = code_trial_id(trial_id, code.digest)
    other = folder.parent / other_id
    found = recorded_code(other)
    if (found is not None and code.same_as(found)) or when is CodeChange.NEW:
        return Choice(other, other_id)
    changes = code.changes_since(recorded)
    if when is CodeChange.ACCEPT:
        return Choice(folder, trial_id, accepted=changes)
    raise CodeChanged(changed_message(trial_id, folder, changes))


def check_single_run(loaded: Any) -> Choice:
    """What `mtrain run` would find for a recipe without a study (CodeChanged when its
    trial ran other code), without running anything."""
    recipe = loaded.recipe
    folder = Path(recipe.output_dir) / recipe.name / loaded.trial_id
    return choose(folder, loaded.trial_id, fingerprint(recipe), CodeChange.STOP)


def changed_message(trial_id: str, folder: Path, changes: list[str]) -> str:
    return (f"trial {trial_id} in {folder} ran other code than this run has: "
            f"{'; '.join(changes) or 'the code changed'}. Its results are not this code's. "
            "Run with --if-code-changed new to train this code as a new trial, or "
            "--if-code-changed accept to continue this trial with it (recorded in its "
            "status.json)")


def record(folder: Path, code: Fingerprint) -> None:
    """Write the trial's code.json (the code it runs from now on)."""
    atomic_write_json(folder / CODE, code.to_dict())
