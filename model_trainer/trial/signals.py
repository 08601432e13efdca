"""Ctrl-C and SIGTERM (what SLURM, Kubernetes and `timeout` send before they kill).

While the built-in loop trains, the first SIGINT or SIGTERM asks it to stop at its next
safe point (after a whole optimizer step: the checkpoint it saves there resumes exactly),
after which the run exits 130 or 143. A second signal stops at once, without saving that
moment (a rerun continues from the last checkpoint). Outside the loop (set-up, a custom
`fit`) either signal stops at once, but never in the middle of an import: a module cut
short there (numpy or torch during start-up) breaks every later use of it, so the stop
waits until the import is whole; and a stop raised where Python cannot pass it on (a
finalizer, a callback) is sent again instead of being lost. Before a command starts (the
CLI's own imports and argument parsing: `deferred`) a signal is only recorded, and the
command stops as it begins.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from model_trainer.vocabulary import StopReason

REASONS = {signal.SIGINT: StopReason.INTERRUPTED, signal.SIGTERM: StopReason.TERMINATED}


class Stopped(KeyboardInterrupt):
    """A stop signal that could not wait for a safe point; `reason` says which signal."""

    def __init__(self, reason: StopReason):
        super().__init__(reason)
        self.reason = reason


_received: list[StopReason] = []  # the stop signals this process was sent, in order
_pending: list[StopReason] = []  # received before a command could stop at once
_deferred: list[int] = []  # a signal waiting for an import to finish


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
    unraisable = sys.unraisablehook

    def handler(signum: int, frame: Any) -> None:
        if importing(frame) and not _deferred:  # deliver it again once the import is whole
            _deferred.append(signum)  # (a second signal meanwhile stops at once)
            threading.Thread(target=_redeliver, args=(signum,), daemon=True).start()
            return
        _deferred.clear()
        _received.append(REASONS[signal.Signals(signum)])
        on_signal(_received[-1])

    def swallowed(info: Any) -> None:
        if isinstance(info.exc_value, Stopped):  # raised where it could not propagate
            signum = next(s for s, r in REASONS.items() if r is info.exc_value.reason)
            _deferred.append(signum)
            threading.Thread(target=_redeliver, args=(signum,), daemon=True).start()
            return
        unraisable(info)

    for signum in REASONS:
        signal.signal(signum, handler)
    sys.unraisablehook = swallowed
    try:
        yield
    finally:
        sys.unraisablehook = unraisable
        for signum, old in previous.items():
            signal.signal(signum, old)


def importing(frame: FrameType | None) -> bool:
    """Whether the stack of `frame` is inside an import."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    """Send `signum` to the main thread again once it is no longer importing (as a real
    signal: it also wakes a call that blocks, such as a sleep)."""
    main = threading.main_thread()
    time.sleep(0.005)
    while main.is_alive() and _deferred and importing(sys._current_frames().get(main.ident)):
        time.sleep(0.005)
    if main.is_alive() and _deferred:
        _deferred.clear()
        signal.pthread_kill(main.ident, signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Before a command starts: a stop signal is recorded, and `stop_at_once` raises it as
    soon as the command begins (raising it here would be caught by the argument parser,
    or cut an import short)."""
    with handled(_pending.append):
        yield


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
        if _pending:  # sent during start-up: stop now, before anything is written
            raise Stopped(_pending.pop())
        yield


def quiet_exit() -> None:
    """The work is done and saved: a first Ctrl-C or SIGTERM during the exit is ignored (it
    would turn a success into a failure); a second one ends the process as usual."""
    def second(signum: int, frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT if signum == signal.SIGTERM else signal.SIGTERM,
                      signal.SIG_DFL)

    if threading.current_thread() is threading.main_thread():
        for signum in REASONS:
            signal.signal(signum, second)
