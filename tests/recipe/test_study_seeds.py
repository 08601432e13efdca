"""Seeds and pruners in the recipe: the baseline grid point adaptive seeds compare
against, the short pruner form, and what `validate` says about both."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe import load_recipe_text
from model_trainer.recipe.schema import PrunerConfig
from model_trainer.recipe.seeds import baseline_number, baseline_values, initial_seeds
from model_trainer.recipe.space import Dimension, parse_dimension

runner = CliRunner()


def load(text, *overrides):
    return load_recipe_text(text, list(overrides), name="r.yaml").recipe


def baseline_of(recipe):
    dims = [parse_dimension(k, v)[0] for k, v in recipe.study.space.items()]
    return baseline_number(recipe, dims)


@pytest.mark.parametrize(("space", "expected"), [
    ("{model.args.hidden: {choice: [16, 8]}}", 1),
    # a float attribute's int choice, and a second dimension: 2 x 2 grid, row-major
    ("{model.args.hidden: {choice: [8, 16]}, train.optimizer.lr: {choice: [1, 0.001]}}", 1),
    ("{model.args.hidden: {int: [4, 12], step: 4}}", 1),
    # a mapping choice keeps the recipe when merged into it: the keys it names match
    ("{train.optimizer: {choice: [{name: sgd, lr: 0.1}, {name: adamw, lr: 0.001}]}}", 1),
])
def test_the_baseline_is_the_grid_point_that_keeps_the_recipe(base, space, expected):
    recipe = load(base, f"study={{space: {space}, seeds: {{min: 2, max: 4, decide: 0.1}}}}")
    assert baseline_of(recipe) == expected
    assert initial_seeds(recipe.study, recipe.seed) == [0, 1]


@pytest.mark.parametrize(("recipe_value", "index"), [
    (501, 250), (501.0, 250), (500, None), (10**9 + 1, None), (500.5, None), (True, None),
    ("5", None)])
def test_the_baseline_of_a_huge_int_range_is_found_without_listing_it(
        base, monkeypatch, recipe_value, index):
    recipe = load(base, "study={space: {model.args.hidden: {choice: [8, 16]}}}")
    dims = [parse_dimension("model.args.hidden", {"choice": [16, 8]})[0],
            parse_dimension("model.args.norm", {"int": [1, 10**9], "step": 2})[0]]
    recipe.model.args.norm = recipe_value
    monkeypatch.setattr(Dimension, "points", _never)
    # the recipe's hidden=8 is value 1 of the first dimension; 1, 3, 5... the second's
    size = 5 * 10**8
    assert baseline_number(recipe, dims) == (None if index is None else 1 * size + index)
    assert baseline_values(recipe, dims).get("model.args.norm") == (
        None if index is None else 1 + 2 * index)


def test_a_grid_too_large_for_adaptive_seeds_is_reported_without_building_it(
        base, monkeypatch):
    from model_trainer.errors import RecipeError

    monkeypatch.setattr(Dimension, "points", _never)
    with pytest.raises(RecipeError) as info:
        load(base, "study={space: {model.args.hidden: {int: [1, 1000000]}}, "
                   "seeds: {min: 2, max: 4, decide: 0.1}}")
    assert [(i.key, i.message) for i in info.value.issues] == [
        ("study.space", "the grid has 1,000,000 points; a grid study may have at most 10,000 "
         "(use sampler random or tpe)")]


def _never(self):
    raise AssertionError(f"{self.key}: the list of {self.size:,} values was built")


def test_a_seed_list_keeps_its_meaning(base):
    recipe = load(base, "seed=7", "study={space: {model.args.hidden: {choice: [8, 16]}}}")
    assert initial_seeds(recipe.study, recipe.seed) == [7]
    recipe = load(base, "study={space: {model.args.hidden: {choice: [8]}}, seeds: [3, 1]}")
    assert initial_seeds(recipe.study, recipe.seed) == [3, 1]


def test_a_bad_seed_in_a_list_is_named_by_its_index(base):
    from model_trainer.errors import RecipeError

    with pytest.raises(RecipeError) as info:
        load(base, "study={seeds: [0, x]}")
    assert [i.key for i in info.value.issues] == ["study.seeds.1"]
    assert "expected int, got str 'x'" in str(info.value)


@pytest.mark.parametrize(("written", "settings"), [
    ("median", {"startup_trials": 4, "warmup_epochs": 1}),
    ("{kind: median, warmup_epochs: 0}", {"startup_trials": 4, "warmup_epochs": 0}),
    ("successive_halving", {"min_epochs": 1, "reduction_factor": 4, "min_early_stopping_rate": 0}),
    ("{kind: hyperband, reduction_factor: 2}", {"min_epochs": 1, "reduction_factor": 2}),
    ("none", {}),
])
def test_pruner_short_and_long_forms_give_the_same_settings(base, written, settings):
    recipe = load(base, f"study={{pruner: {written}}}")
    assert isinstance(recipe.study.pruner, PrunerConfig)
    assert recipe.study.pruner.settings() == settings
    assert load(base, "study={}").study.pruner.kind == "none"


def test_validate_lists_the_first_seeds_and_names_the_baseline(write, base):
    path = write(base + "study:\n  space:\n    model.args.hidden: {choice: [16, 8]}\n"
                 "  seeds: {min: 2, max: 5, decide: 0.1}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert ("2 grid point(s) x 2 seed(s) = 4 trials to start; adaptive seeds add seeds while a "
            "comparison with the baseline (model.args.hidden=8) is undecided, up to 5 per grid "
            "point (10 trials)") in result.output
    assert result.output.count("  trial ") == 4


def test_a_rung_beyond_the_last_epoch_is_a_warning(write, base):
    path = write(base + "study:\n  pruner: {kind: successive_halving, min_epochs: 1}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "study.pruner: its first rung is at epoch 1" not in result.output
    path = write(base + "study:\n  pruner: {kind: hyperband, min_epochs: 2}\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert f"{path}:17: study.pruner: its first rung is at epoch 2, but trials train 2 epochs: " \
           "nothing is pruned" in result.output
