"""Atomic file writes: a reader never sees a half-written status, index or checkpoint.

Write to a temporary file in the same folder, flush and fsync it, then rename it over
the target (atomic on POSIX), and fsync the folder so the rename itself survives a
crash.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it: set and put back, once, at import
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once: setting it later, from the writer thread, races


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any],
                 make_folder: bool = True) -> None:
    """Replace `path` with what `write(handle)` writes, atomically (FileNotFoundError when
    its folder is gone and `make_folder` is off: a trial folder deleted meanwhile)."""
    path = Path(path)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; results should stay shareable
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, make_folder: bool = True) -> None:
    """Replace `path` with `data` atomically."""
    atomic_write(path, lambda handle: handle.write(data), make_folder)


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in `folder` (before a new attempt)."""
    stale = [p for p in Path(folder).glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_json(path: str | Path, data: Any, make_folder: bool = True) -> None:
    """Replace `path` with pretty JSON atomically (NaN and inf kept as Python writes them)."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode(),
                       make_folder)


def read_json(path: str | Path) -> Any | None:
    """The JSON in `path`, or None when it is missing, empty or not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def folder_identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of a folder, or None when it does not exist: a folder deleted and
    made again has another identity."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class BackgroundWriter:
    """File writes run in order on one background thread, off the training's critical path
    (fsync and rename wait on the disk, not on the CPU). Order is kept: a job starts only
    after the one before it is done, so a checkpoint is complete and fsynced before the
    status.json that points at it. A failed write is raised by the next `submit` or by
    `flush`, which the run calls before it reports an outcome."""

    def __init__(self, depth: int = 2):
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)  # a full queue waits: bounded
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True, name="mtrain-writer")
        self._thread.start()

    def submit(self, job: Callable[[], Any]) -> None:
        self._raise()
        self._jobs.put(job)

    def flush(self) -> None:
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Finish the queued writes and stop the thread. A failure no `flush` reported
        (the run was already ending with another error) is logged, never dropped."""
        self._jobs.join()
        self._jobs.put(None)
        self._thread.join()
        if self._error is not None:
            log.warning("a background write failed: %s", self._error)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None:  # after a failure, later writes would break order
                    job()
            except BaseException as exc:
                self._error = exc
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
