"""Checkpoint files: atomic, weights_only-loadable, strict, and a fallback to the previous
good one when the newest does not load or does not fit."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from model_trainer.errors import CheckpointError
from model_trainer.train import checkpoint
from model_trainer.train.reporting import Session
from model_trainer.train.seeding import rng_state, set_rng_state
from tests.train.tiny import load


class FolderSession(Session):
    saves_checkpoints = True


def tiny_loop(tmp_path, *overrides: str):
    """A set-up tiny wrapper whose loop saves checkpoints into tmp_path/ckpt."""
    from tests.train.tiny import TinyWrapper

    wrapper = TinyWrapper(load(tmp_path, *overrides).recipe)
    wrapper.setup()
    wrapper.loop.session = FolderSession(tmp_path / "ckpt")
    return wrapper.loop


def saved_at(loop, epoch: int) -> None:
    loop.state.epoch, loop.state.global_step = epoch, epoch * 10
    loop.save_checkpoint()


def test_save_keeps_the_previous_last_and_resumes_from_the_newest(tmp_path):
    loop = tiny_loop(tmp_path)
    saved_at(loop, 1)
    saved_at(loop, 2)
    folder = tmp_path / "ckpt"
    assert sorted(p.name for p in folder.iterdir()) == ["last.prev.pt", "last.pt"]
    fresh = tiny_loop(tmp_path)
    assert checkpoint.resume(fresh, folder) == folder / "last.pt"
    assert fresh.state.epoch == 2 and fresh.state.global_step == 20


def test_truncated_newest_falls_back_with_a_warning(tmp_path, caplog):
    loop = tiny_loop(tmp_path)
    saved_at(loop, 1)
    saved_at(loop, 2)
    last = tmp_path / "ckpt" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    fresh = tiny_loop(tmp_path)
    with caplog.at_level(logging.WARNING, logger="model_trainer"):
        assert checkpoint.resume(fresh, tmp_path / "ckpt").name == "last.prev.pt"
    assert fresh.state.epoch == 1
    assert "last.pt cannot be used" in caplog.text and "last.prev.pt" in caplog.text


def test_nothing_loadable_is_a_clear_error_and_no_file_is_a_fresh_start(tmp_path):
    loop = tiny_loop(tmp_path)
    (tmp_path / "ckpt").mkdir()
    assert checkpoint.resume(loop, tmp_path / "ckpt") is None
    (tmp_path / "ckpt" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="--force"):
        checkpoint.resume(loop, tmp_path / "ckpt")


@pytest.mark.parametrize("spoil", ["shapes", "epoch", "optimizers", "format"])
def test_a_loadable_checkpoint_that_does_not_fit_falls_back_then_is_exit_2(tmp_path, spoil, caplog):
    loop = tiny_loop(tmp_path)
    saved_at(loop, 1)
    saved_at(loop, 2)
    folder = tmp_path / "ckpt"
    state = checkpoint.load_file(folder / "last.pt")
    if spoil == "shapes":
        state["model"] = {k: torch.zeros(7) for k in state["model"]}
    elif spoil == "epoch":
        state["loop"]["epoch"] = -5
    elif spoil == "optimizers":
        state["optimizers"] = state["optimizers"] * 2
    else:
        state["format"] = 99
    torch.save(state, folder / "last.pt")
    fresh = tiny_loop(tmp_path)
    with caplog.at_level(logging.WARNING, logger="model_trainer"):
        assert checkpoint.resume(fresh, folder).name == "last.prev.pt"
    assert fresh.state.epoch == 1
    torch.save(state, folder / "last.prev.pt")
    with pytest.raises(CheckpointError) as info:
        checkpoint.resume(tiny_loop(tmp_path), folder)
    assert info.value.exit_code == 2 and "weights_only" not in str(info.value)
    reason = {"shapes": "does not match", "epoch": "epoch=-5", "optimizers": "2 optimizer",
              "format": "format 99"}[spoil]
    assert reason in str(info.value)


def test_rng_states_round_trip_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    state = {"loop": {}, "format": 2, "rng": rng_state()}
    checkpoint.save_best(tmp_path, checkpoint.serialize(state))
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    loaded = checkpoint.load_file(tmp_path / "best.pt")  # weights_only=True
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_no_temporary_files_are_left_behind(tmp_path):
    loop = tiny_loop(tmp_path)
    for epoch in range(3):
        saved_at(loop, epoch)
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.name.startswith(".")]


def test_other_objects_are_refused_without_unsafe_advice_unless_trusted(tmp_path, monkeypatch):
    loop = tiny_loop(tmp_path)
    loop.w.checkpoint_extra = lambda: {"when": __import__("datetime").date(2024, 1, 1)}
    saved_at(loop, 1)
    with pytest.raises(CheckpointError) as info:
        checkpoint.resume(tiny_loop(tmp_path), tmp_path / "ckpt")
    assert "weights_only" not in str(info.value) and "tensors and plain types" in str(info.value)
    monkeypatch.setenv(checkpoint.TRUST_ENV, "1")
    assert checkpoint.resume(tiny_loop(tmp_path), tmp_path / "ckpt") is not None
