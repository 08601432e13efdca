"""Readable, hashable labels for mapping- and list-valued attribute values."""

from __future__ import annotations

from model_trainer import dotted
from model_trainer.analysis.labels import label, unflatten


def test_a_mapping_reads_by_its_name_then_its_other_keys_sorted():
    assert label({"name": "sgd", "momentum": 0.9, "lr": 0.1}) == "sgd (lr=0.1, momentum=0.9)"
    assert label({"lr": 0.001, "name": "adamw"}) == label({"name": "adamw", "lr": 1.0e-3})
    assert label({"target": "my.Net", "args": {"depth": 2, "skip": True}}) == "my.Net (args.depth=2, args.skip=true)"
    assert label({"warmup": 5}) == "warmup=5" and label({}) == "{}"


def test_a_list_reads_as_the_recipe_flattener_writes_it():
    recipe = {"model": {"args": {"layers": [64, 64], "acts": ["relu", "gelu"]}}}
    flat = dotted.flatten(recipe)
    assert label([64, 64]) == flat["model.args.layers"] == "[64, 64]"
    assert label(["relu", "gelu"]) == flat["model.args.acts"]


def test_scalars_stay_themselves():
    assert label(128) == 128 and label(True) is True and label("x") == "x" and label(None) is None


def test_unflatten_and_the_choice_that_keeps_it():
    flat = dotted.flatten({"train": {"optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0}}})
    base = unflatten(flat, "train.optimizer")
    assert base == {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0}
    assert dotted.matches({"name": "adamw", "lr": 0.001}, base)  # this choice gives the base back
    assert not dotted.matches({"name": "sgd", "lr": 0.1}, base)
    assert unflatten(flat, "train.scheduler") is None
