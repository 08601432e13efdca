"""One trial id = one training: runs that share an id train identically for the epochs
they share, whatever their stateless values (a property over random stateless changes)."""

from __future__ import annotations

import uuid

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import TinyWrapper, load

TRAJECTORIES: dict[str, list[tuple[int, float]]] = {}


class Recording(TinyWrapper):
    """Records (global step, loss) of every train step under the run's name."""

    def train_step(self, batch):
        out = super().train_step(batch)
        TRAJECTORIES.setdefault(self.recipe.name, []).append(
            (self.state.global_step, float(out["loss"])))
        return out


def trajectory(tmp_path, label: str, *overrides: str):
    TRAJECTORIES.pop(label, None)
    loaded = load(tmp_path / label, f"name={label}",
                  "wrapper=tests.test_same_identity_trains_alike.Recording", *overrides)
    result = run_experiment(loaded, threads=1)
    weights = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    return result, TRAJECTORIES[label], weights["model"]


STATELESS = st.fixed_dictionaries({
    "train.epochs": st.integers(2, 3),
    "train.log_every": st.sampled_from([1, 2, 5, 1000]),
    "train.eval_every": st.sampled_from([1, 2, 7]),
    "train.checkpoint_every": st.sampled_from([1, 2, 1000]),
    "train.progress": st.sampled_from(["off", "plain"]),
    "device": st.sampled_from(["cpu", "auto"]),
    "train.metrics": st.sampled_from(["[accuracy]", "[]", "[accuracy, top2_accuracy]"]),
})


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=STATELESS)
def test_runs_with_the_same_id_train_identically_for_the_epochs_they_share(tmp_path, changes):
    folder = tmp_path / uuid.uuid4().hex  # hypothesis reuses tmp_path across examples
    base, base_steps, base_weights = trajectory(folder, "base", "train.epochs=2")
    other_overrides = [f"{k}={v}" for k, v in changes.items()]
    other, steps, weights = trajectory(folder, "other", *other_overrides)
    assert other.trial_id == base.trial_id
    assert steps[:len(base_steps)] == base_steps  # bit for bit, step by step
    if changes["train.epochs"] == 2:
        assert all(torch.equal(weights[k], base_weights[k]) for k in base_weights)


def test_a_cosine_run_extended_in_place_equals_a_fresh_run_of_that_length(tmp_path):
    fixed = ("train.scheduler.name=cosine", "train.scheduler.args={T_max: 24}")
    _, first, _ = trajectory(tmp_path, "grow", *fixed, "train.epochs=2")
    _, rest, grown = trajectory(tmp_path, "grow", *fixed, "train.epochs=4")
    _, fresh, weights = trajectory(tmp_path, "fresh", *fixed, "train.epochs=4")
    assert first + rest == fresh
    assert all(torch.equal(weights[k], grown[k]) for k in weights)
