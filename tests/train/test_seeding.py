"""Epoch seeding: epoch k's data order does not depend on what ran before it."""

from __future__ import annotations

import torch

from model_trainer.train.data import make_loader
from model_trainer.train.seeding import seed_epoch
from tests.train.tiny import load


def order(loader) -> list[int]:
    return [int(v) for (batch,) in loader for v in batch]


def test_epoch_order_depends_only_on_seed_and_epoch(tmp_path):
    recipe = load(tmp_path, "train.batch_size=4").recipe
    data = torch.utils.data.TensorDataset(torch.arange(20))
    a, b = make_loader(data, recipe, "train"), make_loader(data, recipe, "train")
    seed_epoch(a, 0, 1)
    first = order(a)
    seed_epoch(a, 0, 2)
    second = order(a)
    torch.rand(100)  # history differs for b
    seed_epoch(b, 0, 2)
    assert order(b) == second and first != second
    assert sorted(first) == list(range(20))
    seed_epoch(b, 1, 2)
    assert order(b) != second  # another seed, another order


def test_validation_loader_keeps_its_order(tmp_path):
    recipe = load(tmp_path, "train.batch_size=4").recipe
    data = torch.utils.data.TensorDataset(torch.arange(10))
    assert order(make_loader(data, recipe, "val")) == list(range(10))
