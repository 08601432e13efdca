"""Recipes mean what OmegaConf says: each case is written as a recipe (its values under
the untyped `data.args`) and as plain OmegaConf, and the two must agree. The table runs
against the installed OmegaConf, so an upgrade that changes a semantic fails here, not in
a user's experiment. Cases follow OmegaConf's own interpolation and merge tests; the
deliberate deviations are at the end (and in docs/recipes.md, "Where recipes differ")."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe, load_recipe_text
from model_trainer.recipe.yaml_source import parse_yaml_text

HEAD = """\
model:
  target: tests.recipe.userconf.plain_model
  args: {hidden: 8}
train:
  epochs: 1
  batch_size: 4
  optimizer: {name: sgd, lr: 0.1}
"""

# (case, YAML of data.args) -> resolved by OmegaConf and by the recipe
RESOLVE = {
    "text of two ints stays text": "{version: '${.major}.${.minor}', major: 1, minor: 10}",
    "text with a colon": "{name: t, seed: 0, s: '${.name}: seed ${.seed}'}",
    "text starting with #": "{seed: 0, s: '#${.seed}'}",
    "text like a number": "{n: 10, s: '${.n}e3'}",
    "text with leading zero": "{n: 10, s: '0${.n}'}",
    "text like a list": "{n: 10, s: '[${.n}]'}",
    "text like a mapping": "{n: 10, s: '{a: ${.n}}'}",
    "text of floats": "{x: 1.5, y: 2, s: '${.x}${.y}'}",
    "quotes kept": """{n: 10, s: "'${.n}'"}""",
    "whole reference keeps int": "{n: 10, v: '${.n}'}",
    "whole reference keeps float": "{n: 1.5e-3, v: '${.n}'}",
    "whole reference keeps bool": "{n: true, v: '${.n}'}",
    "whole reference keeps null": "{n: null, v: '${.n}'}",
    "whole reference keeps text": "{n: '007', v: '${.n}'}",
    "reference to a list": "{n: [1, 2], v: '${.n}'}",
    "reference to a mapping": "{n: {a: 1, b: [2]}, v: '${.n}'}",
    "reference into a list": "{l: [1, 2, 3], v: '${.l[1]}', w: '${.l.2}'}",
    "key made by interpolation": "{k: b, a: {b: 5}, v: '${.a.${.k}}'}",
    "two levels up": "{n: 3, inner: {deep: {v: '${...n}'}}}",
    "list items": "{n: 3, l: ['${..n}', 2, 'x${..n}']}",
    "a chain of references": "{a: 1, b: '${.a}', c: '${.b}', d: 'x${.c}'}",
    "reference to a reference to a mapping": "{n: {a: 1}, i: '${.n}', j: '${.i.a}'}",
    "escaped interpolation": r"{n: 1, s: '\${.n}'}",
    "escaped backslash then interpolation": r"{n: 1, s: '\\${.n}'}",
    "backslash elsewhere": r"{s: 'a\b\\c'}",
    "absolute reference": "{v: '${train.batch_size}', w: 'bs=${train.batch_size}'}",
    "oc.select keeps text": "{s: '007', v: '${oc.select:.s}'}",
    "oc.select default": "{v: '${oc.select:.nope,fallback}'}",
    "oc.select default number": "{v: '${oc.select:.nope,5}'}",
    "oc.decode makes an int": "{s: '10', v: '${oc.decode:${.s}}'}",
    "oc.decode makes a list": "{s: '[1, 2]', v: '${oc.decode:${.s}}'}",
    "oc.decode of null": "{v: '${oc.decode:null}'}",
    "oc.create": "{v: '${oc.create:{a: 1}}'}",
    "oc.dict.keys": "{d: {a: 1, b: 2}, v: '${oc.dict.keys:.d}'}",
    "oc.dict.values": "{d: {a: 1, b: 2}, v: '${oc.dict.values:.d}'}",
    "resolver inside text": "{v: \"x-${oc.decode:'7'}\"}",
}

ENVIRONMENT = {  # case -> (YAML of data.args, variables)
    "env text like scientific zero": ("{sha: '${oc.env:SHA}'}", {"SHA": "0e12345"}),
    "env booleans stay text": ("{v: '${oc.env:V}'}", {"V": "false"}),
    "env ints stay text": ("{v: '${oc.env:V}'}", {"V": "10"}),
    "env floats stay text": ("{v: '${oc.env:V}'}", {"V": "1.5"}),
    "env null stays text": ("{v: '${oc.env:V}'}", {"V": "null"}),
    "env leading zero stays text": ("{v: '${oc.env:V}'}", {"V": "007"}),
    "env default is text": ("{v: '${oc.env:MTRAIN_UNSET_X,5}'}", {}),
    "env default null": ("{v: '${oc.env:MTRAIN_UNSET_X,null}'}", {}),
    "env decoded": ("{v: '${oc.decode:${oc.env:V}}'}", {"V": "10"}),
    "env in text": ("{v: 'run-${oc.env:V}'}", {"V": "7"}),
}

# (case, YAML of data.args in the base, in the child) -> OmegaConf.merge and `extends`
MERGE = {
    "mappings merge key by key": ("{a: 1, b: {c: 2, d: 3}}", "{b: {c: 20}, e: 5}"),
    "a list replaces a list": ("{l: [1, 2, 3]}", "{l: [4]}"),
    "??? keeps the value": ("{a: 1}", "{a: '???'}"),
    "??? fills nothing": ("{}", "{a: 1}"),
    "null replaces a mapping": ("{a: {b: 1}}", "{a: null}"),
    "a mapping replaces null": ("{a: null}", "{a: {b: 1}}"),
    "a scalar replaces a mapping": ("{a: {b: 1}}", "{a: 5}"),
    "a mapping replaces a scalar": ("{a: 5}", "{a: {b: 1}}"),
    "a reference sees the final value": ("{a: 1, b: '${.a}'}", "{a: 2}"),
    "an interpolation replaces a value": ("{a: 1, n: 7}", "{a: '${.n}'}"),
    "merge into a reference to a mapping": ("{n: {a: 1}, i: '${.n}'}", "{i: {b: 20}}"),
    "an interpolation replaces a mapping": ("{n: 3, a: {b: 1}}", "{a: 'x${.n}'}"),
    "escaped text survives the merge": (r"{s: '\${x}'}", "{t: 1}"),
}


def data_args(args: str) -> str:
    return HEAD + f"data:\n  target: tests.recipe.userconf.make_loader\n  args: {args}\n"


def plain_omegaconf(*texts: str) -> dict:
    """What OmegaConf makes of the same data (read by the recipe's YAML reader, so that
    only OmegaConf's semantics are compared)."""
    configs = [OmegaConf.create(parse_yaml_text(t, "<case>").data) for t in texts]
    merged = OmegaConf.merge(*configs)
    return OmegaConf.to_container(merged, resolve=True)["data"]["args"]


def recipe_args(text: str) -> dict:
    return load_recipe_text(text, name="r.yaml").recipe.data.args


@pytest.mark.parametrize("case", sorted(RESOLVE))
def test_resolution_is_omegaconfs(case):
    text = data_args(RESOLVE[case])
    expected = plain_omegaconf(text)
    got = recipe_args(text)
    assert got == expected and _types(got) == _types(expected)


@pytest.mark.parametrize("case", sorted(ENVIRONMENT))
def test_environment_values_are_omegaconfs(case, monkeypatch):
    args, variables = ENVIRONMENT[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MTRAIN_UNSET_X", raising=False)
    text = data_args(args)
    expected = plain_omegaconf(text)
    got = recipe_args(text)
    assert got == expected and _types(got) == _types(expected)


def test_two_commits_are_two_experiments(monkeypatch):
    """The trial id of the same recipe with SHA=0e12345 and SHA=0e99999 (both read as
    0.0 when text was re-read as YAML)."""
    text = data_args("{sha: '${oc.env:SHA}'}")
    ids = set()
    for sha in ("0e12345", "0e99999"):
        monkeypatch.setenv("SHA", sha)
        ids.add(load_recipe_text(text, name="r.yaml").trial_id)
    assert len(ids) == 2


@pytest.mark.parametrize("case", sorted(MERGE))
def test_merging_is_omegaconfs(case, tmp_path):
    base, child = MERGE[case]
    (tmp_path / "base.yaml").write_text(data_args(base))
    (tmp_path / "child.yaml").write_text(f"extends: base.yaml\ndata:\n  args: {child}\n")
    expected = plain_omegaconf(data_args(base), f"data:\n  args: {child}\n")
    got = load_recipe(tmp_path / "child.yaml").recipe.data.args
    assert got == expected and _types(got) == _types(expected)


@pytest.mark.parametrize("case", sorted(MERGE))
def test_an_override_merges_as_a_file_does(case):
    """`data.args=<child>` on the command line gives what the child file gives."""
    base, child = MERGE[case]
    expected = plain_omegaconf(data_args(base), f"data:\n  args: {child}\n")
    got = load_recipe_text(data_args(base), [f"data.args={child}"], name="r.yaml")
    assert got.recipe.data.args == expected


def test_an_override_merges_into_a_reference_to_a_mapping():
    text = data_args("{n: {a: 1}, i: '${.n}'}")
    got = load_recipe_text(text, ["data.args.i.b=20"], name="r.yaml").recipe.data.args
    assert got["i"] == {"a": 1, "b": 20}


# Deliberate deviations, each one also documented (docs/recipes.md, "Where recipes differ")

def test_deviation_a_list_meeting_a_mapping_replaces_it(tmp_path):
    """OmegaConf refuses to merge a list into a mapping; a recipe replaces it."""
    with pytest.raises(Exception, match="Cannot merge"):
        plain_omegaconf(data_args("{a: {b: 1}}"), "data:\n  args: {a: [1]}\n")
    (tmp_path / "base.yaml").write_text(data_args("{a: {b: 1}}"))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ndata:\n  args: {a: [1]}\n")
    assert load_recipe(tmp_path / "child.yaml").recipe.data.args == {"a": [1]}


def test_deviation_yaml_1_2_scalars():
    """OmegaConf reads YAML 1.1 (`yes` and `on` are true); a recipe reads YAML 1.2."""
    args = recipe_args(data_args("{a: yes, b: on, c: 017}"))
    assert args == {"a": "yes", "b": "on", "c": 17}
    assert OmegaConf.to_container(OmegaConf.create("{a: yes, b: on}")) == {"a": True, "b": True}


def test_deviation_text_into_an_int_field_is_refused():
    """OmegaConf converts '10' into an int field; a recipe refuses the lossy reading."""
    with pytest.raises(RecipeError, match="expected int"):
        load_recipe_text(HEAD.replace("epochs: 1", "epochs: '10'"), name="r.yaml")


def test_deviation_yaml_merge_keys_are_refused():
    with pytest.raises(RecipeError, match="merge keys"):
        load_recipe_text(data_args("{<<: {a: 1}}"), name="r.yaml")


def _types(value):
    """The value's shape with each leaf's type: 1 and 1.0 and '1' differ."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__
