"""run_experiment: files on disk, stop reasons, safe reruns, resume == uninterrupted."""

from __future__ import annotations

import json
import logging

import pytest
import torch
import yaml

import model_trainer
from model_trainer.errors import CheckpointError, Diverged, Interrupted, MTrainError, TrainingError
from model_trainer.recipe import load_recipe
from model_trainer.trial.experiment import TrialResult, run_experiment
from tests.files import rows, status
from tests.train import tiny
from tests.train.tiny import LINEAR, load

STATUS_KEYS = {"trial_id", "name", "state", "attempts", "started_at", "ended_at", "duration_s",
               "stop_reason", "epochs_done", "global_step", "best", "error", "versions",
               "git_commit", "stateless_changes", "study", "test_checkpoint", "sources",
               "stateless_keys", "code", "code_changes"}


def run(loaded, **kwargs) -> TrialResult:
    return run_experiment(loaded, threads=1, **kwargs)


def val_rows(folder) -> list[tuple]:
    return [(r["step"], r["epoch"], r["metrics"]) for r in rows(folder, "val")]


# ---- the files of a trial ------------------------------------------------------------------


def test_a_composed_recipe_leaves_a_flat_resolved_recipe_and_its_sources(tmp_path):
    (tmp_path / "base.yaml").write_text(tiny.RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain:\n  epochs: 1\n"
                                         "model:\n  args: {hidden: '${train.batch_size}'}\n")
    result = run(load_recipe(tmp_path / "child.yaml"))
    assert status(result)["sources"] == [str(tmp_path / "base.yaml"), str(tmp_path / "child.yaml")]
    written = yaml.safe_load((result.trial_dir / "recipe.yaml").read_text())
    assert "extends" not in written
    assert written["model"]["args"]["hidden"] == written["train"]["batch_size"] == 16
    assert written["train"]["epochs"] == 1 and written["data"]["args"] == {"n": 96}



def test_completed_run_writes_the_contract_files(tmp_path):
    result = run(load(tmp_path), study_info={"study_id": "s1", "params": {"a": 1}})
    folder = tmp_path / "tiny" / result.trial_id
    assert result.trial_dir == folder and result.state == "completed"
    assert result.stop_reason == "epochs reached" and result.epochs_done == 3
    st = status(result)
    assert set(st) == STATUS_KEYS
    assert st["state"] == "completed" and st["attempts"] == 1 and st["error"] is None
    assert st["epochs_done"] == 3 and st["global_step"] == 18  # 96 samples / 16 * 3
    assert st["duration_s"] > 0 and st["ended_at"] is not None
    assert st["study"] == {"study_id": "s1", "params": {"a": 1}}
    assert st["versions"]["model_trainer"] == model_trainer.__version__
    assert st["best"]["metric"] == "val_loss" and st["best"]["mode"] == "min"
    recipe_text = (folder / "recipe.yaml").read_text()
    assert "num_classes: 3" in recipe_text  # the Derived value is filled
    assert recipe_text.index("model:") < recipe_text.index("train:")  # order kept
    all_rows = rows(folder)
    assert {r["split"] for r in all_rows} == {"train", "val"}
    epochs = [r for r in all_rows if r.get("span") == "epoch"]
    for row in all_rows:
        assert set(row) == {"step", "epoch", "split", "time", "metrics"} | \
            ({"span"} if row in epochs else set())
    train = [r for r in all_rows if r["split"] == "train" and r not in epochs]
    assert [r["step"] for r in train] == list(range(2, 19, 2))  # log_every 2
    assert set(train[0]["metrics"]) == {"loss", "lr"}
    assert [(r["step"], r["epoch"], set(r["metrics"])) for r in epochs] == \
        [(6, 1, {"loss", "accuracy", "lr"}), (12, 2, {"loss", "accuracy", "lr"}),
         (18, 3, {"loss", "accuracy", "lr"})]
    losses = [r["metrics"]["loss"] for r in train]  # log points at 2, 4, 6: three a epoch
    for n, row in enumerate(epochs):  # an epoch's loss: the mean of its log windows
        assert row["metrics"]["loss"] == pytest.approx(sum(losses[3 * n:3 * n + 3]) / 3)
    vals = val_rows(folder)
    assert [(s, e) for s, e, _ in vals] == [(6, 1), (12, 2), (18, 3)]
    assert result.final_metrics == {f"val_{k}": v for k, v in vals[-1][2].items()}
    assert (folder / "checkpoints" / "last.pt").exists()
    assert (folder / "checkpoints" / "best.pt").exists()


def test_status_lists_the_keys_outside_the_identity(tmp_path):
    """The analysis reads them: a stateless or derived value that differs between trials
    is not a varied attribute."""
    st = status(run(load(tmp_path, "train.epochs=1")))
    keys = set(st["stateless_keys"])
    assert {"name", "output_dir", "device", "train.epochs", "train.log_every", "train.progress",
            "data.num_workers", "model.args.num_classes"} <= keys  # num_classes: Derived
    assert not keys & {"seed", "model.args.hidden", "train.optimizer.lr", "train.batch_size"}


def test_a_schedule_sized_by_the_epochs_keeps_them_in_the_identity(tmp_path):
    st = status(run(load(tmp_path, "train.epochs=1", "train.scheduler.name=cosine")))
    assert "train.epochs" not in st["stateless_keys"]  # another horizon is another trial


def test_same_seed_same_metrics_and_another_seed_differs(tmp_path):
    import torch

    a = run(load(tmp_path / "a"))
    torch.rand(7)  # the global RNG state must not matter: the run seeds itself
    b = run(load(tmp_path / "b"))
    c = run(load(tmp_path / "c", "seed=1"))
    assert a.final_metrics == b.final_metrics
    assert a.final_metrics != c.final_metrics


def test_tensorboard_events_when_enabled(tmp_path):
    result = run(load(tmp_path, "train.loggers=[tensorboard]", "train.epochs=1"))
    assert list((result.trial_dir / "tensorboard").glob("events.out.tfevents.*"))


# ---- stop reasons --------------------------------------------------------------------------


def test_early_stop(tmp_path):
    result = run(load(tmp_path, "train.epochs=10", "train.early_stopping.patience=1",
                      "train.early_stopping.min_delta=100.0"))
    assert result.stop_reason == "early stop" and result.epochs_done == 2
    assert result.best["epoch"] == 1
    assert status(result)["stop_reason"] == "early stop"


def test_diverged_fails_with_its_own_error(tmp_path):
    loaded = load_recipe_linear(tmp_path, "train.optimizer.lr=1.0e12", "train.log_every=1")
    with pytest.raises(Diverged) as info:
        run(loaded)
    assert isinstance(info.value, TrainingError) and info.value.exit_code == 1
    folder = tmp_path / "linear" / loaded.trial_id
    st = status(folder)
    assert st["state"] == "failed" and st["stop_reason"] == "diverged"
    assert st["error"]["type"] == "Diverged" and "not finite" in st["error"]["message"]
    assert not (folder / "checkpoints" / "last.pt").exists()  # no non-finite weights saved


def test_pruned_by_on_eval_then_skipped(tmp_path):
    seen = []

    def on_eval(epoch, metrics):
        seen.append((epoch, sorted(metrics)))
        return epoch == 2

    result = run(load(tmp_path, "train.epochs=5"), on_eval=on_eval)
    assert result.state == "pruned" and result.stop_reason == "pruned" and result.epochs_done == 2
    names = ["train_accuracy", "train_loss", "val_accuracy", "val_loss"]
    assert seen == [(1, names), (2, names)]
    assert status(result)["state"] == "pruned"
    again = run(load(tmp_path, "train.epochs=5"))
    assert again.skipped and again.state == "pruned"


def test_training_exception_is_recorded_with_its_traceback(tmp_path):
    loaded = load(tmp_path, "model.args.dropout=2.0")  # nn.Dropout rejects p > 1
    with pytest.raises(TrainingError, match="training failed: ValueError: dropout") as info:
        run(loaded)
    assert "raise ValueError" in info.value.traceback  # MTRAIN_FULL_ERROR=1 prints it
    st = status(tmp_path / "tiny" / loaded.trial_id)
    assert st["state"] == "failed" and st["error"]["type"] == "ValueError"
    assert "Traceback" in st["error"]["traceback"]


def without_times(folder) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time"} for row in rows(folder)]


@pytest.mark.parametrize(("at", "twice", "saved_step"), [(9, False, 9), (9, True, 6)])
def test_ctrl_c_mid_epoch_then_rerun_equals_an_uninterrupted_run_bit_for_bit(tmp_path, at, twice,
                                                                          saved_step):
    """Once: the loop stops after that step and saves it. Twice: it stops at once and the
    last checkpoint (end of epoch 1, step 6) stands. Either way the rerun matches."""
    wrapper = ("wrapper=tests.train.tiny.InterruptingWrapper", "train.log_every=4",
               "train.checkpoint_min_interval_s=0")
    tiny.InterruptingWrapper.interrupt_at, tiny.InterruptingWrapper.twice = None, False
    baseline = run(load(tmp_path / "a", *wrapper))
    tiny.InterruptingWrapper.interrupt_at, tiny.InterruptingWrapper.twice = at, twice
    try:
        with pytest.raises(Interrupted) as info:
            run(load(tmp_path / "b", *wrapper))
    finally:
        tiny.InterruptingWrapper.interrupt_at, tiny.InterruptingWrapper.twice = None, False
    assert info.value.exit_code == 130
    folder = tmp_path / "b" / "tiny" / baseline.trial_id
    st = status(folder)
    assert st["state"] == "interrupted" and st["stop_reason"] == "interrupted"
    assert st["epochs_done"] == 1 and st["global_step"] == saved_step
    resumed = run(load(tmp_path / "b", *wrapper))
    assert not resumed.skipped and resumed.state == "completed"
    assert resumed.final_metrics == baseline.final_metrics and resumed.best == baseline.best
    assert without_times(folder) == without_times(baseline.trial_dir)  # every row, every value
    a = torch.load(folder / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(baseline.trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert status(folder)["attempts"] == 2


# ---- safe reruns ---------------------------------------------------------------------------


def test_completed_is_skipped(tmp_path):
    first = run(load(tmp_path))
    mtime = (first.trial_dir / "metrics.jsonl").stat().st_mtime_ns
    again = run(load(tmp_path))
    assert again.skipped and again.state == "completed"
    assert again.final_metrics == first.final_metrics and again.epochs_done == 3
    assert (first.trial_dir / "metrics.jsonl").stat().st_mtime_ns == mtime
    assert status(first)["attempts"] == 1


def test_more_epochs_extends_a_completed_run_like_one_long_run(tmp_path):
    long = run(load(tmp_path / "long", "train.epochs=5"))
    short = run(load(tmp_path / "ext", "train.epochs=3"))
    extended = run(load(tmp_path / "ext", "train.epochs=5"))
    assert short.trial_id == extended.trial_id == long.trial_id
    assert not extended.skipped and extended.epochs_done == 5
    assert extended.final_metrics == long.final_metrics
    st = status(extended)
    assert st["attempts"] == 2
    assert [c["changes"] for c in st["stateless_changes"]] == [{"train.epochs": [3, 5]}]
    assert len(val_rows(extended.trial_dir)) == 5


def test_an_early_stopped_run_is_not_extended_by_more_epochs(tmp_path):
    overrides = ("train.early_stopping.patience=1", "train.early_stopping.min_delta=100.0")
    first = run(load(tmp_path, "train.epochs=10", *overrides))
    again = run(load(tmp_path, "train.epochs=20", *overrides))
    assert first.stop_reason == "early stop" and again.skipped and again.epochs_done == 2


def test_force_restarts_from_zero_and_keeps_the_old_run_aside(tmp_path):
    first = run(load(tmp_path))
    again = run(load(tmp_path), force=True)
    assert not again.skipped and again.final_metrics == first.final_metrics
    assert status(again)["attempts"] == 1
    assert len(val_rows(again.trial_dir)) == 3  # not appended to the old rows
    aside = list((tmp_path / "tiny" / ".replaced").iterdir())
    assert len(aside) == 1 and (aside[0] / "status.json").exists()


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    every = "train.checkpoint_min_interval_s=0"  # a checkpoint per epoch: a previous one
    baseline = run(load(tmp_path / "a"))
    run(load(tmp_path / "b", "train.epochs=2", every))
    folder = tmp_path / "b" / "tiny" / baseline.trial_id
    last = folder / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a crash mid-copy
    with caplog.at_level(logging.WARNING, logger="model_trainer"):
        resumed = run(load(tmp_path / "b", every))
    assert "last.pt cannot be used" in caplog.text and "last.prev.pt" in caplog.text
    assert resumed.final_metrics == baseline.final_metrics  # epochs 2 and 3 retrained


def test_no_loadable_checkpoint_is_a_clear_error(tmp_path):
    loaded = load(tmp_path, "train.epochs=2")
    run(loaded)
    folder = tmp_path / "tiny" / loaded.trial_id
    for name in ("last.pt", "last.prev.pt"):
        (folder / "checkpoints" / name).write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as info:
        run(load(tmp_path, "train.epochs=3"))
    assert info.value.exit_code == 2 and "--force" in str(info.value)
    assert run(load(tmp_path, "train.epochs=3"), force=True).epochs_done == 3


def test_metrics_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    loaded = load(tmp_path, "train.epochs=2")
    run(loaded)
    folder = tmp_path / "tiny" / loaded.trial_id
    with open(folder / "metrics.jsonl", "a") as handle:  # what a killed run left behind
        handle.write(json.dumps({"step": 99, "epoch": 3, "split": "train", "time": 0,
                                 "metrics": {"loss": 1.0}}) + "\n")
        handle.write('{"step": 100, "epoch": 3, "spl')  # a truncated last line
    run(load(tmp_path, "train.epochs=3"))
    steps = [r["step"] for r in rows(folder)]
    assert 99 not in steps and steps == sorted(steps)
    assert len(val_rows(folder)) == 3


# ---- smoke, user mistakes, api -----------------------------------------------------------


def test_smoke_runs_two_batches_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = run(load(out, "train.epochs=50"), smoke=True)
    assert result.state == "completed" and result.stop_reason == "smoke"
    assert result.epochs_done == 1 and "val_accuracy" in result.final_metrics
    assert not out.exists() and not result.trial_dir.exists()


def test_cuda_requested_without_cuda_is_a_user_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MTrainError) as info:
        run(load(tmp_path, "device=cuda"))
    assert info.value.exit_code == 2 and "CUDA is not available" in str(info.value)


def test_api_run_takes_a_path_or_a_loaded_recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(tiny.RECIPE)
    result = model_trainer.run(path, [f"output_dir={tmp_path}", "train.epochs=1"], threads=1)
    assert isinstance(result, TrialResult) and result.epochs_done == 1
    assert model_trainer.run(load(tmp_path, "train.epochs=1")).skipped


def load_recipe_linear(tmp_path, *overrides):
    return load(tmp_path, *overrides, text=LINEAR)


def test_the_test_split_is_evaluated_at_the_best_checkpoint_not_the_last(tmp_path):
    """Early stopping picks an earlier epoch: the test row must come from its weights."""
    from sklearn.metrics import accuracy_score

    from tests.train.tiny import TinyConfig, TinyNet, tensors

    result = run(load(tmp_path, "data.target=tests.train.tiny.make_loader_with_test",
                      "train.epochs=12", "train.optimizer.lr=0.3", "model.args.dropout=0.0",
                      "train.early_stopping.patience=3"))
    assert result.stop_reason == "early stop" and result.best["epoch"] < result.epochs_done
    st = status(result)
    assert st["test_checkpoint"] == "best" and result.test_checkpoint == "best"
    (test_row,) = rows(result, "test")
    assert test_row["checkpoint"] == "best"
    x, y = tensors(96, seed=789)

    def accuracy_of(name):
        model = TinyNet(TinyConfig(hidden=8, dropout=0.0, num_classes=3))
        state = torch.load(result.trial_dir / "checkpoints" / name, weights_only=True)
        model.load_state_dict(state["model"])
        model.eval()
        with torch.no_grad():
            return accuracy_score(y, model(x)[0].argmax(-1))

    assert test_row["metrics"]["accuracy"] == pytest.approx(accuracy_of("best.pt"))
    assert accuracy_of("best.pt") != accuracy_of("last.pt")  # the test can tell them apart
    assert "test at the best checkpoint" in result.summary()


def test_mtrain_eval_reevaluates_a_trial_and_a_study_from_their_checkpoints(tmp_path):
    from typer.testing import CliRunner

    from model_trainer.cli.app import app

    result = run(load(tmp_path, "data.target=tests.train.tiny.make_loader_with_test",
                      "train.epochs=3", "train.early_stopping.patience=1"))
    (tested,) = rows(result, "test")
    cli = CliRunner()
    out = cli.invoke(app, ["eval", str(result.trial_dir)])
    assert out.exit_code == 0, out.output
    again = rows(result, "test")[-1]
    assert again["source"] == "eval" and again["checkpoint"] == "best"
    assert again["metrics"] == pytest.approx(tested["metrics"])  # the same weights, same data
    out = cli.invoke(app, ["eval", str(result.trial_dir.parent), "--ckpt", "last",
                           "--split", "val"])
    assert out.exit_code == 0, out.output
    last_val = rows(result, "val")[-1]
    assert last_val["checkpoint"] == "last" and last_val["epoch"] == result.epochs_done
    assert last_val["metrics"] == pytest.approx(rows(result, "val")[-2]["metrics"])
    out = cli.invoke(app, ["eval", str(tmp_path / "nothing")])
    assert out.exit_code == 2 and "neither a trial folder nor a study" in out.output


def macro_f1(recipe):
    """A torchmetrics Metric as a train metric (its state lives in the metric object)."""
    import torchmetrics

    return torchmetrics.classification.MulticlassF1Score(num_classes=3, average="macro")


def test_ctrl_c_mid_epoch_keeps_a_torchmetrics_train_metric_exact(tmp_path):
    wrapper = ("wrapper=tests.train.tiny.InterruptingWrapper", "train.log_every=4",
               "train.metrics=[accuracy, tests.test_experiment.macro_f1]")
    tiny.InterruptingWrapper.interrupt_at, tiny.InterruptingWrapper.twice = None, False
    baseline = run(load(tmp_path / "a", *wrapper))
    tiny.InterruptingWrapper.interrupt_at = 9  # in epoch 2, after 2 of its 6 steps
    try:
        with pytest.raises(Interrupted):
            run(load(tmp_path / "b", *wrapper))
    finally:
        tiny.InterruptingWrapper.interrupt_at = None
    resumed = run(load(tmp_path / "b", *wrapper))
    folder = tmp_path / "b" / "tiny" / baseline.trial_id
    f1 = [r["metrics"]["macro_f1"] for r in rows(folder, "train") if "macro_f1" in r["metrics"]]
    assert f1 == [r["metrics"]["macro_f1"] for r in rows(baseline.trial_dir, "train")
                  if "macro_f1" in r["metrics"]]
    assert len(f1) == 3 and resumed.final_metrics == baseline.final_metrics


def test_the_summary_shows_the_best_epochs_val_beside_its_test(tmp_path):
    result = run(load(tmp_path, "data.target=tests.train.tiny.make_loader_with_test",
                      "train.epochs=6", "train.optimizer.lr=0.5",
                      "train.monitor={metric: val_accuracy, mode: max}"))
    best = result.best["epoch"]
    assert best != 6 and result.test_checkpoint == "best", "the last epoch was the best"
    val = {r["epoch"]: r["metrics"] for r in rows(result.trial_dir, "val")}
    test = rows(result.trial_dir, "test")[-1]["metrics"]
    line = result.summary().splitlines()[0]
    at_best = " ".join(f"val_{k}={v:.4g}" for k, v in val[best].items())
    with_test = " ".join(f"test_{k}={v:.4g}" for k, v in test.items())
    assert f"best epoch {best}: {at_best} {with_test}" in line
    assert "last epoch 6: " + " ".join(f"val_{k}={v:.4g}" for k, v in val[6].items()) in line


def test_run_refuses_unknown_or_misplaced_keywords_and_takes_a_mapping(tmp_path):
    import yaml

    from model_trainer.errors import RecipeError, UsageError
    from tests.study.tinytask import RECIPE as STUDY

    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(out=tmp_path / "runs"))
    with pytest.raises(TypeError, match="progres"):
        model_trainer.run(study, progres="off")
    with pytest.raises(UsageError, match="trial_dir applies to one experiment"):
        model_trainer.run(study, trial_dir=tmp_path / "x")
    assert not (tmp_path / "runs").exists()
    recipe = yaml.safe_load(tiny.RECIPE)
    recipe["output_dir"] = str(tmp_path / "dict")
    result = model_trainer.run(recipe, ["train.epochs=1"], threads=1)
    assert result.state == "completed" and result.trial_id == load(
        tmp_path / "dict", "train.epochs=1").trial_id  # the same experiment as the file
    recipe["train"]["optimizer"]["lr"] = "fast"
    with pytest.raises(RecipeError, match=r"<recipe mapping>:\d+: train.optimizer.lr: expected"):
        model_trainer.run(recipe)
