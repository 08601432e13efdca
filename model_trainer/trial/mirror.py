"""A trial folder mirrored to storage while the trial runs (`study.storage`), and brought
back from it where a retry runs on a machine that does not have it.

A thread uploads what changed every few seconds (checkpoints first, then metrics.jsonl and
the other files, status.json last), off the training loop; `finish` makes a last pass that
must succeed before the trial counts as done, so a trial whose files did not all reach
storage is a failed trial (retried by the study's policy), never a completed one.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from model_trainer.files import read_json
from model_trainer.layout import CHECKPOINTS, LAST_CHECKPOINT, STATUS
from model_trainer.storage import Storage, StorageError

EVERY_S = 2.0
LOCAL_DIR = "MTRAIN_LOCAL_DIR"  # where a worker keeps trial folders (node-local scratch)


def storage_place(trial_dir: Path) -> str:
    """Where a trial folder (`<study folder>/<trial id>`) lives below study.storage's URI:
    the same on every node (its W&B run id hashes it)."""
    return f"{trial_dir.parent.name}/{trial_dir.name}"


def trial_mirror(uri: str, trial_dir: Path) -> TrialMirror:
    """The mirror of the trial folder `trial_dir` (`<study folder>/<trial id>`) at
    `<uri>/<study folder name>/<trial id>`; the local folder is under MTRAIN_LOCAL_DIR
    when the worker's environment sets it (a node's scratch), else `trial_dir`."""
    rel = storage_place(trial_dir)
    local = os.environ.get(LOCAL_DIR)
    folder = Path(local) / rel if local else trial_dir
    return TrialMirror(Storage(uri), folder, rel)


class TrialMirror:
    def __init__(self, storage: Storage, folder: Path, rel: str, every_s: float = EVERY_S):
        self.storage, self.folder, self.rel, self.every_s = storage, folder, rel, every_s
        self.sent: dict[Path, tuple[int, int]] = {}  # file -> (mtime_ns, size) uploaded
        self.sent_status: bytes | None = None  # status.json as last uploaded
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> int:
        """Copy the trial's files from storage when storage is further along than this
        folder (a retry on another machine, a folder lost), or only its checkpoints when
        the folder has none (the driver brings a trial's other files back without them);
        how many files came back."""
        if further_along(self.storage, self.rel, self.folder):
            copied = self.storage.download(self.rel, self.folder)
        elif not (self.folder / CHECKPOINTS / LAST_CHECKPOINT).exists():
            rel = f"{self.rel}/{CHECKPOINTS}"
            copied = self.storage.download(rel, self.folder / CHECKPOINTS)
        else:
            return 0
        for path in self.folder.rglob("*"):  # as storage has them: not sent again
            if path.is_file():
                stat = path.stat()
                self.sent[path] = (stat.st_mtime_ns, stat.st_size)
        with contextlib.suppress(FileNotFoundError):
            self.sent_status = (self.folder / STATUS).read_bytes()
        return copied

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mtrain-mirror", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Stop the thread and upload what is left (StorageError when it cannot)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sync()

    def sync(self) -> None:
        """Upload every file that changed since the last pass, checkpoints first; status.json
        last, as it was when the pass began (so it never claims a checkpoint that a later
        write made and this pass did not send)."""
        try:
            status = (self.folder / STATUS).read_bytes()
        except FileNotFoundError:
            status = None
        files = [p for p in self.folder.rglob("*") if p.is_file() and p.name != STATUS
                 and not any(part.startswith(".") for part in p.relative_to(self.folder).parts)]
        files.sort(key=lambda p: p.parent.name != CHECKPOINTS)
        for path in files:
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced meanwhile: the next pass sends the new one
                continue
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self.sent.get(path) != stamp:
                self.storage.put(path, f"{self.rel}/{path.relative_to(self.folder).as_posix()}")
                self.sent[path] = stamp
        if status is not None and status != self.sent_status:
            self.storage.write(f"{self.rel}/{STATUS}", status)
            self.sent_status = status

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            with contextlib.suppress(StorageError, OSError):  # the run goes on; finish()
                self.sync()  # makes the pass that must succeed


def further_along(storage: Storage, rel: str, folder: Path) -> bool:
    """Whether storage's copy of a trial folder is further along than `folder` (its
    status.json's step, then epochs; a folder without one is behind any)."""
    remote = _progress(storage.read_json(f"{rel}/{STATUS}"))
    local = _progress(read_json(folder / STATUS))
    return remote is not None and (local is None or remote > local)


def _progress(status: Any) -> tuple[int, int] | None:
    """(global_step, epochs_done) of a status.json's content; None when unreadable."""
    if not isinstance(status, dict):
        return None
    try:
        return int(status.get("global_step") or 0), int(status.get("epochs_done") or 0)
    except (TypeError, ValueError):  # not numbers: unreadable, as a garbled file is
        return None
