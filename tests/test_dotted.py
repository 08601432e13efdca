"""Dotted keys and the values under them: the helpers every layer shares."""

from __future__ import annotations

import pytest

from model_trainer import dotted


@pytest.mark.parametrize(("choice", "value"), [
    (True, True), (False, False), (None, None), (1, 1.0), (0.001, 1.0e-3), ("adamw", "adamw"),
    ([64, 64], [64, 64]),
    ({"skip": True}, {"hidden": 128, "skip": True}),  # a mapping choice names some keys
    ({"name": "adamw", "lr": 0.001}, {"name": "adamw", "lr": 0.001, "weight_decay": 0.0}),
    ({"args": {"skip": False}}, {"target": "m.Net", "args": {"skip": False, "depth": 2}}),
])
def test_a_choice_that_gives_the_value_back_matches(choice, value):
    assert dotted.matches(choice, value)


@pytest.mark.parametrize(("choice", "value"), [
    (True, False), (True, 1), (1, True), (0, False), (1, "1"), ("x", None),
    ([64], [64, 64]), ({"skip": True}, {"skip": False}), ({"skip": True}, {"hidden": 128}),
    ({"skip": True}, True), ({"name": "sgd", "lr": 0.1}, {"name": "adamw", "lr": 0.1}),
])
def test_a_choice_that_changes_the_value_does_not(choice, value):
    assert not dotted.matches(choice, value)


def test_short_names_are_the_shortest_unshared_endings():
    keys = ["train.optimizer.lr", "model.args.hidden", "model.args.lr", "seed"]
    assert dotted.short_names(keys) == {
        "train.optimizer.lr": "optimizer.lr", "model.args.hidden": "hidden",
        "model.args.lr": "args.lr", "seed": "seed"}
    assert dotted.short_names(["a.b", "b"]) == {"a.b": "a.b", "b": "b"}  # `b` is a key itself
