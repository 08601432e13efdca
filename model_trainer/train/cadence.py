"""When the loop writes a checkpoint, and where the best state waits between two writes.

A checkpoint costs milliseconds whatever an epoch costs (a copy of the model and the
optimizer, serializing it, an fsync; on a 20 ms epoch, a fifth of the run). So `last.pt`
is written at the epochs `train.checkpoint_every` selects once
`train.checkpoint_min_interval_s` has passed since the last write, and always when the run
stops or a signal asks it to: a kill -9 loses at most that interval of training, and the
rerun still ends exactly as an uninterrupted run. An evaluation that is the best so far
between two writes is held as a CPU copy and written as `best.pt` with the next write,
so best.pt always holds the best epoch's state.
"""

from __future__ import annotations

import time
from typing import Any

from model_trainer.train import distributed
from model_trainer.train.checkpoint import snapshot


class Cadence:
    """The write schedule of one run, and the best state held until the next write."""

    def __init__(self, every: int, min_interval_s: float):
        self.every, self.min_interval_s = every, min_interval_s
        self.saved_at = time.monotonic()  # the run's start counts as a write
        self.held_best: dict[str, Any] | None = None

    def due(self, epoch: int) -> bool:
        """Whether the end of `epoch` writes `last.pt`; every rank gets the same answer
        (a write is collective)."""
        if epoch % self.every:
            return False
        return distributed.any_rank(time.monotonic() - self.saved_at >= self.min_interval_s)

    def saved(self) -> None:
        self.saved_at = time.monotonic()

    def hold_best(self, state: dict[str, Any]) -> None:
        """Keep a copy of `state` (captured from the live model) as the best until the next
        write; the previous held copy's buffers are reused."""
        self.held_best = snapshot(state, into=self.held_best)

    def take_best(self) -> dict[str, Any] | None:
        """The held best state, to be written now (None when there is none)."""
        held, self.held_best = self.held_best, None
        return held
