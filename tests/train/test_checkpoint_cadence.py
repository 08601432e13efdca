"""When checkpoints are written: at the epochs `train.checkpoint_every` selects once
`train.checkpoint_min_interval_s` has passed, and always at the end and on a signal; the
best epoch's state is held in memory between writes, so best.pt is always the best
epoch's, and a run killed between writes still resumes to the uninterrupted result."""

from __future__ import annotations

import pytest
import torch

from model_trainer.train import checkpoint
from model_trainer.trial.experiment import run_experiment
from tests.files import rows, status
from tests.train.tiny import load

NEVER = "train.checkpoint_min_interval_s=3600"  # no write before the run ends


def _writes(monkeypatch) -> list[str]:
    """The checkpoint files each write produces, in order."""
    written: list[str] = []
    for name in ("save_last", "save_best", "link_best"):
        original = getattr(checkpoint, name)

        def spy(folder, *args, _original=original, _name=name):
            written.append(_name)
            return _original(folder, *args)

        monkeypatch.setattr(checkpoint, name, spy)
    return written


def _accuracy_of(trial, name: str) -> float:
    """Val accuracy of a checkpoint's weights, computed here by hand."""
    from tests.train.tiny import TinyWrapper

    loaded = load(trial.parents[1])
    wrapper = TinyWrapper(loaded.recipe)
    wrapper.setup()
    wrapper.model.load_state_dict(checkpoint.load_file(trial / "checkpoints" / name)["model"])
    wrapper.model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in wrapper.val_loader:
            logits, _ = wrapper.model(**batch)
            correct += int((logits.argmax(1) == batch["labels"]).sum())
            total += len(batch["labels"])
    return correct / total


def test_short_epochs_write_one_checkpoint_at_the_end_with_the_best_epoch_held(tmp_path,
                                                                                monkeypatch):
    written = _writes(monkeypatch)
    overrides = ("train.epochs=6", "train.monitor={metric: val_accuracy, mode: max}",
                 "train.optimizer.lr=0.3")  # a large step: val accuracy goes up and down
    result = run_experiment(load(tmp_path, *overrides), threads=1)
    best = result.best
    assert best["epoch"] < 6, "the last epoch was the best: nothing held to check"
    assert written == ["save_best", "save_last"]  # the held best, then last.pt, once each
    record = status(result.trial_dir)
    assert record["epochs_done"] == 6 and record["state"] == "completed"
    val = {r["epoch"]: r["metrics"]["accuracy"] for r in rows(result.trial_dir, "val")}
    assert val[best["epoch"]] == best["value"] == max(val.values())
    assert _accuracy_of(result.trial_dir, "best.pt") == pytest.approx(best["value"])
    assert _accuracy_of(result.trial_dir, "last.pt") == pytest.approx(val[6])


def test_no_interval_writes_every_epoch_and_best_with_it(tmp_path, monkeypatch):
    written = _writes(monkeypatch)
    result = run_experiment(load(tmp_path, "train.epochs=4", "train.optimizer.lr=0.3",
                                 "train.checkpoint_min_interval_s=0"), threads=1)
    expected, best = [], float("inf")
    for row in rows(result.trial_dir, "val"):  # the monitor: val_loss, lower is better
        expected.append("save_last")
        if row["metrics"]["loss"] < best:
            best = row["metrics"]["loss"]
            expected.append("link_best")  # best.pt: the same file as that epoch's last.pt
    assert written == expected and expected.count("link_best") < 4


def test_a_run_killed_before_its_first_write_resumes_to_the_same_result(tmp_path):
    from tests.robustness.test_kill_points import kill_at

    overrides = ("train.epochs=4", "data.args.n=160", NEVER)
    baseline = run_experiment(load(tmp_path / "clean", *overrides), threads=1)
    kill_at("step", 25, tmp_path / "killed", *overrides)  # in epoch 3: nothing written yet
    trial = next((tmp_path / "killed" / "tiny").iterdir())
    assert not (trial / "checkpoints" / "last.pt").exists()
    resumed = run_experiment(load(tmp_path / "killed", *overrides), threads=1)
    assert resumed.final_metrics == baseline.final_metrics and resumed.best == baseline.best
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3, 4]  # each once


def test_a_negative_interval_is_a_recipe_error(tmp_path):
    from model_trainer.errors import RecipeError

    with pytest.raises(RecipeError, match=r"train.checkpoint_min_interval_s: must be >= 0"):
        load(tmp_path, "train.checkpoint_min_interval_s=-1")
