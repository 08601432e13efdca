"""The driver's side of `study.storage`: the study folder restored from storage where
this machine lacks files of it (a rerun from another login node), each finished trial's
files brought back into it (the worker may have run on a machine that does not share it),
and the study's own files (its index and journal, its recipe) sent to storage as trials
start and finish (at most every SEND_EVERY_S: a change within that time goes once it has
passed) and when the driver stops, so `mtrain status s3://...` shows a running study.
Checkpoints stay in storage: the driver never needs them."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from model_trainer.layout import CHECKPOINTS
from model_trainer.storage import Storage, StorageError
from model_trainer.trial.mirror import further_along

SEND_EVERY_S = 30.0  # the study's index to storage while it runs: at most this often


class StudyStorage:
    def __init__(self, uri: str, study_dir: Path, console: Any):
        self.storage, self.study_dir, self.console = Storage(uri), study_dir, console
        self.rel = study_dir.name
        self.sent_at: float | None = None  # when save_study last ran (monotonic)
        self._lock = threading.RLock()  # one send at a time: the driver's or the timer's
        self._timer: threading.Timer | None = None  # a send put off by SEND_EVERY_S

    def restore(self) -> None:
        """Copy the files this folder lacks (checkpoints stay in storage)."""
        self.storage.download(self.rel, self.study_dir, skip_folders=(CHECKPOINTS,),
                              only_missing=True)

    def fetch_trial(self, trial_id: str) -> None:
        """A finished trial's files, as storage has them, into the study folder, where
        storage is further along (the trial ran elsewhere; not when it ran here)."""
        rel, folder = f"{self.rel}/{trial_id}", self.study_dir / trial_id

        def fetch() -> None:
            if further_along(self.storage, rel, folder):
                self.storage.download(rel, folder, skip_folders=(CHECKPOINTS,))

        self._warn_on_failure(fetch, f"trial {trial_id}'s files were not brought back")

    def save_study_now_and_then(self) -> None:
        """`save_study` now, or once SEND_EVERY_S have passed since the last one (a timer:
        what changed meanwhile reaches storage then, however long the next trial takes)."""
        with self._lock:
            if self._timer is not None:
                return  # a send is already due: it will take this change too
            wait = 0.0 if self.sent_at is None else SEND_EVERY_S - (time.monotonic() - self.sent_at)
            if wait <= 0:
                self.save_study()
                return
            self._timer = threading.Timer(wait, self._timed_send)
            self._timer.daemon = True
            self._timer.start()

    def _timed_send(self) -> None:
        with self._lock:  # a timer that fired as a send took its place sends nothing
            if self._timer is threading.current_thread():
                self.save_study()

    def save_study(self) -> None:
        """The study folder's own files (not the trials'), to storage."""
        def send() -> None:
            for path in sorted(self.study_dir.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    self.storage.put(path, f"{self.rel}/{path.name}")

        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # this send takes what it was due to send
                self._timer = None
            self.sent_at = time.monotonic()
            self._warn_on_failure(send, "the study's index was not sent (a rerun sends it)")

    def _warn_on_failure(self, action: Any, what: str) -> None:
        try:
            action()
        except StorageError as exc:
            self.console.print(f"warning: storage: {what}: {exc}", style="yellow",
                               markup=False, soft_wrap=True)
