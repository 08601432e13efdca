"""train.ema: the average a plain loop computes, used by evaluations, best.pt, the test
split and load_trial; resumed exactly; part of the identity."""

from __future__ import annotations

import json

import pytest
import torch

import model_trainer
from model_trainer.trial.experiment import run_experiment
from tests.train import tiny
from tests.train.tiny import TinyWrapper, load

EMA = ("++train.ema={decay: 0.9}", "train.log_every=1")


def recorded_run(tmp_path, monkeypatch, *overrides):
    """A tiny run with a callback recording the weights: `(None, w)` at the start, then
    `(global_step, w)` after each optimizer step (the step counted before it: a built-in
    batch's optimizer steps share one). The result and the records."""
    records = []

    def weights(wrapper):
        return [p.detach().clone() for p in wrapper.model.parameters()]

    class Recorder(model_trainer.Callback):
        def on_train_start(self, wrapper):
            records.append((None, weights(wrapper)))

        def on_after_optimizer_step(self, wrapper, optimizers):
            records.append((wrapper.state.global_step, weights(wrapper)))

    monkeypatch.setattr(tiny, "Recorder", Recorder, raising=False)
    result = run_experiment(load(tmp_path, *overrides,
                                 "train.callbacks=[tests.train.tiny.Recorder]"))
    return result, records


def ema_of(sequence, decay=0.9):
    """ema_k = decay ema_(k-1) + (1 - decay) w_k from ema_0 = w_0, computed here."""
    sequence = iter(sequence)
    average = next(sequence)
    for w in sequence:
        average = [decay * a + (1 - decay) * x for a, x in zip(average, w, strict=True)]
    return average


def saved_average(result, checkpoint="last"):
    saved = torch.load(result.trial_dir / "checkpoints" / f"{checkpoint}.pt", weights_only=True)
    return next(s for s in saved["callbacks"] if s and "average" in s)["average"]


def assert_close(average, expected):
    for a, e in zip(average, expected, strict=True):
        assert torch.allclose(a, e, atol=1e-6)


class TrackingWrapper(TinyWrapper):
    """Records the weights its evaluations ran with."""

    at_eval: list[float] = []

    def custom_evaluation(self, flag):
        weights = torch.cat([p.detach().flatten() for p in self.model.parameters()])
        type(self).at_eval.append(float(weights.sum()))
        return {}


def test_evaluations_use_the_average_a_plain_loop_computes(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny, "TrackingWrapper", TrackingWrapper, raising=False)
    TrackingWrapper.at_eval = []
    result = run_experiment(load(tmp_path, *EMA, "wrapper=tests.train.tiny.TrackingWrapper",
                                 "train.epochs=1"))
    assert TrackingWrapper.at_eval, "custom_evaluation ran"
    saved = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    average = saved["callbacks"][0]["average"]
    raw = saved["model"]
    assert not all(torch.equal(a, r) for a, r in zip(average, raw.values(), strict=True))
    assert TrackingWrapper.at_eval[0] == pytest.approx(
        float(torch.cat([a.flatten() for a in average]).sum()), rel=1e-5)


def test_the_average_is_exact_against_an_independent_update(tmp_path, monkeypatch):
    """Start, one epoch of 6 steps: ema_k = 0.9 ema_(k-1) + 0.1 w_k from ema_0 = w_0."""
    result, records = recorded_run(tmp_path, monkeypatch, *EMA, "train.epochs=1")
    assert len(records) == 1 + 6
    assert_close(saved_average(result), ema_of(w for _, w in records))


def test_load_trial_gives_the_average_and_a_resume_continues_it(tmp_path):
    loaded = load(tmp_path, *EMA, "train.epochs=2")
    first = run_experiment(load(tmp_path, *EMA, "train.epochs=1"))
    again = run_experiment(loaded)
    straight = run_experiment(load(tmp_path / "b", *EMA, "train.epochs=2"))
    a = torch.load(again.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(straight.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    for x, y in zip(a["callbacks"][0]["average"], b["callbacks"][0]["average"], strict=True):
        assert torch.equal(x, y)  # resumed after epoch 1 == straight through
    model = model_trainer.load_trial(again.trial_dir, "last").model
    for p, avg in zip(model.parameters(), a["callbacks"][0]["average"], strict=True):
        assert torch.equal(p.detach(), avg)
    assert first.trial_id == again.trial_id != load(tmp_path, "train.epochs=2").trial_id
    status = json.loads((again.trial_dir / "status.json").read_text())
    assert status["state"] == "completed"


class TwoOptimizers(TinyWrapper):
    """A train_step that steps two optimizers (as a GAN steps D, then G)."""

    def make_optimizer(self, model):
        first, *rest = model.parameters()
        return torch.optim.SGD([first], lr=0.1), torch.optim.SGD(rest, lr=0.1)

    def train_step(self, batch):
        first, second = self.optimizer
        _, loss = self.forward(batch)
        self.backward(loss)
        self.optimizer_step(first)
        self.optimizer_step(second)
        return {"loss": loss.detach()}


def test_the_average_moves_once_a_batch_when_a_train_step_steps_several_optimizers(
        tmp_path, monkeypatch):
    """ema_k = 0.9 ema_(k-1) + 0.1 w_k with w_k the weights once batch k is done, however
    many optimizers its train_step stepped (it moved once per optimizer step: 0.81 a batch)."""
    monkeypatch.setattr(tiny, "TwoOptimizers", TwoOptimizers, raising=False)
    result, records = recorded_run(tmp_path, monkeypatch, *EMA, "train.epochs=1",
                                   "wrapper=tests.train.tiny.TwoOptimizers")
    after = dict(records)  # a batch's last optimizer step wins
    assert len(records) == 1 + 12 and len(after) == 1 + 6  # six batches, two steps each
    assert_close(saved_average(result), ema_of([after[None], *(after[k] for k in range(6))]))


@pytest.mark.parametrize("average", ["++train.ema={decay: 0.9}", "++train.swa={start_epoch: 1}"])
def test_the_test_split_at_an_earlier_best_uses_that_epochs_average(tmp_path, average,
                                                                    monkeypatch):
    """The best evaluation is an early one (monitor val_loss, mode max): the test split
    rewinds to best.pt, weights and average; its loss equals the model with the average at
    that step, computed here from the weights after each step (EMA: ema_k = 0.9 ema_(k-1)
    + 0.1 w_k; SWA: the mean of the epoch ends so far, none yet: the weights themselves)."""
    import torch.nn.functional as F

    from tests.files import rows

    result, records = recorded_run(tmp_path, monkeypatch, average, "train.epochs=3",
                                   "data.target=tests.train.tiny.make_loader_with_test",
                                   "train.monitor={metric: val_loss, mode: max}",
                                   "train.eval_every_steps=4")
    after = {0 if step is None else step + 1: w for step, w in records}  # step -> weights
    val = rows(result, "val")
    best = max(val, key=lambda r: r["metrics"]["loss"])
    assert best["step"] != val[-1]["step"]  # an earlier evaluation is the best
    test = rows(result, "test")[0]
    assert test["checkpoint"] == "best"
    if "ema" in average:
        expected = ema_of(after[step] for step in range(best["step"] + 1))
    else:  # epochs of 6 steps, averaged from epoch 1's end on
        ends = [after[step] for step in range(6, best["step"] + 1, 6)]
        expected = [torch.stack(ws).mean(0) for ws in zip(*ends, strict=True)] if ends \
            else after[best["step"]]
    model = model_trainer.load_trial(result.trial_dir, "last").model
    with torch.no_grad():
        for p, e in zip(model.parameters(), expected, strict=True):
            p.copy_(e)
    x, y = tiny.tensors(96, seed=789)
    with torch.no_grad():
        assert test["metrics"]["loss"] == pytest.approx(float(F.cross_entropy(model(x)[0], y)),
                                                        rel=1e-5)


class OwnLoop(TinyWrapper):
    """A whole custom loop: one epoch of plain steps through the wrapper's building blocks."""

    def fit(self):
        self.model.train()
        for batch in self.train_loader:
            _, loss = self.forward(batch)
            self.backward(loss)
            self.optimizer_step()
            self.state.global_step += 1
        self.state.epoch = 1
        self.loop.save_checkpoint()


def test_in_a_custom_fit_the_average_moves_after_every_optimizer_step(tmp_path, monkeypatch):
    """A custom fit() has no built-in batches: the average moves at each optimizer step,
    starting at the weights of its first move."""
    monkeypatch.setattr(tiny, "OwnLoop", OwnLoop, raising=False)
    result, records = recorded_run(tmp_path, monkeypatch, *EMA, "train.epochs=1",
                                   "wrapper=tests.train.tiny.OwnLoop")
    assert [step for step, _ in records] == list(range(6))  # no on_train_start: its own fit
    assert_close(saved_average(result), ema_of(w for _, w in records))


