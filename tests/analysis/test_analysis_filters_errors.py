"""--filter semantics, the objective choice, and the user errors `mtrain analyze` reports."""

from __future__ import annotations

import pytest

from model_trainer.analysis import analyze, load
from model_trainer.analysis.filters import apply_filters, parse_filter
from model_trainer.analysis.objective import resolve_objective
from model_trainer.errors import UsageError
from tests.analysis.analysis_synth import quiet_console


def _kept(loaded, *filters):
    ids = set(apply_filters(loaded, filters))
    return loaded.trials[loaded.trials["trial_id"].isin(ids)]


def test_filter_value_is_yaml_parsed(runs_shared):
    loaded = load(runs_shared)
    kept = _kept(loaded, "model.args.hidden=128")
    assert len(kept) > 0 and set(kept["model.args.hidden"]) == {128}
    assert set(_kept(loaded, "model.args.skip=false")["model.args.skip"]) == {False}
    lr = _kept(loaded, "train.optimizer.lr=1e-3")
    assert set(lr["train.optimizer.lr"]) == {0.001}


@pytest.mark.parametrize(("text", "value"), [
    ("x=017", 17), ("x=0o17", 15), ("x=1e3", 1000.0), ("x=yes", "yes"), ("x=off", "off"),
    ("x=2024-01-01", "2024-01-01"), ("x=1:20", "1:20"), ("x=.inf", float("inf")),
])
def test_filter_values_are_read_by_the_recipe_yaml_rules(text, value):
    """YAML 1.2, as the recipe that wrote the value was read: `017` is seventeen."""
    key, parsed, _ = parse_filter(text)
    assert key == "x" and parsed == value and type(parsed) is type(value)


def test_trial_files_are_read_by_the_recipe_yaml_rules(tmp_path):
    from model_trainer.analysis.readers import read_yaml_mapping

    (tmp_path / "recipe.yaml").write_text("a: 017\nb: yes\nc: 1e3\nd: 2024-01-01\n")
    warnings: list[str] = []
    data = read_yaml_mapping(tmp_path / "recipe.yaml", warnings)
    assert data == {"a": 17, "b": "yes", "c": 1000.0, "d": "2024-01-01"} and not warnings


def test_filter_on_columns_and_repeated_keys(runs_shared):
    loaded = load(runs_shared)
    assert set(_kept(loaded, "state=completed")["state"]) == {"completed"}
    both = _kept(loaded, "state=running", "state=failed")
    assert sorted(both["state"]) == ["failed", "running"]
    combined = _kept(loaded, "state=completed", "group=lr_study", "seed=1")
    assert len(combined) == 3


def test_filter_on_a_recipe_key_that_is_not_varied(runs_shared):
    kept = _kept(load(runs_shared), "model.target=examples.cnn.CNN")
    assert set(kept["group"]) == {"lr_study"}


@pytest.mark.parametrize("text", ["hidden", "=3", "model.args.hidden=[1, 2]"])
def test_malformed_filter(text):
    with pytest.raises(UsageError, match="bad filter"):
        parse_filter(text)


def test_unknown_filter_key_and_empty_result(runs_shared):
    loaded = load(runs_shared)
    with pytest.raises(UsageError, match="no trial has the key 'model.args.hiden'"):
        apply_filters(loaded, ["model.args.hiden=128"])
    with pytest.raises(UsageError, match="no trials match"):
        apply_filters(loaded, ["model.args.hidden=999"])


def test_analyze_empty_dir_says_no_trials(tmp_path):
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(UsageError, match="no trials"):
        analyze(tmp_path / "empty", console=quiet_console())


def test_analyze_missing_dir(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        analyze(tmp_path / "missing", console=quiet_console())


def test_unknown_metric_lists_the_available_ones(runs_shared, tmp_path):
    with pytest.raises(UsageError) as info:
        analyze(runs_shared, metric="val_acc", out=tmp_path, console=quiet_console())
    message = str(info.value)
    assert "'val_acc' not found" in message
    for name in ("val_accuracy", "val_loss", "train_loss"):
        assert name in message
    assert "\n" not in message


def test_bad_filter_mode_and_format_through_analyze(runs_shared, tmp_path):
    with pytest.raises(UsageError, match="bad filter"):
        analyze(runs_shared, filters=["oops"], out=tmp_path, console=quiet_console())
    with pytest.raises(UsageError, match="--mode"):
        analyze(runs_shared, metric="val_loss", mode="up", out=tmp_path, console=quiet_console())
    with pytest.raises(UsageError, match="format"):
        analyze(runs_shared, fmt="pdf", out=tmp_path, console=quiet_console())


def test_objective_defaults():
    available = ["train_loss", "val_accuracy", "val_loss"]
    study = resolve_objective(None, None, [("val_accuracy", "max")], [("val_loss", "min")], available)
    assert (study.metric, study.mode, study.source) == ("val_accuracy", "max", "study_index.json")
    monitor = resolve_objective(None, None, [], [("val_loss", "min")], available)
    assert (monitor.metric, monitor.source) == ("val_loss", "train.monitor")
    default = resolve_objective(None, None, [], [], available)
    assert (default.metric, default.mode, default.source) == ("val_loss", "min", "default")
    asked = resolve_objective("val_accuracy", None, [], [], available)
    assert asked.mode == "max"  # guessed from the name
    assert resolve_objective("train_loss", None, [], [], available).mode == "min"
    with pytest.raises(UsageError, match="pass --metric"):
        resolve_objective(None, None, [("val_f1", "max")], [], available)


def _nan_metrics_trial(root):
    """A trial whose train rows log accuracy only as NaN and whose val rows log an lr."""
    import json

    from tests.analysis.analysis_synth import base_recipe, status, trial_id, write_trial

    lines = [json.dumps({"step": e, "epoch": e, "split": split, "time": 1.0,
                         "metrics": {"loss": 1.0 / e, "accuracy": float("nan") if split == "train" else 0.5 + e / 10,
                                     **({"lr": 0.001} if split == "val" else {})}})
             for e in (1, 2) for split in ("train", "val")]
    tid = trial_id("nan", 1)
    write_trial(root / "s" / tid, base_recipe(), status(tid, "completed", 0.5, None, None), lines)
    return root


@pytest.mark.parametrize(("metric", "why"), [
    ("train_accuracy", "has no values in these trials"),
    ("val_lr", "is a learning-rate trace"),
    ("val_f1", "not found in any trial"),
])
def test_metric_without_values_is_refused_with_exit_2(tmp_path, metric, why):
    from typer.testing import CliRunner

    from model_trainer.cli.app import app

    root = _nan_metrics_trial(tmp_path / "runs")
    result = CliRunner().invoke(app, ["analyze", str(root), "--metric", metric, "--no-plots"])
    assert result.exit_code == 2
    assert f"metric '{metric}' {why}" in result.output
    assert "val_accuracy" in result.output and "train_accuracy," not in result.output
    assert "Traceback" not in result.output


def test_trials_csv_has_no_always_empty_column(tmp_path):
    import pandas as pd

    root = _nan_metrics_trial(tmp_path / "runs")
    result = analyze(root, plots=False, out=tmp_path / "out", console=quiet_console())
    csv = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert not [c for c in csv.columns if csv[c].isna().all()]
    assert "at_best_train_accuracy" not in csv.columns and "error" not in csv.columns
    assert "at_best_val_accuracy" in csv.columns and "best_epoch" in csv.columns
    assert "error" in result.trials.columns  # the in-memory table keeps every column
