"""train.swa: the equal average of the weights at the ends of epochs start_epoch..,
computed independently here; evaluations use it from then on (with batch-norm statistics
recomputed for it, as torch's update_bn does); resumed exactly; part of the identity."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import model_trainer
from model_trainer.errors import RecipeError
from model_trainer.trial.experiment import run_experiment
from tests.train import tiny
from tests.train.tiny import load

SWA = ("++train.swa={start_epoch: 2}",)


class EpochEnds(model_trainer.Callback):
    """Records the weights at the end of each epoch's train batches."""

    ends: dict[int, list[torch.Tensor]] = {}

    def on_train_epoch_end(self, wrapper, epoch):
        type(self).ends[epoch] = [p.detach().clone() for p in wrapper.model.parameters()]


class SeenByEvaluation(tiny.TinyWrapper):
    seen: list[list[torch.Tensor]] = []

    def custom_evaluation(self, flag):
        type(self).seen.append([p.detach().clone() for p in self.model.parameters()])
        return {}


def test_the_average_of_epoch_ends_is_what_evaluations_use(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny, "EpochEnds", EpochEnds, raising=False)
    monkeypatch.setattr(tiny, "SeenByEvaluation", SeenByEvaluation, raising=False)
    EpochEnds.ends, SeenByEvaluation.seen = {}, []
    result = run_experiment(load(tmp_path, *SWA, "train.epochs=4",
                                 "train.callbacks=[tests.train.tiny.EpochEnds]",
                                 "wrapper=tests.train.tiny.SeenByEvaluation"))
    ends = EpochEnds.ends
    mean = [torch.stack([ends[e][i] for e in (2, 3, 4)]).mean(0) for i in range(len(ends[4]))]
    saved = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    state = next(s for s in saved["callbacks"] if s and "swa_count" in s)
    assert state["swa_count"] == 3
    for average, expected in zip(state["average"], mean, strict=True):
        assert torch.allclose(average, expected, atol=1e-6)
    seen = SeenByEvaluation.seen  # val after epochs 1-4
    assert all(torch.equal(a, b) for a, b in zip(seen[0], ends[1], strict=True))  # before
    for after, epoch in ((seen[1], 2), (seen[3], 4)):
        expected = [torch.stack([ends[e][i] for e in range(2, epoch + 1)]).mean(0)
                    for i in range(len(after))]
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(after, expected, strict=True))
    model = model_trainer.load_trial(result.trial_dir, "last").model
    for p, average in zip(model.parameters(), state["average"], strict=True):
        assert torch.equal(p.detach(), average)


def test_a_resumed_run_continues_the_average_exactly(tmp_path):
    run_experiment(load(tmp_path, *SWA, "train.epochs=3"))
    longer = run_experiment(load(tmp_path, *SWA, "train.epochs=5"))
    straight = run_experiment(load(tmp_path / "b", *SWA, "train.epochs=5"))
    a = torch.load(longer.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(straight.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert a["callbacks"][0]["swa_count"] == b["callbacks"][0]["swa_count"] == 4
    for x, y in zip(a["callbacks"][0]["average"], b["callbacks"][0]["average"], strict=True):
        assert torch.equal(x, y)
    assert longer.trial_id != load(tmp_path, "train.epochs=5").trial_id  # another experiment
    with pytest.raises(RecipeError, match="train.swa"):
        load(tmp_path, *SWA, "++train.ema={decay: 0.9}")


class NormNet(nn.Module):
    """TinyNet with a batch-norm layer (its statistics must be the average's)."""

    def __init__(self, config):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                 nn.Linear(8, config.num_classes))

    def forward(self, x, labels=None):
        logits = self.net(x)
        return logits, (F.cross_entropy(logits, labels) if labels is not None else None)


def test_batch_norm_statistics_are_recomputed_for_the_average(tmp_path, monkeypatch):
    """The last val loss equals torch's own recipe: the averaged weights in a fresh model,
    torch.optim.swa_utils.update_bn over the train data, then the val loss (one batch an
    epoch, so both passes see the same batch)."""
    monkeypatch.setattr(tiny, "NormNet", NormNet, raising=False)
    result = run_experiment(load(tmp_path, *SWA, "train.epochs=3",
                                 "model.target=tests.train.tiny.NormNet",
                                 "train.batch_size=96"))
    saved = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    model = NormNet(type("C", (), {"num_classes": 3}))
    model.load_state_dict(saved["model"])
    with torch.no_grad():
        for p, average in zip(model.parameters(), saved["callbacks"][0]["average"],
                              strict=True):
            p.copy_(average)
    x, y = tiny.tensors(96, seed=123)
    torch.optim.swa_utils.update_bn([x], model.net)
    model.eval()
    vx, vy = tiny.tensors(96, seed=456)
    with torch.no_grad():
        expected = float(F.cross_entropy(model(vx)[0], vy))
    rows = [json.loads(r) for r in (result.trial_dir / "metrics.jsonl").read_text().splitlines()]
    last_val = [r for r in rows if r["split"] == "val"][-1]["metrics"]["loss"]
    assert last_val == pytest.approx(expected, rel=1e-5)
    reloaded = model_trainer.load_trial(result.trial_dir, "last").model  # as evaluated
    with torch.no_grad():
        assert float(F.cross_entropy(reloaded(vx)[0], vy)) == pytest.approx(expected, rel=1e-5)
    trained = saved["model"]["net.1.running_mean"]  # the model's own statistics, kept
    assert not torch.allclose(trained, torch.zeros_like(trained))


def test_batch_norm_statistics_are_recomputed_only_when_the_average_changed(tmp_path,
                                                                           monkeypatch):
    """A pass over the train split for each new average, not for each evaluation: a
    mid-epoch evaluation and the test split reuse the statistics of the average they
    evaluate (each evaluation made a pass of its own), with the same numbers."""
    from model_trainer.train.swa import SWA as Averaging

    monkeypatch.setattr(tiny, "NormNet", NormNet, raising=False)
    passes = []
    update = Averaging._update_norms
    monkeypatch.setattr(Averaging, "_update_norms",
                        lambda self, wrapper: (passes.append(self.count), update(self, wrapper)))
    result = run_experiment(load(tmp_path, *SWA, "train.epochs=3",
                                 "model.target=tests.train.tiny.NormNet",
                                 "data.target=tests.train.tiny.make_loader_with_test",
                                 "train.batch_size=48", "train.eval_every_steps=1"))
    assert passes == [1, 2]  # the averages of epochs 2 and 2-3; each once
    from tests.files import rows

    val = {r["step"]: r["metrics"]["loss"] for r in rows(result, "val")}
    assert val[5] == val[4]  # mid-epoch 3: the average of epoch 2, as evaluated at its end
    test = rows(result, "test")[0]  # the last average's statistics, reused
    model = model_trainer.load_trial(result.trial_dir, test["checkpoint"]).model
    x, y = tiny.tensors(96, seed=789)
    with torch.no_grad():
        assert test["metrics"]["loss"] == pytest.approx(float(F.cross_entropy(model(x)[0], y)),
                                                        rel=1e-5)
    # a checkpoint written before the statistics' count was saved: they are made again
    # once (they may be an older average's), at the first evaluation after the resume
    last = result.trial_dir / "checkpoints" / "last.pt"
    saved = torch.load(last, weights_only=True)
    del next(s for s in saved["callbacks"] if s and "swa_count" in s)["norms_count"]
    torch.save(saved, last)
    run_experiment(load(tmp_path, *SWA, "train.epochs=4", "model.target=tests.train.tiny.NormNet",
                        "data.target=tests.train.tiny.make_loader_with_test",
                        "train.batch_size=48", "train.eval_every_steps=1"))
    assert passes == [1, 2, 2, 3]  # epoch 4's mid-epoch evaluation, then its new average
