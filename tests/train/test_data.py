"""Batch conventions: device copies, calling the model, targets, sizes."""

from __future__ import annotations

import pytest
import torch

from model_trainer.errors import BatchError
from model_trainer.train.data import (
    batch_size,
    batch_targets,
    call_model,
    check_batch_keys,
    to_device,
)


class Model(torch.nn.Module):
    def forward(self, x, labels=None):
        return x * 2, None if labels is None else labels.sum()


def test_dict_tuple_and_tensor_batches():
    x, y = torch.ones(3, 2), torch.tensor([0, 1, 1])
    assert batch_targets({"x": x, "labels": y}) is y and batch_targets((x, y)) is y
    assert batch_targets(x) is None
    assert batch_size({"x": x}) == 3 and batch_size((x, y)) == 3 and batch_size(x) == 3
    out, loss = call_model(Model(), {"x": x, "labels": y})
    assert torch.equal(out, x * 2) and loss == 2
    out, loss = call_model(Model(), (x, y))  # positionally: forward(x, y)
    assert loss == 2
    moved = to_device({"x": x, "meta": "keep", "pair": (x, y)}, torch.device("cpu"))
    assert moved["meta"] == "keep" and isinstance(moved["pair"], tuple)


def test_key_check_names_both_sets():
    check_batch_keys(Model(), {"x": 1, "labels": 2})
    check_batch_keys(Model(), {"x": 1})  # labels has a default
    with pytest.raises(BatchError, match=r"\(inputs\).*\(x, labels\).*'x'"):
        check_batch_keys(Model(), {"inputs": 1})
