"""What the loop reports to while it trains: metric rows, a display, checkpoints, on_eval.

This base writes nothing and shows nothing: a wrapper used on its own (a notebook, a unit
test) trains with it. `model_trainer.trial.session.TrialSession` is the one a trial uses:
it writes the trial folder's files and shows progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.vocabulary import TrialState

OnEval = Callable[[int, dict[str, float]], bool]  # (epoch, metrics) -> stop as pruned


class Display:
    """What a person watching the run sees; this one shows nothing (`train.progress: off`)."""

    def start(self, name: str, epochs: int, steps_per_epoch: int | None, epoch: int) -> None:
        pass

    def update(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        pass

    def evaluation(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Keep:
    """What a checkpoint is kept as besides last.pt (train/kept.py)."""

    every: str | None = None  # epoch-NNNN.pt
    top: tuple[int, float, int, str] | None = None  # (epoch, value, k, mode)


class Session:
    """A session that writes nothing and shows nothing. With `checkpoint_dir` it may read
    the trial's checkpoints (the other ranks of a DDP trial test at the best one)."""

    smoke: bool = False  # a smoke run: a couple of batches per split, one epoch
    on_eval: OnEval | None = None  # the study's pruner, asked after each evaluation
    saves_checkpoints: bool = False  # rank 0 of a trial saves them
    weights_format: str = "torch"  # train.checkpoint.format: safetensors writes those too

    def __init__(self, checkpoint_dir: Path | None = None) -> None:
        self.display = Display()
        self.checkpoint_dir = checkpoint_dir  # where the trial's checkpoints are

    def log(self, split: str, metrics: dict[str, float], step: int, epoch: int,
            **extra: Any) -> None:
        """Record one metrics row (names without the split prefix)."""

    def check_folder(self) -> None:
        """Raise when the run's folder can no longer be written (before a checkpoint)."""

    def save_checkpoint(self, state: dict[str, Any], loop_state: dict[str, Any], *,
                        best_only: bool, best_too: bool, keep: Keep | None = None) -> None:
        """Persist a checkpoint (the captured state, tensors still the live model's) as
        `last` (and `best` too, or only `best`; `keep`: also kept under its own names),
        before the next step changes them."""
        self.write_checkpoint(state, best_only=best_only, best_too=best_too, keep=keep)

    def write_checkpoint(self, state: dict[str, Any], *, best_only: bool,
                         best_too: bool, keep: Keep | None = None) -> None:
        from model_trainer.train import checkpoint, kept

        data = checkpoint.serialize(state)
        weights = checkpoint.serialize_weights(state) if self.weights_format == "safetensors" \
            else None
        if best_only:
            checkpoint.save_best(self.checkpoint_dir, data, weights)
            return
        checkpoint.save_last(self.checkpoint_dir, data, weights)
        if best_too:
            checkpoint.link_best(self.checkpoint_dir, weights is not None)
        if keep is not None and keep.every:
            checkpoint.link_last(self.checkpoint_dir, keep.every)
        if keep is not None and keep.top is not None:
            kept.keep_top(self.checkpoint_dir, *keep.top)

    def flush(self) -> None:
        """Wait until everything handed over is on disk; raise if a write failed."""

    def close(self, state: TrialState | None = None) -> None:
        """The run is over; `state`: how it ended, as far as this rank knows."""
        self.display.stop()
