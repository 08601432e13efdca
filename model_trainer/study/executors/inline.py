"""Trials one at a time in the driver's own process: concurrency 1 needs no pool."""

from __future__ import annotations

from typing import Any

from model_trainer.study.trial_task import TrialOutcome, TrialPayload, execute_trial
from model_trainer.vocabulary import RecordState

CANCELLED = TrialOutcome(RecordState.INTERRUPTED)


class InlineExecutor:
    """Runs the submitted trial when asked for an outcome; a signal reaches the trial
    itself (it runs in this process), which stops at a safe point and saves."""

    runs_in_driver = True

    def __init__(self) -> None:
        self._queue: list[tuple[Any, TrialPayload]] = []

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._queue.clear()

    @property
    def running(self) -> int:
        return len(self._queue)

    def submit(self, key: Any, payload: TrialPayload) -> None:
        self._queue.append((key, payload))

    def wait_one(self) -> tuple[Any, TrialOutcome]:
        key, payload = self._queue.pop(0)
        return key, execute_trial(payload)

    def cancel_all(self, reason: Any = None) -> list[tuple[Any, TrialOutcome]]:
        cancelled = [(key, CANCELLED) for key, _ in self._queue]
        self._queue.clear()
        return cancelled
