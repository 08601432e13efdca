"""The study index: which trials exist, with what values, in what state.

`study_index.json` plus its journal in the study folder (see `model_trainer.journal`):
every change of a trial is appended before the study moves on, so a killed driver's rerun
knows exactly what finished, what was in flight and which configurations the sampler
already handed out; the cost of a change does not grow with the study.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.files import read_json
from model_trainer.journal import IndexJournal, read_index
from model_trainer.layout import STATUS, STUDY_INDEX, STUDY_RECIPE
from model_trainer.vocabulary import RecordState


@dataclass
class StudyTrial:
    """One trial of a study: a configuration (`number`) run with one seed."""

    number: int
    trial_id: str
    params: dict[str, Any]
    seed: int
    state: RecordState = RecordState.PENDING
    value: float | None = None
    attempts: int = 0
    stop_reason: str | None = None
    error: str | None = None  # one line; the traceback is in the trial's status.json
    invalid: bool = False  # the combination breaks a recipe rule: never run, never retried
    past_horizon: bool = False  # it trained past the study's epochs (another run did)

    @property
    def finished(self) -> bool:
        return self.state.finished


@dataclass
class StudyIndex:
    study_id: str
    objective: dict[str, str]
    space: dict[str, Any]
    sampler: str
    trials: list[StudyTrial] = field(default_factory=list)
    path: Path | None = None
    total: int | None = None  # the trials the study plans (at most, with adaptive seeds)
    horizon: int | None = None  # train.epochs: every trial's value is read within them
    _journal: IndexJournal | None = field(default=None, repr=False, compare=False)

    def save(self) -> None:
        """Write the whole index (a compaction): at the start and the end of a run."""
        assert self.path is not None
        self._writer().compact(self._data())

    def changed(self, trial: StudyTrial) -> None:
        """Record one trial's new state: one journal line (a compaction now and then)."""
        writer = self._writer()
        writer.append(dataclasses.asdict(trial))
        if writer.due(len(self.trials)):
            writer.compact(self._data())

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def _writer(self) -> IndexJournal:
        if self._journal is None:
            assert self.path is not None
            self._journal = IndexJournal(self.path)
        return self._journal

    def _data(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "objective": self.objective, "space": self.space,
                "sampler": self.sampler, "total": self.total, "horizon": self.horizon,
                "trials": [dataclasses.asdict(t) for t in self.trials]}

    @classmethod
    def load(cls, path: Path) -> StudyIndex | None:
        """The saved index with its journal replayed, or None when there is none or it is
        unreadable."""
        data = read_index(path)
        if data is None or "study_id" not in data:
            return None
        try:
            trials = [StudyTrial(**t) for t in data.get("trials", [])]
            for trial in trials:
                trial.state = RecordState(trial.state)
            total, horizon = data.get("total"), data.get("horizon")
            return cls(data["study_id"], data["objective"], data["space"], data["sampler"],
                       trials, path, total if isinstance(total, int) else None,
                       horizon if isinstance(horizon, int) else None)
        except (TypeError, KeyError, ValueError):
            return None

    def configs(self) -> dict[int, dict[str, Any]]:
        """Configuration number -> its params (without the seed)."""
        return {t.number: t.params for t in self.trials}

    def best(self) -> StudyTrial | None:
        """The completed trial with the best objective value."""
        done = [t for t in self.trials if t.state is RecordState.COMPLETED and t.value is not None]
        if not done:
            return None
        pick = max if self.objective["mode"] == "max" else min
        return pick(done, key=lambda t: t.value)

    def gone(self, study_dir: Path) -> list[StudyTrial]:
        """Finished trials whose folder was deleted since: the index says done, the disk not."""
        return [t for t in self.trials if t.finished and not t.invalid
                and not (study_dir / t.trial_id / STATUS).exists()]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.state] = counts.get(t.state, 0) + 1
        return counts


def study_folder_for(output_dir: str | Path, name: str, study_id: str,
                     storage: str | None = None) -> Path:
    """`<output_dir>/<name>`, unless a different study lives there, in that folder or, with
    `study.storage`, under that name in storage (another machine's study of the same name):
    then `<name>-<study_id>`. UsageError (exit 2) for a folder that holds a study nothing
    says the id of; StorageError when storage cannot be read."""
    folder = Path(output_dir) / name
    owner = folder_owner(folder)
    if owner is None and storage:
        from model_trainer.storage import Storage

        stored = Storage(storage).read_json(f"{name}/{STUDY_INDEX}")
        owner = stored.get("study_id") if isinstance(stored, dict) else None
    if owner is UNKNOWN:
        raise UsageError(f"{folder} holds a study, but its study_index.json cannot be read and "
                         "no trial in it says which study it belongs to, so this run cannot "
                         "tell which study it is: move the folder aside (or delete it) to "
                         f"start, or give this study another name (name={name}-v2)")
    if owner is not None and owner != study_id:
        folder = Path(output_dir) / f"{name}-{study_id}"
    return folder


UNKNOWN = "?"  # folder_owner: a study lives there, but no record says which


def folder_owner(folder: Path) -> str | None:
    """The id of the study in `folder`, from its index, else from its trials' status.json
    (each names its study); None when no study lives there; UNKNOWN when one does
    (study.yaml, an index) but nothing readable names it."""
    existing = read_json(folder / STUDY_INDEX)  # the journal never changes the study id
    if isinstance(existing, dict) and isinstance(existing.get("study_id"), str):
        return existing["study_id"]
    for status in folder.glob(f"*/{STATUS}"):
        record = read_json(status)
        study = record.get("study") if isinstance(record, dict) else None
        if isinstance(study, dict) and isinstance(study.get("study_id"), str):
            return study["study_id"]
    if (folder / STUDY_INDEX).exists() or (folder / STUDY_RECIPE).exists():
        return UNKNOWN
    return None
