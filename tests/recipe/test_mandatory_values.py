"""`???` is OmegaConf's mandatory value: one that nothing fills is an error at validate,
located at the line that wrote it (a study's space may fill it; a Derived field is filled
at run time), and a recipe without a required section says which section."""

from __future__ import annotations

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe_text
from tests.recipe.samples import BASE

LOADER = "  target: tests.recipe.userconf.make_loader\n"


def issues(text: str, *overrides: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, list(overrides), name="r.yaml")
    return [str(i) for i in info.value.issues]


def test_an_unfilled_mandatory_value_in_untyped_args_is_located():
    text = BASE.replace(LOADER, LOADER + "  args:\n    root: ???\n")
    assert issues(text) == ["r.yaml:13: data.args.root: is ??? (a mandatory value that "
                            "nothing filled: set it in the recipe or with KEY=VALUE)"]


def test_an_unfilled_mandatory_value_in_a_typed_field_is_located():
    assert issues(BASE.replace("epochs: 2", "epochs: ???")) == [
        "r.yaml:13: train.epochs: is ??? (a mandatory value that nothing filled: set it in "
        "the recipe or with KEY=VALUE)"]


def test_an_override_or_a_study_space_fills_a_mandatory_value():
    text = BASE.replace(LOADER, LOADER + "  args:\n    root: ???\n")
    assert load_recipe_text(text, ["data.args.root=/data"]).recipe.data.args == {"root": "/data"}
    study = text + "study:\n  space:\n    data.args.root: {choice: [a, b]}\n"
    loaded = load_recipe_text(study)
    assert loaded.variant({"data.args.root": "a"}).recipe.data.args == {"root": "a"}


def test_a_missing_section_is_named():
    assert issues(BASE.replace("data:\n" + LOADER, "")) == [
        "r.yaml: data: missing required section (it needs data.target)"]


def test_a_mandatory_value_in_config_typed_args_is_an_error_and_keeps_its_siblings():
    """args typed by model.config: `???` that nothing fills is reported at its key (the
    config class checks it), never replaced by the class's defaults for every arg."""
    text = BASE.replace("    hidden: 8\n    act: relu\n", "    hidden: ???\n    act: gelu\n")
    assert issues(text) == ["r.yaml:8: model.args.hidden: is ??? (a mandatory value that "
                            "nothing filled: set it in the recipe or with KEY=VALUE)"]
    assert load_recipe_text(text, ["model.args.hidden=16"]).recipe.model.args.act == "gelu"


def test_a_study_fills_a_mandatory_value_and_its_siblings_stay():
    """A study's space fills `???` in untyped args: the other args stay the recipe's, so
    two recipes that differ in them are two studies."""
    def study(root: str) -> str:
        return BASE.replace(LOADER, LOADER + f"  args:\n    root: ???\n    size: {root}\n") + \
            "study:\n  space:\n    data.args.root: {choice: [a, b]}\n"

    small, large = load_recipe_text(study("2")), load_recipe_text(study("5"))
    assert small.recipe.data.args == {"root": "???", "size": 2}
    assert small.variant({"data.args.root": "a"}).recipe.data.args == {"root": "a", "size": 2}
    assert small.study_id != large.study_id
