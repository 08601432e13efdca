"""One writer per folder: an advisory lock that a trial's process or a study's driver holds.

The lock is the operating system's (`flock` on `<folder>/.lock`): it is released when its
holder exits in any way, kill -9 and power loss included, so a lock left by a dead
process is simply taken over. The holder writes who it is (pid, host, since when, the
command) into the lock file, so a second process can name it in its message without
changing any file. On NFS, `flock` is carried by the server's locking (NFSv4, or NLM for
NFSv3 with `lockd`); a file system without it gives no protection (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import IO, Any

from model_trainer.errors import FolderLocked
from model_trainer.layout import LOCK_FILE

log = logging.getLogger("model_trainer")


class FolderLock:
    """Hold the lock of `folder` inside a `with` block; FolderLocked when another has it."""

    def __init__(self, folder: Path, what: str):
        self.folder, self.what = Path(folder), what
        self._handle: IO[str] | None = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self) -> None:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (held)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            handle.close()
            raise FolderLocked(f"{self.folder} is in use: this {self.what} is being run by "
                               f"{holder}; wait for it to finish or stop it, then run again") \
                from None
        except OSError as exc:  # a file system without locks (NFS without lockd): go on
            handle.close()
            log.warning("%s cannot be locked (%s): running without the one-writer guarantee",
                        self.folder, exc.strerror or exc)
            return
        previous = _read(handle)
        if previous.get("pid") and previous.get("pid") != os.getpid():
            log.info("%s: taking over the lock of pid %s, which is no longer running",
                     self.folder, previous["pid"])
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": dt.datetime.now().isoformat(timespec="seconds"),
                                 "command": " ".join(sys.argv)[:500]}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file releases the flock
            self._handle = None


def _read(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        data = json.loads(handle.read() or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder(handle: IO[str]) -> str:
    info = _read(handle)
    if not info:
        return "another process"
    command = f" ({info['command']})" if info.get("command") else ""
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')} since "
            f"{info.get('since', '?')}{command}")
