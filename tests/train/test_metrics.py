"""Whole-split metrics from every output convention, checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    top_k_accuracy_score,
)

from model_trainer.errors import ContractError
from model_trainer.train.metrics import Means, SplitMetrics

N, C = 101, 4
GEN = torch.Generator().manual_seed(7)
LOGITS = torch.randn(N, C, generator=GEN)
TARGETS = torch.randint(0, C, (N,), generator=GEN)
BINARY_TARGETS = torch.randint(0, 2, (N,), generator=GEN)


def custom_median_error(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float((outputs.flatten() - targets).abs().median())


def evaluate(names, outputs, targets, size=10, binary=None) -> dict[str, float]:
    """Feed the split in batches of `size`, as an evaluation does."""
    metrics = SplitMetrics(names, binary_output=binary)
    for start in range(0, len(targets), size):
        metrics.update(outputs[start:start + size], targets[start:start + size], None,
                       len(targets[start:start + size]))
    return metrics.compute()


@pytest.mark.parametrize("size", [1, 7, 101])
@pytest.mark.parametrize("convention", ["logits", "probabilities", "labels"])
def test_multiclass_accuracy_matches_sklearn_for_every_output_convention(convention, size):
    outputs = {"logits": LOGITS, "probabilities": LOGITS.softmax(-1),
               "labels": LOGITS.argmax(-1)}[convention]
    row = evaluate(["accuracy"], outputs, TARGETS, size)
    assert row["accuracy"] == pytest.approx(accuracy_score(TARGETS, LOGITS.argmax(-1)))


@pytest.mark.parametrize("k", [2, 3])
def test_top_k_matches_sklearn(k):
    row = evaluate([f"top{k}_accuracy"], LOGITS, TARGETS)
    expected = top_k_accuracy_score(TARGETS, LOGITS.numpy(), k=k, labels=list(range(C)))
    assert row[f"top{k}_accuracy"] == pytest.approx(expected)


def test_integer_labels_from_a_three_class_model_are_not_read_as_binary_logits():
    """The original Model Trainer README returns `out.argmax(axis=-1)`."""
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    row = evaluate(["accuracy"], labels, torch.tensor([0, 1, 2, 2, 1, 1]))
    assert row["accuracy"] == pytest.approx(5 / 6)


@pytest.mark.parametrize("shape", ["(N,)", "(N, 1)"])
def test_binary_logits_and_probabilities_follow_train_binary_output(shape):
    logits = torch.randn(N, generator=GEN)
    expected = accuracy_score(BINARY_TARGETS, (logits > 0).long())
    for setting, outputs in (("logits", logits), ("probabilities", logits.sigmoid())):
        outputs = outputs.unsqueeze(1) if shape == "(N, 1)" else outputs
        row = evaluate(["accuracy"], outputs, BINARY_TARGETS, binary=setting)
        assert row["accuracy"] == pytest.approx(expected), setting


def test_binary_float_outputs_without_a_setting_are_refused_not_guessed():
    with pytest.raises(ContractError, match="train.binary_output") as info:
        evaluate(["accuracy"], torch.rand(N), BINARY_TARGETS, size=N)
    assert "float32 shaped [101]" in str(info.value)


def test_top_k_of_class_indices_is_refused_with_the_fix():
    with pytest.raises(ContractError, match=r"top2_accuracy.*class scores"):
        evaluate(["top2_accuracy"], LOGITS.argmax(-1), TARGETS)


def test_a_requested_metric_without_targets_is_refused():
    metrics = SplitMetrics(["accuracy"])
    with pytest.raises(ContractError, match="no targets"):
        metrics.update(LOGITS, None, torch.tensor(1.0), N)


def test_outputs_that_do_not_fit_the_targets_are_refused_with_both_shapes():
    with pytest.raises(ContractError, match=r"\[101, 4, 2\].*\[101\]"):
        evaluate(["accuracy"], torch.randn(N, C, 2), TARGETS, size=N)


def test_regression_metrics_match_sklearn():
    outputs, targets = torch.randn(N, 1, generator=GEN), torch.randn(N, generator=GEN)
    row = evaluate(["mse", "mae", "tests.train.test_metrics.custom_median_error"],
                   outputs, targets, size=8)
    assert row["mse"] == pytest.approx(mean_squared_error(targets, outputs.squeeze(1)))
    assert row["mae"] == pytest.approx(mean_absolute_error(targets, outputs.squeeze(1)))
    assert row["custom_median_error"] == pytest.approx(
        float((outputs.flatten() - targets).abs().median()))


def test_a_torchmetrics_metric_named_by_its_factory_or_its_class():
    from sklearn.metrics import f1_score

    row = evaluate(["tests.train.test_metrics.macro_f1"], LOGITS, TARGETS, size=9)
    assert row["macro_f1"] == pytest.approx(
        f1_score(TARGETS, LOGITS.argmax(-1), average="macro"), rel=1e-6)
    outputs, targets = torch.randn(N, generator=GEN), torch.randn(N, generator=GEN)
    row = evaluate(["torchmetrics.MeanSquaredError"], outputs, targets, size=9)
    assert row["MeanSquaredError"] == pytest.approx(mean_squared_error(targets, outputs),
                                                    rel=1e-5)


def test_a_torchmetrics_metric_that_rejects_the_output_is_a_contract_error():
    with pytest.raises(ContractError, match=r"metric 'MeanSquaredError'.*same shape"):
        evaluate(["torchmetrics.MeanSquaredError"], LOGITS, TARGETS)


def macro_f1(recipe):
    """A factory: (recipe) -> a torchmetrics Metric, sized by the recipe's Derived value."""
    from torchmetrics.classification import MulticlassF1Score

    classes = recipe.model.args.num_classes if recipe is not None else C
    return MulticlassF1Score(num_classes=classes, average="macro")


def test_loss_is_weighted_by_batch_size():
    metrics = SplitMetrics([])
    metrics.update(None, None, torch.tensor(1.0), 3)
    metrics.update(None, None, torch.tensor(4.0), 1)
    assert metrics.compute() == {"loss": pytest.approx(7 / 4)}


def test_means_round_trip_state():
    means = Means()
    means.add("loss", torch.tensor(2.0), 2)
    other = Means()
    other.load_state_dict(means.state_dict())
    other.add("loss", torch.tensor(5.0), 1)
    assert other.compute() == {"loss": pytest.approx(3.0)}


def test_builtin_metrics_summed_in_folds_equal_sklearn_over_many_batches_and_a_resume():
    """Per-sample hits and errors wait and are summed FOLD_EVERY batches at a time: over
    more batches than that, and across a checkpoint taken between folds, accuracy and mae
    equal sklearn's over the whole split."""
    from sklearn.metrics import accuracy_score, mean_absolute_error

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(int(n), 5, generator=g), torch.randint(0, 5, (int(n),), generator=g))
               for n in torch.randint(1, 9, (Means.FOLD_EVERY * 2 + 7,), generator=g)]
    metrics = SplitMetrics(["accuracy"])
    for i, (out, y) in enumerate(batches):
        metrics.update(out, y, None, len(y))
        if i == Means.FOLD_EVERY + 3:  # mid-fold: a checkpoint, then a resumed epoch
            resumed = SplitMetrics(["accuracy"])
            resumed.load_state_dict(metrics.state_dict())
            metrics = resumed
    outputs, targets = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert metrics.compute()["accuracy"] == pytest.approx(
        accuracy_score(targets.numpy(), outputs.argmax(1).numpy()), abs=1e-12)
    errors = SplitMetrics(["mae"])
    for out, _ in batches:
        errors.update(out[:, 0], out[:, 1], None, len(out))
    assert errors.compute()["mae"] == pytest.approx(
        mean_absolute_error(outputs[:, 1].numpy(), outputs[:, 0].numpy()), rel=1e-6)


def test_dense_per_sample_values_are_summed_before_many_wait():
    """A segmentation-sized output: its errors are summed as soon as FOLD_SIZE values
    wait, not held for FOLD_EVERY batches; the mean is numpy's."""
    errors = SplitMetrics(["mse"])
    g = torch.Generator().manual_seed(1)
    pairs = [(torch.randn(2, 128, 128, generator=g), torch.randn(2, 128, 128, generator=g))
             for _ in range(3)]
    for out, y in pairs:
        errors.update(out, y, None, len(out))
        assert sum(v.numel() for w in errors.means._waiting.values() for v in w) \
            < Means.FOLD_SIZE
    diff = np.concatenate([(o - y).numpy().ravel() for o, y in pairs])
    assert errors.compute()["mse"] == pytest.approx(float(np.mean(diff.astype(np.float64) ** 2)),
                                                    rel=1e-9)
