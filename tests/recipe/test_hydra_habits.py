"""What Hydra users type works as they expect, or says what to type instead: mappings
and lists as values, `+KEY` / `++KEY` / `~KEY`, config groups (`model=gru`) and sweeps
over them, `defaults:`, `--cfg job`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe, load_recipe_text
from tests.recipe.samples import BASE

runner = CliRunner()
LOADER = "  target: tests.recipe.userconf.make_loader\n"
PLAIN = "target: tests.recipe.userconf.plain_model\nargs:\n  hidden: 3\n  depth: 1\n"
TINY = ("target: tests.recipe.userconf.TinyModel\nconfig: tests.recipe.userconf.TinyConfig\n"
        "args: {hidden: 5}\n")


def issues(text: str, *overrides: str, multirun: bool = False) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, list(overrides), name="r.yaml", multirun=multirun)
    return [str(i) for i in info.value.issues]


def test_a_mapping_value_sets_a_mapping():
    """(`key={a:1}` once added a key 'a:1' with a null value.)"""
    loaded = load_recipe_text(BASE, ["data.args={a:1,b:[2,'x']}"])
    assert loaded.recipe.data.args == {"a": 1, "b": [2, "x"]}


def test_plus_adds_a_key_and_refuses_one_that_is_there():
    assert load_recipe_text(BASE, ["+data.args.root=/d"]).recipe.data.args == {"root": "/d"}
    text = BASE.replace(LOADER, LOADER + "  args: {root: /a}\n")
    assert issues(text, "+data.args.root=/d") == [
        "override '+data.args.root=/d': data.args.root: is already set at r.yaml:12: write "
        "data.args.root=VALUE to change it (or ++data.args.root=VALUE to set it whether or not "
        "it is there)"]
    assert load_recipe_text(text, ["++data.args.root=/d"]).recipe.data.args == {"root": "/d"}
    assert load_recipe_text(BASE, ["++data.args.root=/d"]).recipe.data.args == {"root": "/d"}


def test_plus_on_a_recipe_setting_says_what_to_write():
    assert issues(BASE, "+train.epochs=3") == [
        "override '+train.epochs=3': train.epochs: train.epochs is a recipe setting, always "
        "there (its default where not written): write train.epochs=VALUE"]
    assert issues(BASE, "+train.deterministic=true") == [
        "override '+train.deterministic=true': train.deterministic: train.deterministic is a "
        "recipe setting, always there (its default where not written): write "
        "train.deterministic=VALUE"]


def test_text_for_a_section_without_a_group_says_how_to_make_one():
    assert issues(BASE, "model=gru") == [
        "override 'model=gru': model: model is a section, not a value: to pick one of several, "
        "make a config group (a folder model/ next to the recipe with gru.yaml in it)"]


def test_tilde_deletes_a_key_a_base_wrote(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE.replace(LOADER, LOADER + "  args: {a: 1, b: 2}\n"))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\n")
    child = tmp_path / "child.yaml"
    assert load_recipe(child, ["~data.args.a"]).recipe.data.args == {"b": 2}
    assert load_recipe(child, ["~data.args.a=1"]).recipe.data.args == {"b": 2}
    assert load_recipe(child, ["~train.optimizer"]).recipe.train.optimizer.name == "adamw"
    with pytest.raises(RecipeError) as info:
        load_recipe(child, ["~data.args.a=5", "~data.args.c"])
    assert [i.message for i in info.value.issues] == [
        "data.args.a is 1, not 5: nothing deleted",
        "nothing to delete: data.args.c is not in the recipe (where a key is not written, "
        "its default stands)"]


def test_a_package_is_refused_with_advice():
    assert issues(BASE, "model@foo=bar") == [
        "override 'model@foo=bar': model: Hydra's packages (KEY@PACKAGE) are not used here: "
        "write the full dotted key"]


@pytest.fixture
def grouped(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "plain.yaml").write_text(PLAIN)
    (tmp_path / "model" / "tiny.yaml").write_text(TINY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(BASE)
    return recipe


def inline(model: str) -> str:
    """BASE with its model section written out as `model` (a group file's text)."""
    start, end = BASE.index("model:\n"), BASE.index("data:\n")
    return BASE[:start] + "model:\n" + "".join(f"  {line}\n" for line in model.splitlines()) \
        + BASE[end:]


def test_a_config_group_option_replaces_its_section(grouped):
    loaded = load_recipe(grouped, ["model=plain"])
    assert loaded.recipe.model.target == "tests.recipe.userconf.plain_model"
    assert loaded.recipe.model.args == {"hidden": 3, "depth": 1}  # nothing merged from BASE
    assert loaded.trial_id == load_recipe_text(inline(PLAIN)).trial_id
    assert loaded.origin("model.args.hidden") == f"{grouped.parent / 'model' / 'plain.yaml'}:3"


def test_an_unknown_option_lists_the_options(grouped):
    with pytest.raises(RecipeError) as info:
        load_recipe(grouped, ["model=gru"])
    assert [str(i) for i in info.value.issues] == [
        "override 'model=gru': model: no model/gru.yaml next to the recipe (options: plain, "
        "tiny)"]


def test_an_error_in_an_option_is_located_in_its_file(grouped):
    (grouped.parent / "model" / "plain.yaml").write_text(PLAIN.replace("depth: 1", "depth: [1"))
    with pytest.raises(RecipeError) as info:
        load_recipe(grouped, ["model=plain"])
    assert str(info.value.issues[0]).startswith(f"{grouped.parent / 'model' / 'plain.yaml'}:5:")


@pytest.mark.parametrize("sweep", ["model=plain,tiny", "model=glob(*)", "model=glob([p*,t*])"])
def test_a_sweep_over_a_group_is_a_study_of_its_options(grouped, sweep):
    loaded = load_recipe(grouped, [sweep], multirun=True)
    assert loaded.recipe.study.space == {"model": {"choice": ["plain", "tiny"]}}
    ids = {loaded.variant({"model": option}).trial_id for option in ("plain", "tiny")}
    assert ids == {load_recipe_text(inline(model)).trial_id for model in (PLAIN, TINY)}


def test_a_study_written_over_a_group_validates(grouped):
    grouped.write_text(BASE + "study:\n  space:\n    model: {choice: [plain, tiny]}\n")
    assert load_recipe(grouped).recipe.study.space == {"model": {"choice": ["plain", "tiny"]}}
    grouped.write_text(BASE + "study:\n  space:\n    model: {choice: [plain, gru]}\n")
    with pytest.raises(RecipeError, match=r"study.space.model.choice.1: no model/gru.yaml"):
        load_recipe(grouped)


def test_a_defaults_list_points_to_extends():
    assert issues(BASE + "defaults:\n  - model: gru\n") == [
        "r.yaml:16: defaults: Hydra's defaults list is not read here: build on other files with "
        "`extends: [base.yaml]` and pick a config group's option with GROUP=OPTION "
        "(docs/recipes.md, \"For Hydra users\")"]


def test_cfg_job_prints_the_resolved_recipe(grouped):
    shown = runner.invoke(app, ["show", str(grouped), "model=plain", "--format", "yaml"])
    for args in (["--cfg", "job"], ["--cfg", "job", "--resolve"]):
        result = runner.invoke(app, ["run", str(grouped), "model=plain", *args])
        assert result.exit_code == 0, result.output
        assert result.output == shown.output
    assert not (grouped.parent / "runs").exists()


def test_an_options_environment_values_travel_with_the_recipe(grouped, monkeypatch):
    """An option file's `${oc.env:...}` is read when the recipe loads, like the recipe's
    own: a study's worker, with another environment, rebuilds the same trial."""
    from model_trainer.recipe.load import rebuild_recipe

    (grouped.parent / "model" / "env.yaml").write_text(
        PLAIN.replace("depth: 1", "depth: ${oc.decode:${oc.env:MTRAIN_TEST_DEPTH}}"))
    monkeypatch.setenv("MTRAIN_TEST_DEPTH", "4")
    loaded = load_recipe(grouped, ["model=env"])
    assert loaded.recipe.model.args["depth"] == 4
    monkeypatch.setenv("MTRAIN_TEST_DEPTH", "9")  # the worker's own environment
    again = rebuild_recipe(loaded.source, loaded.overrides)
    assert again.recipe.model.args["depth"] == 4 and again.trial_id == loaded.trial_id
