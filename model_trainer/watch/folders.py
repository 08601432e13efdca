"""`mtrain status PATH`: what a trial folder, a study folder or a folder of trials says now.

`open_path` picks the reader from what PATH holds; each reader draws itself and says
whether anything is still running (so `--watch` knows when to stop).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Group

from model_trainer.errors import UsageError
from model_trainer.layout import STATUS, STUDY_INDEX
from model_trainer.vocabulary import TrialState
from model_trainer.watch.render import study_renderable, trial_renderable
from model_trainer.watch.study_files import WAITING, StudyWatcher
from model_trainer.watch.trial_files import TrialReader


class TrialStatusView:
    def __init__(self, folder: Path):
        self.reader = TrialReader(folder)
        self.active = True

    def render(self, now: float | None = None) -> Group:
        progress = self.reader.read()
        self.active = progress.state == TrialState.RUNNING and progress.process != "gone"
        return trial_renderable(progress, time.time() if now is None else now)


class StudyStatusView:
    def __init__(self, folder: Path):
        self.watcher = StudyWatcher(folder)
        self.active = True

    def render(self, now: float | None = None) -> Group:
        view = self.watcher.read(now)
        if view.driver is not None:  # the driver's lock says whether the study goes on
            self.active = view.driver == "alive"
        else:  # a copy, another host, or a folder of single runs: what the files say
            dead = {r.record.trial_id for r in view.running if r.progress.process == "gone"}
            self.active = any(r.state in WAITING and r.trial_id not in dead
                              for r in view.records)
        return study_renderable(view, failures=True)


def open_path(path: Path) -> TrialStatusView | StudyStatusView:
    """The view for PATH: a trial folder (status.json), a study folder (study_index.json)
    or a folder of trial folders; UsageError (exit 2) when it holds no trial."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder (give a study folder or a trial folder, "
                         "e.g. runs/digits-study)")
    if (path / STATUS).is_file():
        return TrialStatusView(path)
    study = StudyStatusView(path)
    if (path / STUDY_INDEX).is_file() or study.watcher.has_trials():
        return study
    raise UsageError(f"{path} holds no trial: no {STATUS} in it or in its sub-folders, and no "
                     f"{STUDY_INDEX} (give a study folder or a trial folder)")
