"""Collecting trial folders: every oddity on disk becomes a sensible row, never a crash."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from model_trainer.analysis import load
from model_trainer.errors import UsageError
from tests.analysis.analysis_synth import (
    DIVERGED,
    FAILED,
    RUNNING,
    base_recipe,
    status,
    trial_id,
    write_trial,
)


def _row(trials, hidden, skip, seed):
    sel = trials[(trials["model.args.hidden"] == hidden) & (trials["model.args.skip"] == skip)
                 & (trials["seed"] == seed) & (trials["group"] == "skip_ablation")]
    assert len(sel) == 1
    return sel.iloc[0]


def test_every_trial_folder_is_one_row(runs_shared):
    loaded = load(runs_shared)
    trials = loaded.trials
    # 18 grid + pending + garbage + 6 lr + 2 loose; status.json under checkpoints/,
    # tensorboard/ or analysis/ is not a trial
    assert len(trials) == 28
    assert "decoy" not in set(trials["trial_id"])
    assert trials["trial_id"].is_unique
    assert sorted(trials["group"].unique()) == ["loose", "lr_study", "skip_ablation"]
    assert dict(trials["state"].value_counts()) == {
        "completed": 24, "running": 1, "failed": 1, "pending": 1, "unknown": 1}
    assert set(trials.loc[trials["group"] == "skip_ablation", "study_id"]) == {"study-skip"}


def test_varied_attributes_are_columns_and_location_keys_are_not(runs_shared):
    loaded = load(runs_shared)
    for key in ("model.args.hidden", "model.args.skip", "train.optimizer.lr", "train.batch_size"):
        assert key in loaded.trials.columns
    for key in ("output_dir", "name", "device", "model.args.num_classes", "train.epochs"):
        assert key not in loaded.trials.columns
    skip_group = loaded.groups["skip_ablation"]
    assert skip_group.varied[:2] == ["model.args.hidden", "model.args.skip"]  # space keys first
    assert skip_group.baselines == {"model.args.hidden": 128, "model.args.skip": True}
    assert skip_group.baseline_source["model.args.hidden"] == "study.yaml"
    loose = loaded.groups["loose"]
    assert sorted(loose.varied) == ["model.args.act", "train.batch_size"] and not loose.is_study


def test_stateless_settings_that_differ_are_not_varied_attributes(tmp_path):
    """Two real trials that differ in width and in how they were run (epochs, logging,
    loader workers): only the width is an attribute of the experiment."""
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load as tiny

    run_experiment(tiny(tmp_path, "model.args.hidden=8", "train.epochs=1"), threads=1)
    run_experiment(tiny(tmp_path, "model.args.hidden=16", "train.epochs=2", "train.log_every=3",
                        "data.num_workers=1", "train.progress=plain"), threads=1)
    loaded = load(tmp_path)
    assert loaded.groups["tiny"].varied == ["model.args.hidden"]
    for key in ("train.epochs", "train.log_every", "data.num_workers", "train.progress"):
        assert key not in loaded.trials.columns


def test_the_study_index_is_read_once_with_its_journal(runs, monkeypatch):
    study = runs / "skip_ablation"
    index = json.loads((study / "study_index.json").read_text())
    changed = {**index["trials"][0], "value": 0.123}
    (study / "study_index.journal").write_text(json.dumps(changed) + "\n")
    opened = []
    real_open = io.open

    def counting(file, *args, **kwargs):
        if Path(file) == study / "study_index.json":
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting)
    loaded = load(runs)
    assert len(opened) == 1
    assert loaded.groups["skip_ablation"].index_trials[changed["trial_id"]]["value"] == 0.123


def test_running_trial_with_truncated_line_keeps_its_complete_rows(runs_shared):
    loaded = load(runs_shared)
    row = _row(loaded.trials, *RUNNING)
    assert row["state"] == "running"
    assert row["bad_metric_lines"] == 1
    assert row["metric_rows"] == 12  # 6 whole lines x 2 metrics
    assert any("unparseable" in w and row["trial_id"] in w for w in loaded.warnings)


def test_nan_and_inf_are_kept_as_final_but_never_best(runs_shared):
    row = _row(load(runs_shared).trials, *DIVERGED)
    assert math.isinf(row["final_val_loss"])
    assert math.isnan(row["final_val_accuracy"])
    assert np.isfinite(row["max_val_accuracy"]) and np.isfinite(row["min_val_loss"])
    assert np.isfinite(row["at_best_val_accuracy"]) and row["best_epoch"] == 2
    assert row["stop_reason"] == "diverged"


def test_failed_trial_keeps_error_and_traceback(runs_shared):
    row = _row(load(runs_shared).trials, *FAILED)
    assert row["state"] == "failed"
    assert row["error"].startswith("RuntimeError: CUDA out of memory")
    assert "Traceback (most recent call last)" in row["traceback"]


def test_garbage_status_and_missing_metrics(runs_shared):
    loaded = load(runs_shared)
    trials = loaded.trials
    garbage = trials[trials["state"] == "unknown"].iloc[0]
    assert garbage["trial_id"].startswith("garbage-")  # folder name stands in for the id
    assert any("not valid JSON" in w and "'unknown'" in w for w in loaded.warnings)
    pending = trials[trials["state"] == "pending"].iloc[0]
    assert pending["metric_rows"] == 0 and math.isnan(pending["at_best_val_accuracy"])


def test_metrics_long_table(runs_shared):
    loaded = load(runs_shared)
    metrics = loaded.metrics
    assert list(metrics.columns) == ["trial_id", "step", "epoch", "split", "metric", "value", "time",
                                     "checkpoint"]
    assert set(metrics["metric"].unique()) == {"train_loss", "train_lr", "val_loss", "val_accuracy"}
    assert set(metrics["split"].unique()) == {"train", "val"}
    assert set(metrics["trial_id"].unique()) <= set(loaded.trials["trial_id"])
    # one completed grid trial: 5 epochs x (train loss+lr, val loss+accuracy)
    tid = loaded.trials.loc[loaded.trials["group"] == "loose", "trial_id"].iloc[0]
    part = metrics[metrics["trial_id"] == tid]
    assert len(part) == 20
    assert part["step"].is_monotonic_increasing  # file order, so "final" is the last line
    assert list(part["metric"].iloc[:4]) == ["train_loss", "train_lr", "val_loss", "val_accuracy"]
    assert metrics["value"].isna().sum() == 1 and np.isinf(metrics["value"]).sum() == 1
    assert int(loaded.trials["metric_rows"].sum()) == len(metrics)


def test_load_unpacks_as_a_pair(runs_shared):
    trials, metrics = load(runs_shared)
    assert len(trials) == 28 and len(metrics) > 0


def test_best_and_final_follow_the_file(tmp_path):
    lines = [json.dumps({"step": i, "epoch": i, "split": "val", "time": 1.0 + i,
                         "metrics": {"loss": loss, "accuracy": acc, "note": "text", "flag": True}})
             for i, (loss, acc) in enumerate([(0.9, 0.5), (0.4, 0.8), (0.6, 0.7)], start=1)]
    lines.insert(1, "")  # a blank line: the careful reader takes this file
    tid = trial_id("one", 1)
    write_trial(tmp_path / "solo" / tid, base_recipe(), status(tid, "completed", 0.4, None, None), lines)
    row = load(tmp_path).trials.iloc[0]
    assert row["min_val_loss"] == 0.4 and row["final_val_loss"] == 0.6
    assert row["max_val_accuracy"] == 0.8 and row["final_val_accuracy"] == 0.7
    assert not any(c.endswith(("val_note", "val_flag")) for c in row.index)
    assert row["group"] == "solo"


def test_a_single_trial_folder_is_a_directory_of_one(runs_shared):
    folder = next(p for p in (runs_shared / "loose").iterdir() if (p / "status.json").is_file())
    loaded = load(folder)
    assert len(loaded.trials) == 1
    assert loaded.trials.iloc[0]["group"] == "loose"  # its parent's name


def test_same_trial_twice_is_kept_twice(tmp_path):
    tid = trial_id("dup", 1)
    for copy in ("a", "b"):
        write_trial(tmp_path / copy / tid, base_recipe(), status(tid, "completed", 0.3, None, None), [])
    loaded = load(tmp_path)
    assert len(loaded.trials) == 2 and loaded.trials["trial_id"].is_unique
    assert any("seen twice" in w for w in loaded.warnings)


def test_load_of_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load(tmp_path / "nope")
