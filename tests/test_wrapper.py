"""ModelWrapper hooks: each override takes effect; a wrong one fails before the first batch."""

from __future__ import annotations

import pytest
import torch

from model_trainer.errors import BatchError, DerivedError, HookSignatureError
from model_trainer.trial.experiment import run_experiment
from tests.files import metrics, status
from tests.train import wrappers
from tests.train.tiny import load, tensors


def run(tmp_path, wrapper: str, *overrides: str):
    wrappers.CALLS.clear()
    return run_experiment(load(tmp_path, f"wrapper=tests.train.wrappers.{wrapper}", *overrides),
                          threads=1)


def test_make_dataloader_with_tuple_batches(tmp_path):
    result = run(tmp_path, "TupleLoaders")
    assert wrappers.CALLS == ["make_dataloader:train", "make_dataloader:val",
                              "make_dataloader:test"]
    assert set(result.final_metrics) == {"val_loss", "val_accuracy"}  # targets = last element


def test_make_model_and_step_overrides(tmp_path):
    result = run(tmp_path, "WideModel")
    state = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["model"]["0.weight"].shape == (32, 4)
    assert result.final_metrics["val_accuracy"] > 0.5


def test_make_optimizer_override_is_used(tmp_path):
    result = run(tmp_path, "FrozenOptimizer")
    losses = [r["loss"] for r in metrics(result, "val")]
    assert len(losses) == 3 and len(set(losses)) == 1  # lr 0: nothing learns


def test_make_scheduler_override_steps_per_epoch(tmp_path):
    result = run(tmp_path, "HalvingScheduler", "train.log_every=6", "train.scheduler.interval=epoch")
    assert wrappers.CALLS == ["make_scheduler:6"]
    assert [r["lr"] for r in metrics(result, "train")] == [0.01, 0.005, 0.0025]


def test_train_step_override_logs_its_extra_tensors(tmp_path):
    result = run(tmp_path, "ExtraTrainMetric")
    assert all(set(r) == {"loss", "batch_mean", "lr"} for r in metrics(result, "train"))


def test_evaluation_step_override_and_whole_split_accuracy(tmp_path):
    result = run(tmp_path, "ConstantEvaluation", "train.monitor.metric=val_accuracy",
                 "train.monitor.mode=max")
    _, y = tensors(96, seed=456)  # the val split of tests.train.tiny.make_loader
    assert result.final_metrics == {"val_accuracy": (y == 0).sum().item() / 96}


def test_custom_evaluation_is_merged_and_can_be_monitored(tmp_path):
    result = run(tmp_path, "Answer", "train.monitor.metric=val_answer", "train.monitor.mode=max")
    assert result.final_metrics["val_answer"] == 44.0  # before epoch 3 completes
    assert result.best == {"metric": "val_answer", "mode": "max", "value": 44.0, "epoch": 3,
                           "step": 18}


def test_fit_override_still_writes_rows_status_and_reruns_skip(tmp_path):
    result = run(tmp_path, "OwnFit")
    record = status(result)
    assert record["state"] == "completed" and record["stop_reason"] == "epochs reached"
    assert record["epochs_done"] == 3 and record["best"]["value"] == pytest.approx(2 / 3)
    assert [r["loss"] for r in metrics(result, "train")] == [1.0, 0.5, 1 / 3]
    assert run(tmp_path, "OwnFit").skipped


def test_derived_value_not_filled_is_a_user_error_naming_the_key(tmp_path):
    with pytest.raises(DerivedError) as info:
        run(tmp_path, "NoDerived")
    assert info.value.exit_code == 2 and "model.args.num_classes" in str(info.value)
    assert wrappers.CALLS == ["config_parser"]


def test_bad_signatures_are_reported_together_before_any_data(tmp_path):
    with pytest.raises(HookSignatureError) as info:
        run(tmp_path, "BadSignatures")
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "BadSignatures.train_step(self)" in message and "train_step(self, batch)" in message
    assert "custom_evaluation(self, flag, extra)" in message
    assert wrappers.CALLS == []  # no loader was made, no batch ran


def test_batch_keys_not_matching_forward_name_both_sets(tmp_path):
    with pytest.raises(BatchError) as info:
        run(tmp_path, "WrongKeys")
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "(inputs, labels)" in message and "(x, labels)" in message and "'inputs'" in message


def test_forward_must_return_output_and_loss(tmp_path):
    with pytest.raises(BatchError, match=r"must return \(output, loss\)"):
        run(tmp_path, "SingleOutput")
