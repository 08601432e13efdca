"""A study's progress: counts, running trials, recent and failed ones, the best, an ETA.

`StudyView` is what the live view and `mtrain status` draw. The live view builds it from
the driver's index in memory; `StudyWatcher` builds it from the files alone: the study
index when there is one, else the status.json of each trial folder inside (a folder of
single runs, or a study whose index is not written yet).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_trainer.hypothesis import read_verdicts
from model_trainer.journal import read_index
from model_trainer.layout import STATUS, STUDY_INDEX, STUDY_RECIPE
from model_trainer.vocabulary import RecordState, TrialState
from model_trainer.watch.trial_files import TrialProgress, TrialReader, lock_holder, read_status
from model_trainer.yaml_rules import load_yaml

FINISHED = (RecordState.COMPLETED, RecordState.FAILED, RecordState.PRUNED)
WAITING = (RecordState.RUNNING, RecordState.PENDING)  # work a live driver still has


@dataclass
class Record:
    """One trial as the study knows it."""

    trial_id: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    state: str = RecordState.PENDING
    value: float | None = None  # the objective, once completed
    error: str | None = None  # one line

    @classmethod
    def of(cls, entry: Any) -> Record:
        """From a study index entry: a mapping (the file) or an object (the driver's)."""
        get = entry.get if isinstance(entry, dict) else lambda k: getattr(entry, k, None)
        params, value = get("params"), get("value")
        return cls(str(get("trial_id")), params if isinstance(params, dict) else {},
                   get("seed") if isinstance(get("seed"), int) else None, str(get("state")),
                   float(value) if isinstance(value, int | float) else None,
                   get("error") if isinstance(get("error"), str) else None)


@dataclass
class Running:
    record: Record
    progress: TrialProgress
    elapsed_s: float | None


@dataclass
class StudyView:
    folder: Path
    study_id: str | None
    metric: str
    mode: str
    records: list[Record]
    running: list[Running] = field(default_factory=list)
    recent: list[tuple[Record, float | None]] = field(default_factory=list)  # newest first,
    # with how long each took
    total: int | None = None  # trials the study will run, when known
    eta_s: float | None = None
    driver: str | None = None  # "alive" | "gone" | None (cannot tell from here)
    verdicts: list[str] = field(default_factory=list)  # a hypothesis study's, one per claim

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

    @property
    def finished(self) -> int:
        return sum(1 for r in self.records if r.state in FINISHED)

    @property
    def failures(self) -> list[Record]:
        return [r for r in self.records if r.state == RecordState.FAILED]

    @property
    def best(self) -> Record | None:
        done = [r for r in self.records
                if r.state == RecordState.COMPLETED and r.value is not None]
        if not done:
            return None
        pick = max if self.mode == "max" else min
        return pick(done, key=lambda r: r.value)

    @property
    def space_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for record in self.records:
            keys.update(dict.fromkeys(record.params))
        return list(keys)


def eta_seconds(mean_duration: float | None, total: int | None, finished: int,
                running_fractions: list[float], concurrency: int) -> float | None:
    """Time left: the trials not started and the unfinished part of the running ones, at
    the `mean_duration` of the completed trials, `concurrency` at a time."""
    if mean_duration is None or total is None:
        return None
    not_started = max(total - finished - len(running_fractions), 0)
    work = not_started + sum(1 - f for f in running_fractions)
    return work * mean_duration / max(concurrency, 1)


def _verdicts(recipe_file: Path, entries: list, mode: str) -> list[str]:
    """A hypothesis study's verdicts as the run gives them, one line per claim."""
    try:
        recipe = load_yaml(recipe_file.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return []
    if not isinstance(recipe, dict):
        return []
    return [f"{claim.text}: {decision.text()}" for claim, decision in
            read_verdicts(recipe, [e for e in entries if isinstance(e, dict)], mode)]


class StudyWatcher:
    """Reads a study folder (or a folder of trial folders) again and again, cheaply: only
    the running trials' metrics are followed; finished ones are read once."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._readers: dict[str, TrialReader] = {}
        self._finished: dict[str, tuple[int, TrialProgress]] = {}  # id: (mtime_ns, status)

    def has_trials(self) -> bool:
        return (self.folder / STUDY_INDEX).is_file() or bool(self._trial_folders())

    def read(self, now: float | None = None) -> StudyView:
        now = time.time() if now is None else now
        index = read_index(self.folder / STUDY_INDEX)  # with a running study's journal
        if isinstance(index, dict) and isinstance(index.get("trials"), list):
            objective = index.get("objective") if isinstance(index.get("objective"), dict) else {}
            records = [Record.of(t) for t in index["trials"] if isinstance(t, dict)]
            total = index.get("total")  # written by drivers that know it
            view = StudyView(self.folder, str(index.get("study_id")),
                             str(objective.get("metric", "val_loss")),
                             str(objective.get("mode", "min")), records,
                             total=total if isinstance(total, int) else None)
        else:
            view = self._view_from_trials()
        for record in view.records:
            if record.state == RecordState.RUNNING:
                progress = self._reader(record.trial_id).read()
                started = progress.started_at.timestamp() if progress.started_at else None
                view.running.append(Running(record, progress,
                                            None if started is None else now - started))
        finished = [(r, self._status(r.trial_id)) for r in view.records if r.state in FINISHED]
        finished.sort(key=lambda pair: pair[1].ended_at.timestamp() if pair[1].ended_at else 0,
                      reverse=True)
        view.recent = [(record, status.duration_s) for record, status in finished]
        view.driver = lock_holder(self.folder) if (self.folder / STUDY_INDEX).is_file() else None
        if isinstance(index, dict) and isinstance(index.get("trials"), list):
            view.verdicts = _verdicts(self.folder / STUDY_RECIPE, index["trials"], view.mode)
        return view

    def _view_from_trials(self) -> StudyView:
        records, metric, mode = [], None, "min"
        for folder in self._trial_folders():
            progress = self._status(folder.name)
            best = progress.best or {}
            metric = metric or best.get("metric")
            mode = best.get("mode", mode)
            value = best.get("value") if best.get("metric") == metric else None
            records.append(Record(progress.trial_id, progress.params, progress.seed,
                                  progress.state or RecordState.PENDING,
                                  value if progress.state == TrialState.COMPLETED else None,
                                  progress.error))
        return StudyView(self.folder, None, metric or "val_loss", mode, records)

    def _trial_folders(self) -> list[Path]:
        return sorted(p.parent for p in self.folder.glob(f"*/{STATUS}"))

    def _reader(self, trial_id: str) -> TrialReader:
        if trial_id not in self._readers:
            self._readers[trial_id] = TrialReader(self.folder / trial_id)
        return self._readers[trial_id]

    def _status(self, trial_id: str) -> TrialProgress:
        """status.json alone, read again only when it changed."""
        folder = self.folder / trial_id
        try:
            stamp = (folder / STATUS).stat().st_mtime_ns
        except OSError:
            stamp = -1
        cached = self._finished.get(trial_id)
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_status(folder))
            self._finished[trial_id] = cached
        return cached[1]
