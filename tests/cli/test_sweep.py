"""`-m`: sweeps from the command line are the grid study one would write in YAML."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe import load_recipe_text
from model_trainer.recipe.sweep import split_values
from tests.train.tiny import RECIPE

runner = CliRunner()
TRIAL = re.compile(r"trial (\S+)  seed=(\d+) (.*)")


def planned(path, *args) -> set[tuple[str, ...]]:
    result = runner.invoke(app, ["validate", str(path), *args])
    assert result.exit_code == 0, result.output
    return {m.groups() for m in TRIAL.finditer(result.output)}


def test_a_sweep_is_the_same_study_as_written_in_yaml(write, base):
    swept = planned(write(base), "-m", "model.args.hidden=4,8", "train.optimizer.lr=1e-3,3e-4",
                    "seed=0,1", "train.epochs=3")
    study = ("  epochs: 3\nstudy:\n  seeds: [0, 1]\n  space:\n"
             "    model.args.hidden: {choice: [4, 8]}\n"
             "    train.optimizer.lr: {choice: [1.0e-3, 3.0e-4]}\n")
    written = planned(write(base.replace("  epochs: 2\n", "") + study, "study.yaml"))
    assert len(swept) == 8 and swept == written


def test_sweeps_add_to_a_recipe_study(base):
    text = base + "study:\n  seeds: [3]\n  space:\n    model.args.act: {choice: [relu, gelu]}\n"
    loaded = load_recipe_text(text, ["model.args.hidden=4,8"], multirun=True)
    assert loaded.recipe.study.space == {"model.args.act": {"choice": ["relu", "gelu"]},
                                         "model.args.hidden": {"choice": [4, 8]}}
    assert loaded.recipe.study.seeds == [3]


def test_a_search_space_key_can_be_overridden_although_it_has_dots(base):
    text = base + "study:\n  space:\n    model.args.hidden: {int: [1, 4]}\n"
    loaded = load_recipe_text(text, ["study.space.model.args.hidden={choice: [32, 64]}"])
    assert loaded.recipe.study.space == {"model.args.hidden": {"choice": [32, 64]}}


def test_sweep_values_are_parsed_strictly_and_errors_name_the_override(write, base):
    result = runner.invoke(app, ["validate", str(write(base)), "-m", "model.args.hidden=4,big",
                                 "train.deterministic=true,yes"])
    assert result.exit_code == 2
    assert ("override 'model.args.hidden=4,big': study.space.model.args.hidden.choice.1: "
            "expected int, got str 'big'") in result.output
    assert "override 'train.deterministic=true,yes': study.space.train.deterministic: " \
           "train.deterministic is stateless" in result.output


def test_multirun_without_a_sweep_is_a_usage_error(write, base):
    result = runner.invoke(app, ["validate", str(write(base)), "-m", "seed=1"])
    assert result.exit_code == 2
    assert "-m/--multirun sweeps overrides with several values" in result.output


def test_without_multirun_a_comma_is_part_of_the_value(base):
    loaded = load_recipe_text(base, ["train.optimizer.args.note=a,b"])
    assert loaded.recipe.train.optimizer.args == {"note": "a,b"}


@pytest.mark.parametrize(("text", "values"), [
    ("1,2,3", ["1", "2", "3"]),
    ("[1,2],[3]", ["[1,2]", "[3]"]),
    ("{a: 1, b: 2},{a: 3}", ["{a: 1, b: 2}", "{a: 3}"]),
    ("'a,b',c", ["'a,b'", "c"]),
    ("single", ["single"]),
])
def test_values_split_at_top_level_commas_only(text, values):
    assert split_values(text) == values


@pytest.mark.slow
def test_run_sweep_trains_each_trial_once(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    args = ["-m", "model.args.hidden=4,8", "train.epochs=1"]
    ids = {m[0] for m in planned(recipe, *args)}
    result = runner.invoke(app, ["run", str(recipe), *args])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "runs" / "tiny" / "study_index.json").read_text())
    assert {t["trial_id"] for t in index["trials"]} == ids
    assert all(t["state"] == "completed" for t in index["trials"])
