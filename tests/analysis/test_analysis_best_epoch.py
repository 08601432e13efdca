"""Each trial's best epoch by its monitor, and every metric at that epoch, against a hand
computation on a synthetic trial whose accuracy peaks where its loss does not."""

from __future__ import annotations

import json
import math

from model_trainer.analysis import analyze, load
from tests.analysis.analysis_synth import base_recipe, quiet_console, status, trial_id, write_trial

# epoch: (val_loss, val_accuracy, train_loss); val_loss is best at epoch 2, val_accuracy
# peaks at epoch 4 (0.86), where the loss is far from best.
EPOCHS = {1: (0.90, 0.50, 1.10), 2: (0.40, 0.70, 0.60), 3: (0.55, 0.74, 0.45), 4: (0.80, 0.86, 0.30)}


def _rows(test_best: bool = True) -> list[str]:
    lines = []
    for epoch, (loss, acc, train_loss) in EPOCHS.items():
        step = 10 * epoch
        for half in (step - 5, step):  # two train log lines per epoch; the later one counts
            lines.append(json.dumps({"step": half, "epoch": epoch, "split": "train", "time": 1.0,
                                     "metrics": {"loss": train_loss + (0.05 if half < step else 0)}}))
        lines.append(json.dumps({"step": step, "epoch": epoch, "split": "val", "time": 2.0,
                                 "metrics": {"loss": loss, "accuracy": acc}, "unknown_field": [1]}))
    lines.append(json.dumps({"step": 40, "epoch": 4, "split": "test", "time": 3.0,
                             "metrics": {"accuracy": 0.83}}))  # the last model
    if test_best:
        lines.append(json.dumps({"step": 40, "epoch": 4, "split": "test", "time": 4.0,
                                 "metrics": {"accuracy": 0.69}, "checkpoint": "best"}))
    return lines


def _write(root, name="t", monitor=("val_loss", "min"), min_delta=0.0, test_best=True):
    recipe = base_recipe()
    recipe["train"]["monitor"] = {"metric": monitor[0], "mode": monitor[1]}
    recipe["train"]["early_stopping"] = {"patience": None, "min_delta": min_delta}
    tid = trial_id(name, monitor, min_delta)
    write_trial(root / "s" / tid, recipe, status(tid, "completed", 0.4, None, None), _rows(test_best))
    return tid


def test_best_epoch_row_by_the_monitor(tmp_path):
    _write(tmp_path)
    row = load(tmp_path).trials.iloc[0]
    assert row["best_epoch"] == 2
    assert row["at_best_val_loss"] == 0.40
    assert row["at_best_val_accuracy"] == 0.70  # not 0.86: that epoch's loss was 0.80
    assert row["at_best_train_loss"] == 0.60  # the last train line at or before the best step
    assert row["at_best_test_accuracy"] == 0.69  # the row evaluated at the best checkpoint
    assert row["max_val_accuracy"] == 0.86  # the peak is kept, under its honest name
    assert row["final_test_accuracy"] == 0.69 and "best_val_accuracy" not in row.index


def test_a_max_monitor_picks_its_own_epoch(tmp_path):
    _write(tmp_path, monitor=("val_accuracy", "max"), test_best=False)
    row = load(tmp_path).trials.iloc[0]
    assert row["best_epoch"] == 4
    assert row["at_best_val_loss"] == 0.80 and row["at_best_test_accuracy"] == 0.83


def test_min_delta_follows_the_loops_rule(tmp_path):
    # val_accuracy improves 0.50 -> 0.70 (+0.20), -> 0.74 (+0.04), -> 0.86 (+0.12 over 0.70):
    # with min_delta 0.1 the loop keeps epoch 2, then epoch 4 (0.86 > 0.70 + 0.1).
    _write(tmp_path, monitor=("val_accuracy", "max"), min_delta=0.1)
    assert load(tmp_path).trials.iloc[0]["best_epoch"] == 4
    _write(tmp_path / "b", monitor=("val_accuracy", "max"), min_delta=0.17)
    assert load(tmp_path / "b").trials.iloc[0]["best_epoch"] == 2  # 0.86 - 0.70 = 0.16 < 0.17
    _write(tmp_path / "c", monitor=("val_accuracy", "max"), min_delta=0.4)
    assert load(tmp_path / "c").trials.iloc[0]["best_epoch"] == 1  # nothing beats 0.50 by 0.4


def test_objective_other_than_the_monitor_is_read_at_the_best_epoch(tmp_path):
    _write(tmp_path)
    result = analyze(tmp_path, metric="val_accuracy", plots=False, out=tmp_path / "out",
                     console=quiet_console())
    assert result.trials.iloc[0][result.objective.column] == 0.70
    assert any("at its best epoch by val_loss" in line for line in result.summary)


def test_status_best_is_the_fallback_without_metric_rows(tmp_path):
    tid = trial_id("nometrics", 1)
    st = status(tid, "completed", 0.25, None, None)
    st["best"]["epoch"] = 3
    write_trial(tmp_path / "s" / tid, base_recipe(), st, None)
    row = load(tmp_path).trials.iloc[0]
    assert row["best_epoch"] == 3 and row["at_best_val_loss"] == 0.25
    assert math.isnan(row.get("at_best_val_accuracy", math.nan))


def test_without_a_monitor_the_value_is_the_best_over_epochs(tmp_path):
    tid = _write(tmp_path)
    folder = next((tmp_path / "s").iterdir())
    (folder / "recipe.yaml").unlink()  # no recipe, and a status.json without `best`
    st = json.loads((folder / "status.json").read_text())
    st["best"] = None
    (folder / "status.json").write_text(json.dumps(st))
    result = analyze(tmp_path, metric="val_accuracy", plots=False, out=tmp_path / "out",
                     console=quiet_console())
    row = result.trials.iloc[0]
    assert row["trial_id"] == tid and row[result.objective.column] == 0.86
    assert any("best val_accuracy over its epochs" in line for line in result.summary)
