"""Whole-split metrics: equal to a hand count however the split is batched."""

from __future__ import annotations

import pytest
import torch

from model_trainer.train.metrics import Means, SplitMetrics


def custom_median_error(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float((outputs.flatten() - targets).abs().median())


def _batches(outputs, targets, size):
    for start in range(0, len(targets), size):
        yield outputs[start:start + size], targets[start:start + size]


@pytest.mark.parametrize("size", [1, 3, 7, 10])
def test_accuracy_and_top_k_over_the_whole_split(size):
    logits = torch.tensor([[3.0, 1, 0], [0, 2, 1], [0, 1, 2], [1, 0, 3], [2, 1, 0],
                           [0, 3, 1], [1, 2, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    targets = torch.tensor([0, 1, 2, 0, 1, 1, 0, 2, 0, 2])
    metrics = SplitMetrics(["accuracy", "top2_accuracy"])
    for out, tgt in _batches(logits, targets, size):
        metrics.update(out, tgt, None, len(tgt))
    row = metrics.compute()
    # argmax: 0,1,2,2,0,1,1,2,0,1 -> correct at 0,1,2,5,7,8 = 6/10 (a batch mean would differ)
    assert row["accuracy"] == pytest.approx(0.6)
    top2 = [(t in logits[i].topk(2).indices) for i, t in enumerate(targets.tolist())]
    assert row["top2_accuracy"] == pytest.approx(sum(top2) / 10)


def test_loss_is_weighted_by_batch_size():
    metrics = SplitMetrics([])
    metrics.update(None, None, torch.tensor(1.0), 3)
    metrics.update(None, None, torch.tensor(4.0), 1)
    assert metrics.compute() == {"loss": pytest.approx(7 / 4)}


def test_mse_mae_and_a_custom_dotted_metric():
    outputs = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    targets = torch.tensor([1.0, 1.0, 1.0, 1.0, 10.0])
    metrics = SplitMetrics(["mse", "mae", "tests.train.test_metrics.custom_median_error"])
    for out, tgt in _batches(outputs, targets, 2):
        metrics.update(out.unsqueeze(1), tgt, None, len(tgt))  # (N, 1) output, (N,) targets
    row = metrics.compute()
    assert row["mse"] == pytest.approx((0 + 1 + 4 + 9 + 25) / 5)
    assert row["mae"] == pytest.approx((0 + 1 + 2 + 3 + 5) / 5)
    assert row["custom_median_error"] == pytest.approx(2.0)


def test_binary_logits_accuracy():
    metrics = SplitMetrics(["accuracy"])
    metrics.update(torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1, 0, 0, 0]), None, 4)
    assert metrics.compute()["accuracy"] == pytest.approx(0.75)


def test_means_round_trip_state():
    means = Means()
    means.add("loss", torch.tensor(2.0), 2)
    other = Means()
    other.load_state_dict(means.state_dict())
    other.add("loss", torch.tensor(5.0), 1)
    assert other.compute() == {"loss": pytest.approx(3.0)}
