"""The loop: gradient accumulation, no per-step host syncs, scheduler intervals."""

from __future__ import annotations

import pytest
import torch

from model_trainer.trial.experiment import run_experiment
from tests.files import metrics, rows
from tests.train.tiny import LINEAR, load


def linear(tmp_path, *overrides):
    return run_experiment(load(tmp_path, *overrides, text=LINEAR), threads=1)


def weights(result) -> torch.Tensor:
    state = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    return torch.cat([state["model"]["linear.weight"].flatten(), state["model"]["linear.bias"]])


def test_grad_accumulation_matches_a_larger_batch(tmp_path):
    accumulated = linear(tmp_path / "a", "train.batch_size=8", "train.grad_accum=2")
    large = linear(tmp_path / "b", "train.batch_size=16")
    small = linear(tmp_path / "c", "train.batch_size=8")
    assert torch.allclose(weights(accumulated), weights(large), atol=1e-6)
    assert not torch.allclose(weights(small), weights(large), atol=1e-3)  # the test can fail
    assert accumulated.final_metrics["val_mse"] == pytest.approx(large.final_metrics["val_mse"])


def test_grad_accumulation_with_a_partial_last_group_steps_once_more(tmp_path):
    result = linear(tmp_path, "train.batch_size=8", "train.grad_accum=3", "train.epochs=1")
    status = (result.trial_dir / "status.json").read_text()
    assert '"global_step": 3' in status  # 8 batches: groups of 3, 3 and 2


def _host_syncs(monkeypatch, run) -> int:
    calls = []
    for name in ("item", "tolist", "__float__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            calls.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    run()
    monkeypatch.undo()
    return len(calls)


def test_no_host_sync_per_step(tmp_path, monkeypatch):
    few = _host_syncs(monkeypatch, lambda: linear(tmp_path / "a", "data.args.n=64"))
    many = _host_syncs(monkeypatch, lambda: linear(tmp_path / "b", "data.args.n=640"))
    assert few == many  # 8 vs 80 steps: syncs follow evaluations and epochs, not steps
    logging = _host_syncs(monkeypatch, lambda: linear(tmp_path / "c", "data.args.n=640",
                                                      "train.log_every=1"))
    assert logging >= 80  # one sync per log row (80 rows), which is why logs are spaced


def lrs(result) -> list[float]:
    return [m["lr"] for m in metrics(result, "train")]


def test_cosine_scheduler_steps_per_step_and_step_scheduler_per_epoch(tmp_path):
    cosine = linear(tmp_path / "a", "train.scheduler.name=cosine", "train.log_every=2")
    values = lrs(cosine)
    assert len(values) == 4 and values == sorted(values, reverse=True) and values[-1] < 1e-9
    step = linear(tmp_path / "b", "train.scheduler.name=step",
                  "train.scheduler.args={step_size: 1, gamma: 0.1}", "train.log_every=4")
    assert lrs(step) == pytest.approx([0.05, 0.005])


def test_plateau_scheduler_reduces_on_the_monitor(tmp_path):
    result = linear(tmp_path, "train.scheduler.name=plateau", "train.epochs=4",
                    "train.scheduler.args={patience: 0, factor: 0.5, threshold: 10.0}",
                    "train.log_every=4")
    assert lrs(result) == pytest.approx([0.05, 0.025, 0.0125, 0.00625])


def test_grad_clip_and_bf16_run_on_cpu(tmp_path):
    result = linear(tmp_path, "train.grad_clip=0.01", "train.precision=bf16")
    assert result.state == "completed" and torch.isfinite(weights(result)).all()


def test_a_loss_in_a_reused_buffer_is_summed_as_it_is_returned(tmp_path, monkeypatch):
    """The loop reads what train_step returns at once: a tensor may be refilled at the next
    step (a custom train_step's buffer, or a model whose forward writes its loss into one,
    as CUDA graphs do with their outputs). Both give the plain model's train rows (holding
    the losses to sum them later gave the last value over and over)."""
    from tests.train import tiny

    class BufferLossNet(tiny.TinyNet):
        def forward(self, x, labels=None):
            logits, loss = super().forward(x, labels)
            if loss is None:
                return logits, None
            if not hasattr(self, "loss_buffer"):
                self.loss_buffer = torch.zeros((), dtype=loss.dtype)
            return logits, self.loss_buffer.detach().copy_(loss)  # the same memory each step

    class Reusing(tiny.TinyWrapper):
        buffer = None

        def train_step(self, batch):
            loss = super().train_step(batch)["loss"]
            if self.buffer is None:
                self.buffer = torch.zeros((), dtype=loss.dtype)
            self.buffer.copy_(loss)  # returned, then overwritten at the next step
            return {"loss": self.buffer}

    monkeypatch.setattr(tiny, "Reusing", Reusing, raising=False)
    monkeypatch.setattr(tiny, "BufferLossNet", BufferLossNet, raising=False)
    common = ("train.epochs=1", "train.log_every=2")
    plain = run_experiment(load(tmp_path / "a", *common))
    expected = [r["metrics"]["loss"] for r in rows(plain, "train")]
    assert len(expected) == 4 and len(set(expected)) == 4  # three log points, the epoch's
    for name, extra in (("b", "wrapper=tests.train.tiny.Reusing"),
                        ("c", "model.target=tests.train.tiny.BufferLossNet")):
        other = run_experiment(load(tmp_path / name, *common, extra))
        found = [r["metrics"]["loss"] for r in rows(other, "train")]
        assert found == pytest.approx(expected, rel=1e-9), extra
