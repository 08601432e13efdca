"""Checkpoint files: atomic, weights_only-loadable, fall back to the previous good one."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from model_trainer.train import checkpoint
from model_trainer.train.seeding import rng_state, set_rng_state


def state(value: float) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "rng": rng_state(),
            "loop": {"epoch": int(value), "global_step": int(value) * 10}}


def test_save_keeps_the_previous_last_and_loads_the_newest(tmp_path):
    checkpoint.save_last(tmp_path, state(1))
    checkpoint.save_last(tmp_path, state(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]
    assert checkpoint.load_latest(tmp_path)["loop"]["epoch"] == 2


def test_truncated_newest_falls_back_with_a_warning(tmp_path, caplog):
    checkpoint.save_last(tmp_path, state(1))
    checkpoint.save_last(tmp_path, state(2))
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="model_trainer"):
        loaded = checkpoint.load_latest(tmp_path)
    assert loaded["loop"]["epoch"] == 1
    assert "last.pt cannot be loaded" in caplog.text and "last.prev.pt" in caplog.text


def test_nothing_loadable_is_a_clear_error_and_no_file_is_a_fresh_start(tmp_path):
    assert checkpoint.load_latest(tmp_path) is None
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="--force"):
        checkpoint.load_latest(tmp_path)


def test_rng_states_round_trip_through_weights_only(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    checkpoint.save_best(tmp_path, state(3))
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    loaded = checkpoint.load_file(tmp_path / "best.pt")  # weights_only=True
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_no_temporary_files_are_left_behind(tmp_path):
    for i in range(3):
        checkpoint.save_last(tmp_path, state(i))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_trust_env_allows_arbitrary_objects(tmp_path, monkeypatch):
    data = {**state(1), "extra": {"when": __import__("datetime").date(2024, 1, 1)}}
    checkpoint.save_last(tmp_path, data)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load_latest(tmp_path)
    monkeypatch.setenv(checkpoint.TRUST_ENV, "1")
    assert checkpoint.load_latest(tmp_path)["extra"]["when"].year == 2024
