"""A user's model config dataclass types `model.args` with the same markers."""

from __future__ import annotations

import dataclasses

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import Kind, attribute_kinds, load_recipe_text
from tests.recipe.userconf import Color, InnerConfig, TinyConfig


def test_args_become_the_users_dataclass(base):
    r = load_recipe_text(base, ["model.args.color=blue", "model.args.inner={depth: 5}",
                                "model.args.norm=0.5", "model.args.table={a: 1}"]).recipe
    args = r.model.args
    assert isinstance(args, TinyConfig) and isinstance(args.inner, InnerConfig)
    assert args.color is Color.BLUE and args.inner.depth == 5 and args.norm == 0.5
    assert args.table == {"a": 1} and args.layers == [4, 4]


def test_markers_are_read_from_the_users_config(base):
    kinds = attribute_kinds(load_recipe_text(base).recipe)
    assert kinds["model.args.hidden"] is Kind.STATEFUL
    assert kinds["model.args.log_activations"] is Kind.STATELESS
    assert kinds["model.args.inner.trace"] is Kind.STATELESS
    assert kinds["model.args.num_classes"] is Kind.DERIVED
    assert kinds["train.epochs"] is Kind.STATELESS
    assert kinds["train.monitor.metric"] is Kind.STATELESS  # inherited from the section
    assert kinds["seed"] is Kind.STATEFUL


def test_derived_is_left_missing_until_config_parser(base):
    assert load_recipe_text(base).recipe.model.args.num_classes == "???"


def test_frozen_recipe_cannot_change(base):
    recipe = load_recipe_text(base).recipe
    recipe.model.args.num_classes = 10  # allowed before freezing (config_parser)
    recipe.freeze()
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.train.batch_size = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.model.args.hidden = 3


def test_the_freeze_is_deep_and_the_trial_id_is_computed_once(base):
    """Lists and mappings inside a frozen recipe are read-only too: nothing can move the
    experiment away from the id it runs under."""
    loaded = load_recipe_text(base, ["train.metrics=[accuracy]",
                                     "train.optimizer.args={betas: [0.9, 0.99]}"])
    before = loaded.trial_id
    recipe = loaded.recipe
    recipe.model.args.num_classes = 10
    recipe.freeze()
    for change in (lambda: recipe.train.metrics.append("mse"),
                   lambda: recipe.train.optimizer.args.update(eps=1.0),
                   lambda: recipe.train.optimizer.args["betas"].__setitem__(0, 0.5),
                   lambda: recipe.train.optimizer.args.pop("betas")):
        with pytest.raises(TypeError, match="recipe is frozen"):
            change()
    assert loaded.trial_id == before and recipe.train.optimizer.args["betas"] == [0.9, 0.99]


def test_config_reads_as_attributes_and_items(base):
    recipe = load_recipe_text(base).recipe
    assert recipe["train"]["batch_size"] == recipe.train.batch_size == 4
    assert recipe["model"]["args"]["hidden"] == 8
    with pytest.raises(KeyError):
        recipe["nope"]


def test_model_args_without_config_are_checked_against_the_signature(base):
    text = base.replace("  config: tests.recipe.userconf.TinyConfig\n", "").replace(
        "userconf.TinyModel", "userconf.plain_model").replace("    act: relu\n", "")
    assert load_recipe_text(text).recipe.model.args == {"hidden": 8}
    with pytest.raises(RecipeError) as info:  # an override's mapping merges into the file's
        load_recipe_text(text.replace("    hidden: 8\n", "    depht: 3\n"))
    found = "\n".join(map(str, info.value.issues))
    assert "model.args.depht: plain_model has no parameter 'depht' (did you mean 'depth'?)" in found
    assert "model.args.hidden: missing required argument of plain_model" in found
