"""The loop on its own: a fake wrapper (plain lists as loaders, scripted losses), no files."""

from __future__ import annotations

import math

import pytest
import torch

from model_trainer.recipe import load_recipe_text
from model_trainer.train.loop import Accumulation, Loop, accumulation_group
from tests.train.tiny import RECIPE


class FakeWrapper:
    """What the loop touches, nothing more: a recipe, loaders, a model and three hooks."""

    def __init__(self, *overrides: str, batches: int = 4, val_losses=(), train_loss=1.0):
        self.recipe = load_recipe_text(RECIPE, ["device=cpu", "train.metrics=[]", *overrides]).recipe
        self.device = torch.device("cpu")
        self.model = torch.nn.Identity()
        self.optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        self.scheduler = None
        self.callbacks: list = []
        self.warmup_factor = lambda step: 1.0
        self.train_loader = list(range(batches))
        self.val_loader = [{"x": 0}]
        self.test_loader = None
        self.val_losses = list(val_losses)
        self.train_loss = train_loss
        self.seen: list[tuple[int, Accumulation]] = []
        self.loop = Loop(self)

    def train_step(self, batch):
        self.seen.append((batch, self.loop.accumulation))
        return {"loss": torch.tensor(self.train_loss)}

    def evaluation_step(self, batch):
        return None, torch.tensor(self.val_losses.pop(0))

    def custom_evaluation(self, flag):
        return {}


def test_accumulation_groups_cover_every_batch_and_the_last_group_is_shorter():
    groups = [accumulation_group(i, 3, 8) for i in range(8)]
    assert [g.micro_batches for g in groups] == [3, 3, 3, 3, 3, 3, 2, 2]
    assert [i for i, g in enumerate(groups) if g.is_update_step] == [2, 5, 7]
    assert accumulation_group(5, 1, 8) == Accumulation(1, True)
    assert accumulation_group(4, 2, None) == Accumulation(2, False)  # no length: full groups


def test_fit_runs_the_epochs_calls_train_step_per_batch_and_counts_update_steps():
    w = FakeWrapper("train.epochs=2", "train.grad_accum=2", batches=5, val_losses=[0.5, 0.4])
    w.loop.fit()
    assert [b for b, _ in w.seen] == [0, 1, 2, 3, 4] * 2
    assert [a.is_update_step for _, a in w.seen[:5]] == [False, True, False, True, True]
    state = w.loop.state
    assert state.epoch == 2 and state.global_step == 6 and state.stop_reason == "epochs reached"
    assert state.best == {"metric": "val_loss", "mode": "min", "value": pytest.approx(0.4),
                          "epoch": 2, "step": 6}


def test_early_stopping_counts_evaluations_without_improvement():
    w = FakeWrapper("train.epochs=10", "train.early_stopping.patience=2",
                    val_losses=[0.5, 0.6, 0.7, 0.1])
    w.loop.fit()
    assert w.loop.state.stop_reason == "early stop" and w.loop.state.epoch == 3
    assert w.loop.state.best["epoch"] == 1


def test_end_evaluation_says_stop_after_the_last_epoch_before_it_is_counted():
    w = FakeWrapper("train.epochs=2")
    assert not w.loop.end_evaluation({"val_loss": 1.0}, epoch=1)
    assert w.loop.end_evaluation({"val_loss": 1.0}, epoch=2)  # state.epoch is still 0 here


def test_a_non_finite_train_loss_stops_the_loop_as_diverged():
    w = FakeWrapper("train.epochs=3", "train.log_every=1", train_loss=math.inf)
    w.loop.fit()
    assert w.loop.state.stop_reason == "diverged" and w.loop.state.global_step == 1
    assert len(w.seen) == 1  # nothing trains after the first non-finite log
