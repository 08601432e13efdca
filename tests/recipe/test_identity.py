"""Trial ids depend on stateful attributes only, and on nothing about the YAML's layout:
not key order, not which file of an `extends` chain wrote a value."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from model_trainer.recipe import load_recipe, load_recipe_text, to_plain

REORDERED = """\
train:
  optimizer: {lr: 1.0e-3, name: adamw}
  batch_size: 4
  epochs: 2
data:
  target: tests.recipe.userconf.make_loader
model:
  args: {act: relu, hidden: 8}
  config: tests.recipe.userconf.TinyConfig
  target: tests.recipe.userconf.TinyModel
seed: 0
name: tiny
"""


def tid(text, *overrides):
    return load_recipe_text(text, list(overrides)).trial_id


def test_id_is_readable_prefix_and_long_hash(base):
    assert re.fullmatch(r"tinymodel-[0-9a-f]{12}", tid(base))


def test_key_order_does_not_matter(base):
    assert tid(base) == tid(REORDERED)


def test_int_or_float_spelling_of_a_float_does_not_matter(base):
    assert tid(base, "train.optimizer.lr=1") == tid(base, "train.optimizer.lr=1.0")


def test_defaults_written_out_are_the_same_experiment(base):
    assert tid(base) == tid(base, "train.grad_accum=1", "model.args.hidden=8")


@pytest.mark.parametrize("override", [
    "name=other", "output_dir=elsewhere", "device=cpu", "train.epochs=50",
    "train.log_every=3", "train.progress=off", "train.monitor.mode=max",
    "train.early_stopping.patience=4", "model.args.log_activations=true",
    "model.args.inner.trace=true", "data.num_workers=2",
    "study={concurrency: 4, space: {model.args.hidden: {choice: [1]}}}",
])
def test_stateless_changes_keep_the_id(base, override):
    assert tid(base, override) == tid(base)


@pytest.mark.parametrize("override", [
    "seed=1", "train.optimizer.lr=0.01", "train.batch_size=8", "model.args.hidden=9",
    "model.args.inner.depth=3", "model.args.layers=[4,5]", "model.args.color=blue",
    "train.precision=bf16", "train.grad_clip=1.0", "model.args.table={a: 1}",
    "train.optimizer.name=sgd",
])
def test_stateful_changes_change_the_id(base, override):
    assert tid(base, override) != tid(base)


def test_study_id_changes_with_the_space_but_not_concurrency(base):
    space = "study={space: {model.args.hidden: {choice: [4, 8]}}, concurrency: %d}"
    a = load_recipe_text(base, [space % 1]).study_id
    b = load_recipe_text(base, [space % 3]).study_id
    c = load_recipe_text(base, [space.replace("[4, 8]", "[4, 16]") % 1]).study_id
    assert a == b != c


LEAVES = {  # a flat recipe as (path, value) leaves; lists are leaves (they replace)
    ("name",): "tiny", ("seed",): 3, ("model", "target"): "tests.recipe.userconf.TinyModel",
    ("model", "config"): "tests.recipe.userconf.TinyConfig", ("model", "args", "hidden"): 16,
    ("model", "args", "layers"): [2, 3], ("model", "args", "inner", "depth"): 4,
    ("data", "target"): "tests.recipe.userconf.make_loader", ("train", "batch_size"): 8,
    ("train", "optimizer", "name"): "sgd", ("train", "optimizer", "lr"): 0.1,
    ("train", "optimizer", "momentum"): 0.9, ("train", "metrics"): ["accuracy", "mse"],
}


def nest(pairs) -> dict:
    data: dict = {}
    for path, value in pairs:
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["base", "child", "both", "decoy"]), min_size=len(LEAVES),
                max_size=len(LEAVES)))
def test_any_split_into_base_and_child_is_the_same_experiment(places):
    """Moving values between a base and a child, or overriding a base value, changes
    nothing: identity is computed on the merged, resolved recipe."""
    base, child = [], []
    for (path, value), place in zip(LEAVES.items(), places, strict=True):
        if place in ("base", "both"):
            base.append((path, value))
        if place in ("child", "both", "decoy"):
            child.append((path, value))
        if place == "decoy":  # the base holds another value that the child replaces
            base.append((path, "decoy"))
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "base.yaml").write_text(yaml.safe_dump(nest(base)))
        Path(folder, "child.yaml").write_text(yaml.safe_dump({"extends": "base.yaml",
                                                              **nest(child)}))
        composed = load_recipe(Path(folder, "child.yaml"))
    flat = load_recipe_text(yaml.safe_dump(nest(LEAVES.items())))
    assert composed.trial_id == flat.trial_id
    assert to_plain(composed.recipe) == to_plain(flat.recipe)


def test_an_interpolated_value_is_the_same_experiment_as_the_value_itself(base):
    assert tid(base.replace("hidden: 8", "hidden: ${train.batch_size}")) == \
        tid(base.replace("hidden: 8", "hidden: 4"))


def test_internal_state_never_enters_the_identity():
    """ConfigNode's `_frozen` flag is not an attribute: freezing must not change the id."""
    import json

    from model_trainer.recipe import load_recipe
    from model_trainer.recipe.identity import stateful_view, trial_id

    recipe = load_recipe("recipes/digits_mlp.yaml").recipe
    before = trial_id(recipe)
    assert "_frozen" not in json.dumps(stateful_view(recipe))
    recipe.model.args.num_classes = 10  # Derived: filled, then frozen, as a run does
    recipe.freeze()
    assert trial_id(recipe) == before
