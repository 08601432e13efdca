"""A study trial's recipe (`LoadedRecipe.variant`): the recipe loaded with the trial's values
as overrides, made cheaply (a study of 10,000 trials makes 10,000 of them)."""

from __future__ import annotations

import typing

import pytest
from omegaconf import DictConfig

from model_trainer.recipe import load_recipe_text
from model_trainer.yaml_rules import dump_yaml
from tests.recipe.samples import BASE

STUDY = BASE.replace("  epochs: 2\n", "  epochs: 2\n  grad_clip: ${train.optimizer.lr}\n") + """\
  scheduler: {name: step, args: {step_size: '${train.batch_size}'}}
study:
  space:
    model.args.hidden: {choice: [8, 16]}
"""


@pytest.mark.parametrize("params", [
    {"model.args.hidden": 16, "seed": 3},
    {"train.optimizer.lr": 0.5, "seed": 0},  # grad_clip follows it by interpolation
    {"train.batch_size": 8},  # so does the scheduler's step_size
    {"model.args.layers": [2, 2, 2], "model.args.norm": None},  # a list; a key not written
    {"train.optimizer": {"name": "sgd", "momentum": 0.9}},  # a mapping merges key by key
    {"train.scheduler": {"name": "none", "args": {}}},
    {"train.scheduler.args": {"gamma": 0.5}},
    {"model.args.act": "gelu", "train.grad_clip": "${train.optimizer.lr}"},
    {"model.args": {"hidden": 4}, "model.args.act": "gelu"},
])
def test_a_variant_is_the_recipe_loaded_with_those_overrides(params):
    loaded = load_recipe_text(STUDY, name="r.yaml")
    variant = loaded.variant(params)
    overrides = [f"{k}={dump_yaml(v, flow=True)}" for k, v in params.items()]
    direct = load_recipe_text(STUDY, [*overrides, "study=null"], name="r.yaml")
    assert variant.recipe == direct.recipe and variant.trial_id == direct.trial_id
    assert _origins(variant) == _origins(direct)
    assert loaded.recipe.study is not None  # the study's own recipe is left as it was
    assert loaded.recipe.model.args.hidden == 8


def _origins(loaded):
    """Each key's file and line, or `override` (a variant spells its overrides apart)."""
    return {k: ("override" if name.startswith("override") else name, line)
            for k, (name, line) in loaded.merged.origins.items()}


def test_a_variant_does_not_merge_the_recipe_again_nor_reread_its_classes(monkeypatch):
    loaded = load_recipe_text(STUDY, name="r.yaml")
    loaded.variant({"model.args.hidden": 16, "seed": 1})
    calls = []
    merge_with, hints = DictConfig.merge_with, typing.get_type_hints
    monkeypatch.setattr(DictConfig, "merge_with",
                        lambda self, *a, **k: calls.append("merge") or merge_with(self, *a, **k))
    monkeypatch.setattr(typing, "get_type_hints",
                        lambda *a, **k: calls.append("hints") or hints(*a, **k))
    variant = loaded.variant({"model.args.hidden": 16, "seed": 2, "train.optimizer.lr": 0.1})
    assert variant.recipe.seed == 2 and variant.recipe.train.grad_clip == 0.1
    assert calls == []
