"""validate and show on good recipes: what a user reads on success."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app

runner = CliRunner()
RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml"))


def test_validate_prints_the_trial_id_and_a_summary(write, base):
    result = runner.invoke(app, ["validate", str(write(base)), "train.epochs=3"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "3 epochs" in result.output
    assert re.search(r"trial tinymodel-[0-9a-f]{12}", result.output)


def test_validate_lists_every_grid_trial(write, base):
    text = base + "study:\n  seeds: [0, 1]\n  space:\n    model.args.hidden: {choice: [4, 8, 16]}\n"
    result = runner.invoke(app, ["validate", str(write(text))])
    assert result.exit_code == 0, result.output
    assert "3 grid point(s) x 2 seed(s) = 6 trials" in result.output
    ids = re.findall(r"trial (tinymodel-[0-9a-f]{12})", result.output)
    assert len(set(ids)) == 6


def test_validate_prints_warnings_but_passes(write, base):
    result = runner.invoke(app, ["validate", str(write(base)), "train.devices=2"])
    assert result.exit_code == 0
    assert "warning" in result.output and "train.devices" in result.output


def test_show_marks_every_attribute(write, base):
    result = runner.invoke(app, ["show", str(write(base))])
    assert result.exit_code == 0, result.output
    rows = dict(re.findall(r"^(\S+) = .*\((stateful|stateless|derived); ", result.output, re.M))
    assert rows["seed"] == "stateful"
    assert rows["train.epochs"] == "stateless"
    assert rows["model.args.num_classes"] == "derived"
    assert rows["model.args.log_activations"] == "stateless"
    assert "(filled at run time)" in result.output
    assert re.search(r"trial id: tinymodel-[0-9a-f]{12}", result.output)


def test_show_reports_errors_like_validate(write, base):
    result = runner.invoke(app, ["show", str(write(base)), "train.epochs=x"])
    assert result.exit_code == 2
    assert "override 'train.epochs=x': train.epochs: expected int" in result.output


def test_unknown_command_is_a_usage_error():
    result = runner.invoke(app, ["trian"])
    assert result.exit_code == 2


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_every_shipped_recipe_validates(recipe):
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output


def test_the_example_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"digits_mlp", "cifar_resnet", "gan_points", "digits_lightning"} <= names


def test_rows_of_mtrain_eval_never_change_the_training_figures(tmp_path):
    """`mtrain eval` appends its rows (marked "source": "eval"); the trial's final and
    best values in analyze, status and a rerun's summary stay training's."""
    import json

    import pandas as pd

    from tests.files import rows
    from tests.train.tiny import RECIPE

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    args = ["run", str(recipe), "train.epochs=4", "train.optimizer.lr=0.5",
            "train.checkpoint_min_interval_s=0"]
    assert runner.invoke(app, args).exit_code == 0
    trial = next((tmp_path / "runs" / "tiny").iterdir())
    last_val = rows(trial, "val")[-1]["metrics"]
    summary = runner.invoke(app, args).stdout
    best_epoch = json.loads((trial / "status.json").read_text())["best"]["epoch"]
    assert best_epoch != 4, "the best epoch is the last: evaluating it changes nothing"
    evaluated = runner.invoke(app, ["eval", str(trial), "--ckpt", "best", "--split", "val"])
    assert evaluated.exit_code == 0, evaluated.output
    eval_row = rows(trial)[-1]
    assert eval_row["source"] == "eval" and eval_row["metrics"] != last_val
    assert runner.invoke(app, args).stdout == summary  # "already done": the same figures
    status = runner.invoke(app, ["status", str(trial)], env={"COLUMNS": "200"}).output
    assert f"val_loss={last_val['loss']:.4g}" in status
    analyzed = runner.invoke(app, ["analyze", str(tmp_path / "runs"), "--no-plots"])
    assert analyzed.exit_code == 0, analyzed.output
    table = pd.read_csv(tmp_path / "runs" / "analysis" / "trials.csv")
    assert table.loc[0, "final_val_loss"] == pytest.approx(last_val["loss"])
    assert "mtrain eval" in analyzed.output  # said, not mixed in


def test_mtrain_eval_takes_the_trial_lock(tmp_path):
    from model_trainer.locks import FolderLock
    from tests.train.tiny import RECIPE

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    assert runner.invoke(app, ["run", str(recipe), "train.epochs=1"]).exit_code == 0
    trial = next((tmp_path / "runs" / "tiny").iterdir())
    before = (trial / "metrics.jsonl").read_bytes()
    with FolderLock(trial, "trial"):  # as a rerun training it would hold it
        held = runner.invoke(app, ["eval", str(trial), "--ckpt", "last", "--split", "val"])
    assert held.exit_code == 2 and "is in use" in held.output, held.output
    assert (trial / "metrics.jsonl").read_bytes() == before
    free = runner.invoke(app, ["eval", str(trial), "--ckpt", "last", "--split", "val"])
    assert free.exit_code == 0, free.output
