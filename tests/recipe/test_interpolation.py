"""`${...}` interpolation: absolute, relative, environment, text; strict types for what
it produces; located errors for what cannot be resolved; bounded work."""

from __future__ import annotations

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe, load_recipe_text
from model_trainer.recipe.load import rebuild_recipe
from tests.recipe.samples import BASE


def load(text, *overrides):
    return load_recipe_text(text, list(overrides), name="r.yaml").recipe


def issues(text, *overrides) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, list(overrides), name="r.yaml")
    return [str(i) for i in info.value.issues]


def with_args(*lines: str) -> str:
    """BASE with extra lines in model.args (the first one at line 10)."""
    return BASE.replace("    act: relu\n", "    act: relu\n" + "".join(f"    {x}\n" for x in lines))


def test_absolute_reference_keeps_the_type_of_its_target():
    r = load(BASE.replace("hidden: 8", "hidden: ${train.batch_size}"))
    assert r.model.args.hidden == 4 and type(r.model.args.hidden) is int


def test_relative_references():
    r = load(with_args("inner:", "  depth: ${..hidden}", "layers: ['${..hidden}', 2]"))
    assert r.model.args.inner.depth == 8
    assert r.model.args.layers == [8, 2]


def test_a_reference_sees_the_final_value_after_overrides():
    r = load(BASE.replace("hidden: 8", "hidden: ${train.batch_size}"), "train.batch_size=16")
    assert r.model.args.hidden == 16


def test_text_around_references_is_a_string():
    assert load(BASE.replace("name: tiny", "name: run-${seed}-${train.batch_size}")).name == \
        "run-0-4"


def test_environment_values_are_typed_by_their_field(monkeypatch):
    monkeypatch.setenv("HIDDEN", "5")
    monkeypatch.setenv("RUN", "123")
    r = load(BASE.replace("hidden: 8", "hidden: ${oc.env:HIDDEN}")
             .replace("name: tiny", "name: ${oc.env:RUN}")
             .replace("lr: 1.0e-3", "lr: '${oc.env:LR,3e-4}'"))
    assert r.model.args.hidden == 5 and type(r.model.args.hidden) is int
    assert r.name == "123"  # a str field keeps the text
    assert r.train.optimizer.lr == pytest.approx(3e-4)


@pytest.mark.parametrize(("value", "expected"), [
    ("yes", "expected bool, got str 'yes'"),
    ("1", "expected bool, got int 1"),
])
def test_environment_booleans_follow_yaml_1_2(monkeypatch, value, expected):
    monkeypatch.setenv("TB", value)
    found = issues(BASE + "  deterministic: ${oc.env:TB}\n")
    assert found == [f"r.yaml:16: train.deterministic: {expected} (from ${{oc.env:TB}}, read "
                     "from the environment)"]


def test_an_environment_value_is_not_coerced(monkeypatch):
    monkeypatch.setenv("HIDDEN", "1.5")
    assert issues(BASE.replace("hidden: 8", "hidden: ${oc.env:HIDDEN}")) == [
        "r.yaml:8: model.args.hidden: expected int, got float 1.5 (from ${oc.env:HIDDEN}, "
        "read from the environment)"]


def test_untyped_args_keep_environment_text_as_omegaconf_does(monkeypatch):
    monkeypatch.setenv("DEPTH", "3")
    text = BASE.replace("  config: tests.recipe.userconf.TinyConfig\n", "").replace(
        "userconf.TinyModel", "userconf.plain_model").replace("    act: relu\n", "")
    text = text.replace("lr: 1.0e-3}", "lr: 1.0e-3, args: {betas: '${oc.env:BETAS,[0.8, 0.9]}'}}")
    r = load(text, "model.args.depth=${oc.env:DEPTH}")
    assert r.model.args == {"hidden": 8, "depth": "3"}
    assert r.train.optimizer.args == {"betas": [0.8, 0.9]}  # a default in OmegaConf's grammar
    r = load(text, "model.args.depth='${oc.decode:${oc.env:DEPTH}}'")  # OmegaConf's typed way
    assert r.model.args == {"hidden": 8, "depth": 3}


def test_a_string_copied_by_reference_stays_a_string():
    # '8' was written as a string: a reference copies it, it does not re-read it as a number
    found = issues(with_args("label: '8'").replace("hidden: 8", "hidden: ${model.args.label}"))
    assert any("model.args.hidden: expected int, got str '8' (from ${model.args.label}, "
               "written at r.yaml:10)" in line for line in found), found


def test_missing_environment_variable_without_default_is_located(monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    assert issues(BASE.replace("hidden: 8", "hidden: ${oc.env:NOPE_NOT_SET}")) == [
        "r.yaml:8: model.args.hidden: cannot resolve ${oc.env:NOPE_NOT_SET}: environment "
        "variable NOPE_NOT_SET is not set (give a default: ${oc.env:NOPE_NOT_SET,VALUE})"]


def test_unknown_reference_is_located_with_the_nearest_key():
    assert issues(BASE.replace("hidden: 8", "hidden: ${train.batch_sise}")) == [
        "r.yaml:8: model.args.hidden: cannot resolve ${train.batch_sise}: no key "
        "'train.batch_sise' in the recipe (did you mean 'train.batch_size'?)"]


def test_an_environment_variable_written_as_a_reference_gets_advice():
    assert issues(BASE.replace("hidden: 8", "hidden: ${HOME}")) == [
        "r.yaml:8: model.args.hidden: cannot resolve ${HOME}: no key 'HOME' in the recipe (an "
        "environment variable? write ${oc.env:HOME}; for the text itself write \\${HOME})"]


def test_a_cycle_is_located_at_every_value_in_it():
    found = issues(BASE.replace("hidden: 8", "hidden: ${train.batch_size}")
                   .replace("batch_size: 4", "batch_size: ${model.args.hidden}"))
    assert sorted(found) == [
        "r.yaml:14: train.batch_size: cannot resolve ${model.args.hidden}: the interpolations "
        "form a cycle",
        "r.yaml:8: model.args.hidden: cannot resolve ${train.batch_size}: the interpolations "
        "form a cycle"]


def test_malformed_interpolation_is_located_with_the_other_errors():
    found = issues(BASE.replace("hidden: 8", "hidden: ${train.").replace("lr: 1.0e-3", "lr: x"))
    assert len(found) == 2
    assert found[0].startswith("r.yaml:8: model.args.hidden: malformed interpolation")
    assert found[1] == "r.yaml:15: train.optimizer.lr: expected float, got str 'x'"


def test_an_error_in_an_interpolated_value_names_both_lines(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE.replace("batch_size: 4", "batch_size: '4'"))
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nmodel:\n  args:\n    hidden: ${train.batch_size}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path / "child.yaml")
    found = [str(i) for i in info.value.issues]
    assert f"{tmp_path / 'child.yaml'}:4: model.args.hidden: expected int, got str '4' (from " \
           f"${{train.batch_size}}, written at {tmp_path / 'base.yaml'}:14)" in found


def test_an_override_may_interpolate_and_its_error_names_the_override():
    assert load(BASE, "model.args.hidden=${train.batch_size}").model.args.hidden == 4
    assert issues(BASE, "model.args.hidden=${nope}") == [
        "override 'model.args.hidden=${nope}': model.args.hidden: cannot resolve ${nope}: "
        "no key 'nope' in the recipe"]


def test_an_escaped_interpolation_is_literal_text():
    r = load(BASE.replace("lr: 1.0e-3}", r"lr: 1.0e-3, args: {note: 'a\${b}'}}"))
    assert r.train.optimizer.args == {"note": "a${b}"}


def test_a_worker_resolves_with_the_environment_the_recipe_was_loaded_with(monkeypatch):
    monkeypatch.setenv("HIDDEN", "16")
    loaded = load_recipe_text(BASE.replace("hidden: 8", "hidden: ${oc.env:HIDDEN}"))
    monkeypatch.setenv("HIDDEN", "32")  # another machine, another environment
    again = rebuild_recipe(loaded.source, loaded.overrides).variant({"seed": 1})
    assert again.recipe.model.args.hidden == 16
    assert again.trial_id == loaded.variant({"seed": 1}).trial_id


def test_study_trials_follow_interpolations_of_the_varied_keys():
    loaded = load_recipe_text(with_args("inner: {depth: '${..hidden}'}"))
    assert loaded.variant({"model.args.hidden": 3}).recipe.model.args.inner.depth == 3


@pytest.mark.timeout(30)  # without the bound this ran for hours
def test_interpolations_that_multiply_are_refused_as_they_grow():
    lines = ["a0: 1234567890"] + [f"a{i}: '" + f"${{.a{i - 1}}}" * 8 + "'" for i in range(1, 12)]
    found = issues(with_args("table: {" + ", ".join(lines) + "}"))
    assert len(found) == 1 and "would produce more than 1000000 characters" in found[0]
    assert found[0].startswith("r.yaml:10: model.args.table.a")


@pytest.mark.timeout(30)
def test_a_long_chain_of_references_is_refused():
    chain = [f"k{i}: '${{.k{i + 1}}}'" for i in range(200)] + ["k200: 1"]
    found = issues(with_args("table: {" + ", ".join(chain) + "}"))
    assert len(found) == 1 and "refer through more than 64 levels" in found[0]
