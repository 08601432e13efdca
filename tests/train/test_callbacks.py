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


def test_every_moment_is_called_in_order_with_the_logged_figures(tmp_path):
    """2 epochs of 6 steps and a test split: the moments in the loop's order; the metrics
    given are the rows metrics.jsonl holds."""
    from tests.train.callbacks_user import Moments

    Moments.calls = []
    result = run_experiment(load(tmp_path, "train.callbacks=[tests.train.callbacks_user.Moments]",
                                 "data.target=tests.train.tiny.make_loader_with_test",
                                 "train.epochs=2"))
    rows = [json.loads(line) for line in (result.trial_dir / "metrics.jsonl").read_text()
            .splitlines()]
    val = [r["metrics"]["loss"] for r in rows if r["split"] == "val"]
    train = [r["metrics"]["loss"] for r in rows if r.get("span") == "epoch"]
    expected = [("train_start",)]
    for epoch in (1, 2):
        expected.append(("epoch_start", epoch))
        for step in range(6 * (epoch - 1), 6 * epoch):
            expected += [("before_step", step), ("after_step", step)]
        expected += [("train_epoch_end", epoch), ("evaluation_start", "val"),
                     ("evaluation_done", "val"), ("evaluation_end", epoch, val[epoch - 1]),
                     ("epoch_end", epoch, train[epoch - 1])]
    expected += [("evaluation_start", "test"), ("evaluation_done", "test"),
                 ("train_end", "epochs reached")]
    assert Moments.calls == expected


def test_the_test_split_at_the_best_epoch_does_not_rewind_a_callback(tmp_path):
    """The best evaluation is the first (nothing beats it by 100), so the test split loads
    best.pt: a weight average goes back to it, a user's callback keeps its own state."""
    count = COUNT.replace("stop_after: 2", "stop_after: null")
    result = run_experiment(load(tmp_path, count, "train.epochs=3",
                                 "data.target=tests.train.tiny.make_loader_with_test",
                                 "train.early_stopping.min_delta=100"))
    rows = [json.loads(line) for line in (result.trial_dir / "metrics.jsonl").read_text()
            .splitlines()]
    assert [r for r in rows if r["split"] == "test"][0]["checkpoint"] == "best"
    assert [r["metrics"]["steps_at_end"] for r in rows
            if "steps_at_end" in r["metrics"]] == [18]  # not 6, the best epoch's count


def test_a_callback_at_a_mid_epoch_evaluation_leaves_the_train_rows_as_they_are(tmp_path):
    """A callback at on_evaluation_end (logging nothing) and an evaluation at step 4 of 6:
    the train rows stay at the log point (5) and the epoch's end, each with its steps."""
    plain = run_experiment(load(tmp_path / "a", "train.log_every=5", "train.epochs=1",
                                "train.eval_every_steps=4"))
    watched = run_experiment(load(tmp_path / "b", "train.log_every=5", "train.epochs=1",
                                  "train.eval_every_steps=4",
                                  "train.callbacks=[tests.train.callbacks_user.Moments]"))

    def train_rows(result):
        return [(r["step"], r.get("span"), r["metrics"]) for r in map(
            json.loads, (result.trial_dir / "metrics.jsonl").read_text().splitlines())
            if r["split"] == "train"]

    assert [row[:2] for row in train_rows(watched)] == [(5, None), (6, "epoch")]
    assert train_rows(watched) == train_rows(plain)
