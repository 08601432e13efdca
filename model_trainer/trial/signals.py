"""Ctrl-C and SIGTERM (what SLURM, Kubernetes and `timeout` send before they kill).

While the built-in loop trains, the first SIGINT or SIGTERM asks it to stop at its next
safe point (after a whole optimizer step: the checkpoint it saves there resumes exactly),
after which the run exits 130 or 143. A second signal stops at once, without saving that
moment (a rerun continues from the last checkpoint). Outside the loop (set-up, a custom
`fit`) either signal stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from model_trainer.vocabulary import StopReason

REASONS = {signal.SIGINT: StopReason.INTERRUPTED, signal.SIGTERM: StopReason.TERMINATED}


class Stopped(KeyboardInterrupt):
    """A stop signal that could not wait for a safe point; `reason` says which signal."""

    def __init__(self, reason: StopReason):
        super().__init__(reason)
        self.reason = reason


_received: list[StopReason] = []  # the stop signals this process was sent, in order


def reason_of(interrupt: KeyboardInterrupt) -> StopReason:
    """Which signal an interrupt stands for: a Stopped names it; a plain KeyboardInterrupt
    is the last signal received (a library may re-raise ours as a bare one: Ray's wait
    does), else Ctrl-C."""
    if isinstance(interrupt, Stopped):
        return interrupt.reason
    return _received[-1] if _received else StopReason.INTERRUPTED


@contextlib.contextmanager
def handled(on_signal: Callable[[StopReason], None]) -> Iterator[None]:
    """Call `on_signal(reason)` for SIGINT and SIGTERM while inside (main thread only:
    elsewhere Python cannot install handlers, and the defaults stay)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in REASONS}

    def handler(signum: int, frame: Any) -> None:
        _received.append(REASONS[signal.Signals(signum)])
        on_signal(_received[-1])

    for signum in REASONS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def graceful_stop(loop: Any) -> Iterator[None]:
    """The first signal asks `loop` to stop at its next safe point; a second raises."""

    def on_signal(reason: StopReason) -> None:
        if loop.stop_request is not None:
            raise Stopped(reason)
        loop.stop_request = reason
        print(f"[mtrain] {reason}: stopping after the current step and saving (send it "
              "again to stop at once)", file=sys.stderr, flush=True)

    with handled(on_signal):
        yield


@contextlib.contextmanager
def stop_at_once() -> Iterator[None]:
    """SIGTERM stops like Ctrl-C (a Stopped exception) instead of killing the process
    before anything is saved: the CLI's commands run inside this."""

    def on_signal(reason: StopReason) -> None:
        raise Stopped(reason)

    with handled(on_signal):
        yield
