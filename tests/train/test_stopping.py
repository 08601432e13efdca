"""Best tracking, early stopping and the one stop predicate."""

from __future__ import annotations

import math

from model_trainer.train.state import TrainState
from model_trainer.train.stopping import is_better, stop_reason, track
from tests.train.tiny import load


def test_is_better_respects_mode_delta_and_nan():
    assert is_better(0.5, None, "min") and is_better(0.4, 0.5, "min")
    assert not is_better(0.45, 0.5, "min", min_delta=0.1)
    assert is_better(0.9, 0.8, "max") and not is_better(0.7, 0.8, "max")
    assert not is_better(math.nan, 0.5, "min")


def test_track_counts_evaluations_without_improvement(tmp_path):
    recipe = load(tmp_path, "train.early_stopping.patience=2").recipe
    state = TrainState()
    assert track(state, {"val_loss": 1.0}, recipe, epoch=1)
    assert not track(state, {"val_loss": 1.5}, recipe, epoch=2)
    assert state.bad_evals == 1 and state.best["epoch"] == 1
    assert stop_reason(state, recipe) is None
    assert not track(state, {"val_loss": 1.2}, recipe, epoch=3)
    assert stop_reason(state, recipe) == "early stop"


def test_every_reason_in_priority_order(tmp_path):
    recipe = load(tmp_path, "train.epochs=2").recipe
    assert stop_reason(TrainState(epoch=1), recipe) is None
    assert stop_reason(TrainState(epoch=2), recipe) == "epochs reached"
    assert stop_reason(TrainState(epoch=1), recipe, smoke=True) == "smoke"
    assert stop_reason(TrainState(epoch=0, pruned=True), recipe) == "pruned"
    assert stop_reason(TrainState(epoch=2, diverged=True, pruned=True), recipe) == "diverged"
