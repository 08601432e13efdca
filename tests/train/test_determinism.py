"""train.deterministic: torch's deterministic algorithms for that trial only, and an op
without a deterministic kernel said in the recipe's words."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import torch

from model_trainer.errors import DeterminismError
from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import TinyWrapper, load


class RecordingWrapper(TinyWrapper):
    """Remembers the determinism settings the training ran with."""

    seen: list[tuple[bool, bool, bool]] = []

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        type(self).seen.append((torch.are_deterministic_algorithms_enabled(),
                                torch.backends.cudnn.deterministic,
                                torch.backends.cudnn.benchmark))
        return super().train_step(batch)


class PutWrapper(TinyWrapper):
    """Uses `Tensor.put_`, which torch cannot run deterministically (on CPU too)."""

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
        return super().train_step(batch)


@pytest.fixture(autouse=True)
def restore_torch(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def test_on_for_its_trial_and_off_again_for_the_next_in_the_same_process(tmp_path):
    RecordingWrapper.seen = []
    wrapper = "wrapper=tests.train.test_determinism.RecordingWrapper"
    result = run_experiment(load(tmp_path, wrapper, "train.deterministic=true",
                                 "train.epochs=1"), threads=1)
    assert set(RecordingWrapper.seen) == {(True, True, False)}
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    record = json.loads((result.trial_dir / "provenance.json").read_text())
    assert record["environment"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # set before it
    RecordingWrapper.seen = []
    run_experiment(load(tmp_path, wrapper, "seed=1", "train.epochs=1"), threads=1)
    assert set(RecordingWrapper.seen) == {(False, False, False)}


def test_an_op_without_a_deterministic_kernel_is_a_recipe_error(tmp_path):
    wrapper = "wrapper=tests.train.test_determinism.PutWrapper"
    with pytest.raises(DeterminismError, match=r"train.deterministic is true, but put_ has no "
                       r"deterministic implementation") as caught:
        run_experiment(load(tmp_path, wrapper, "train.deterministic=true", "train.epochs=1"),
                       threads=1)
    assert caught.value.exit_code == 2
    # without it the same model trains
    run_experiment(load(tmp_path, wrapper, "train.epochs=1"), threads=1)
