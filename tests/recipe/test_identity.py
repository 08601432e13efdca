"""Trial ids depend on stateful attributes only, and on nothing about the YAML's layout."""

from __future__ import annotations

import re

import pytest

from model_trainer.recipe import load_recipe_text

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
