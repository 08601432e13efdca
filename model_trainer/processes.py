"""Child processes that train: started without the caller's main module, and never left
running when the process that owns them dies."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def blank_main() -> Iterator[None]:
    """Spawn without re-running the caller's main module in every rank.

    multiprocessing's spawn re-imports `__main__` (a user's script without a main guard,
    a notebook, a Ray worker) in each child; the ranks need nothing from it, since the
    job arrives cloudpickled, so they are started while `__main__` is a blank module.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def die_with(owner: int) -> None:
    """Exit when process `owner` dies, even by SIGKILL, so no child trains on alone.

    A forkserver child's parent is the forkserver, which exits when its owner does:
    SIGKILL on the parent's death (Linux) acts on that at once; a watchdog thread polls
    the owner too."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def gone() -> bool:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:  # killed but not yet reaped by its own parent: a zombie is gone too
            return Path(f"/proc/{owner}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    if gone():
        os._exit(1)

    def watch() -> None:
        while not gone():
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="mtrain-parent-watch").start()
