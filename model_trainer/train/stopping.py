"""Best-model tracking, early stopping and the one predicate that says when to stop.

Every reason a run ends is a `StopReason`; the predicate names all of them but
`interrupted`, which the trial sets when Ctrl-C arrives.
"""

from __future__ import annotations

import math
from typing import Any

from model_trainer.train.state import TrainState
from model_trainer.vocabulary import StopReason


def is_better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """True when `value` improves on `best` by more than `min_delta` (NaN never does)."""
    if not math.isfinite(value):
        return False
    if best is None or not math.isfinite(best):
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def track(state: TrainState, metrics: dict[str, float], recipe: Any, epoch: int) -> bool:
    """Update best and the early-stopping count after an evaluation; True on a new best
    (recorded with the epoch and the optimizer step whose weights it judged)."""
    monitor, stopping = recipe.train.monitor, recipe.train.early_stopping
    if monitor.metric not in metrics:
        return False
    value = metrics[monitor.metric]
    best = state.best["value"] if state.best else None
    if is_better(value, best, monitor.mode, stopping.min_delta):
        state.best = {"metric": monitor.metric, "mode": monitor.mode, "value": value,
                      "epoch": epoch, "step": state.global_step}
        state.bad_evals = 0
        return True
    state.bad_evals += 1
    return False


def max_steps_reached(state: TrainState, recipe: Any) -> bool:
    """train.max_steps is set and the run has taken that many optimizer steps."""
    return recipe.train.max_steps is not None and state.global_step >= recipe.train.max_steps


def step_evaluation_due(state: TrainState, recipe: Any) -> bool:
    """train.eval_every_steps asks for an evaluation after this optimizer step."""
    every = recipe.train.eval_every_steps
    return every is not None and state.global_step % every == 0


def stop_reason(state: TrainState, recipe: Any, smoke: bool = False) -> StopReason | None:
    """The `done` predicate: why the loop must stop now, or None to go on."""
    patience = recipe.train.early_stopping.patience
    if state.diverged:
        return StopReason.DIVERGED
    if state.pruned:
        return StopReason.PRUNED
    if smoke and state.epoch >= 1:
        return StopReason.SMOKE
    if patience is not None and state.bad_evals >= patience:
        return StopReason.EARLY_STOP
    if max_steps_reached(state, recipe):
        return StopReason.MAX_STEPS
    if state.epoch >= recipe.train.epochs:
        return StopReason.EPOCHS_REACHED
    return None
