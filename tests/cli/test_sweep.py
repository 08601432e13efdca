"""`-m`: sweeps from the command line are the grid study one would write in YAML."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe_text
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


def test_without_multirun_several_values_are_an_error_that_suggests_m(base):
    with pytest.raises(RecipeError) as info:
        load_recipe_text(base, ["train.batch_size=8,16"], name="r.yaml")
    assert [str(i) for i in info.value.issues] == [
        "override 'train.batch_size=8,16': train.batch_size: several values are a sweep: run "
        "them with -m; to set the text itself, quote it: train.batch_size='8,16'"]
    quoted = load_recipe_text(base, ["train.optimizer.args.note='a,b'", r"data.args.x=c\,d"])
    assert quoted.recipe.train.optimizer.args == {"note": "a,b"}
    assert quoted.recipe.data.args == {"x": "c,d"}


@pytest.mark.parametrize(("sweep", "entry"), [
    ("model.args.hidden=4,8", {"choice": [4, 8]}),
    ("model.args.hidden=choice(4,8)", {"choice": [4, 8]}),
    ("model.args.hidden=range(4,12,4)", {"choice": [4, 8]}),
    ("model.args.layers=[1,2],[3]", {"choice": [[1, 2], [3]]}),
    ("data.args.s='a,b','c'", {"choice": ["a,b", "c"]}),
    ("model.args.norm=interval(0,0.5)", {"uniform": [0.0, 0.5]}),
    ("train.optimizer.lr=tag(log,interval(1e-4,1e-1))", {"loguniform": [1e-4, 0.1]}),
    ("model.args.hidden=tag(int,interval(4,16))", {"int": [4, 16]}),
])
def test_each_hydra_sweep_is_the_space_entry_written_in_yaml(base, sweep, entry):
    key = sweep.partition("=")[0]
    sampler = "random" if "interval" in sweep else "grid"
    extra = f"study:\n  sampler: {sampler}\n  trials: 4\n" if sampler == "random" else ""
    swept = load_recipe_text(base + extra, [sweep], multirun=True)
    assert swept.recipe.study.space == {key: entry}
    written = load_recipe_text(base + (extra or "study:\n") + f"  space:\n    {key}: "
                               f"{json.dumps(entry)}\n")
    assert swept.study_id == written.study_id


def test_a_sweep_over_lists_reaches_the_checks(base):
    """(It was read as no sweep at all: "none was given".)"""
    with pytest.raises(RecipeError, match="train.metrics is stateless"):
        load_recipe_text(base, ["train.metrics=[accuracy],[accuracy,top3_accuracy]"],
                         multirun=True)


def test_seeds_sweep_with_range(base):
    loaded = load_recipe_text(base, ["seed=range(0,3)"], multirun=True)
    assert loaded.recipe.study.seeds == [0, 1, 2]


@pytest.mark.parametrize(("sweep", "problem"), [
    ("model.args.hidden=shuffle(4,8)", "shuffle() changes no trial of a study"),
    ("model.args.hidden=tag(int,log,interval(4,16))", "not drawn on a log scale"),
    ("model.args.hidden=tag(int,interval(4.5,16))", "needs whole numbers"),
    ("model.args.hidden=glob(*)", "glob() picks options of a config group"),
    ("seed=interval(0,3)", "seeds are a list of values"),
])
def test_sweeps_that_mean_nothing_here_say_why(base, sweep, problem):
    with pytest.raises(RecipeError) as info:
        load_recipe_text(base, [sweep], multirun=True)
    assert any(problem in str(i) and f"override '{sweep}'" in str(i)
               for i in info.value.issues), info.value.issues


def test_a_parse_error_is_reported_as_itself_at_the_override(base):
    with pytest.raises(RecipeError) as info:
        load_recipe_text(base, ["train.metrics=[accuracy"], name="r.yaml")
    (issue,) = info.value.issues
    assert str(issue).startswith("override 'train.metrics=[accuracy': train.metrics: cannot "
                                 "parse: ")


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
