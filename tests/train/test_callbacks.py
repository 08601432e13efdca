"""Callbacks: called at their moments, able to log and to stop, their state in the
checkpoint (a resume continues exactly), checked at validate, part of the identity."""

from __future__ import annotations

import json

import pytest

from model_trainer.errors import RecipeError
from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import load

COUNT = "train.callbacks=[{target: tests.train.callbacks_user.CountSteps, args: {stop_after: 2}}]"


def counted(trial_dir):
    """The step counts the callback logged: one train row at each epoch's end."""
    rows = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["epoch"], r["step"], r["metrics"]["steps_counted"]) for r in rows
            if "steps_counted" in r["metrics"]]


def test_a_callback_logs_a_value_and_stops_the_run(tmp_path):
    result = run_experiment(load(tmp_path, COUNT, "train.epochs=5"))
    assert result.stop_reason == "callback" and result.epochs_done == 2
    assert counted(result.trial_dir) == [(1, 6, 6), (2, 12, 12)]  # 96 samples, batches of 16
    status = json.loads((result.trial_dir / "status.json").read_text())
    assert status["stop_reason"] == "callback"


def test_its_state_is_in_the_checkpoint_so_an_extended_run_continues_counting(tmp_path):
    count = COUNT.replace("stop_after: 2", "stop_after: null")
    first = run_experiment(load(tmp_path, count, "train.epochs=2"))
    again = run_experiment(load(tmp_path, count, "train.epochs=3"))
    assert again.trial_dir == first.trial_dir
    assert [c for _, _, c in counted(again.trial_dir)] == [6, 12, 18]  # not 6 again


def test_callbacks_are_part_of_the_identity(tmp_path):
    plain = load(tmp_path)
    assert load(tmp_path, COUNT).trial_id != plain.trial_id
    assert load(tmp_path, "train.callbacks=[]").trial_id == plain.trial_id


@pytest.mark.parametrize(("spec", "problem"), [
    ("tests.train.callbacks_user.WrongSignature",
     "on_epoch_end must take (self, wrapper, epoch, metrics)"),
    ("tests.train.callbacks_user.NotACallback", "has none of the callback moments"),
    ("tests.train.callbacks_user.Nope", "has no attribute 'Nope'"),
    ("{target: tests.train.callbacks_user.CountSteps, args: {every: 3}}",
     "cannot be built with {'every': 3}"),
])
def test_a_bad_callback_is_a_located_error_at_validate(tmp_path, spec, problem):
    with pytest.raises(RecipeError) as info:
        load(tmp_path, f"train.callbacks=[{spec}]")
    assert any("train.callbacks.0" in str(i) and problem in str(i)
               for i in info.value.issues), info.value.issues
