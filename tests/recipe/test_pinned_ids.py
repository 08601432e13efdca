"""The documented recipes keep their identities: a change to how recipes are read (the
merge, the interpolation, the override grammar) must not move a trial or study id by
accident. An id that must change says why in the commit that updates it here."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.recipe import load_recipe

ROOT = Path(__file__).parents[2]

PINNED = {  # recipe -> (trial id, study id or None)
    "recipes/cifar_resnet.yaml": ("resnet-90eaf6873f49", None),
    "recipes/cifar_study.yaml": ("resnet-75a45ca00065", "study-17719dba0463"),
    "recipes/digits_ddp.yaml": ("mlp-5dba941e7264", None),
    "recipes/digits_lightning.yaml": ("mlp-03f1e05387a9", None),
    "recipes/digits_mlp.yaml": ("mlp-cafa3eeea055", None),
    "recipes/digits_study.yaml": ("mlp-0ffe1aaf9ba6", "study-cff5899d5a1c"),
    "recipes/gan_points.yaml": ("gan-111bcbcbe98a", None),
    "recipes/digits_hypothesis.yaml": ("mlp-3be72612912f", "study-dc4359936379"),
    "docs/walk/recipe.yaml": ("net-e7e3e0d0e01f", None),
    "docs/walk/study.yaml": ("net-e7e3e0d0e01f", "study-a862ae28bd4c"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_each_documented_recipe_keeps_its_ids(name, monkeypatch):
    path = ROOT / name
    monkeypatch.chdir(path.parent)  # the walk's model is a module in its own folder
    monkeypatch.syspath_prepend(str(path.parent))
    loaded = load_recipe(path.name)
    study = loaded.study_id if loaded.recipe.study is not None else None
    assert (loaded.trial_id, study) == PINNED[name]


def test_the_documented_overrides_and_sweep_keep_their_ids():
    recipe = ROOT / "recipes/digits_mlp.yaml"
    sweep = load_recipe(recipe, ["model.args.hidden=32,64", "train.optimizer.lr=1e-3,3e-4",
                                 "seed=0,1"], multirun=True)
    assert sweep.study_id == "study-cbf962c4a52b"
    changed = load_recipe(recipe, ["train.optimizer.lr=3e-4", "model.args.hidden=256",
                                   "train.metrics=[accuracy,top5_accuracy]", "name='5'"])
    assert changed.trial_id == "mlp-19a6e3483143"
