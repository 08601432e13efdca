"""kill -9 at chosen points (a train step, an evaluation, a checkpoint write), then a
rerun: the dead process's lock is taken over, the run completes, no file is corrupt,
and the final metrics equal an uninterrupted run's."""

from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_trainer.trial.experiment import run_experiment
from tests import forked
from tests.files import rows, status
from tests.train.tiny import load

ROOT = Path(__file__).parents[2]
# 10 train steps and 2 val batches an epoch, a checkpoint each (to kill one half-written)
OVERRIDES = ("train.epochs=4", "data.args.n=160", "train.checkpoint_min_interval_s=0")

# The child patches one place to SIGKILL itself on its N-th call: no cleanup code runs.
CHILD = """
import io, os, signal, sys
import model_trainer.train.checkpoint as checkpoint
from model_trainer.wrapper import ModelWrapper
from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import load

point, nth, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = {"n": 0}

def count():
    calls["n"] += 1
    return calls["n"] == nth

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "step":
    original_step = ModelWrapper.train_step
    def train_step(self, batch):
        if count():
            die()
        return original_step(self, batch)
    ModelWrapper.train_step = train_step
elif point == "eval":
    original_eval = ModelWrapper.evaluation_step
    def evaluation_step(self, batch):
        if count():
            die()
        return original_eval(self, batch)
    ModelWrapper.evaluation_step = evaluation_step
elif point == "checkpoint":  # the N-th checkpoint file is half written, then power off
    original_write = checkpoint.atomic_write
    def dying_write(path, write, **options):
        if not count():
            return original_write(path, write, **options)
        def half(handle):
            buffer = io.BytesIO()
            write(buffer)
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            handle.flush()
            die()
        return original_write(path, half, **options)
    checkpoint.atomic_write = dying_write
run_experiment(load(out, *sys.argv[4:]), threads=1)
"""


def kill_at(point: str, nth: int, out: Path, *overrides: str) -> int:
    """Run the child (the tiny recipe with `overrides`, by default OVERRIDES) until it
    kills itself; its pid."""
    proc = forked.popen([sys.executable, "-c", CHILD, point, str(nth), str(out),
                         *(overrides or OVERRIDES)],
                        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL, output  # it really died by SIGKILL
    return proc.pid


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return run_experiment(load(tmp_path_factory.mktemp("clean"), *OVERRIDES), threads=1)


_rng = random.Random(20261127)
CASES = ([("step", _rng.randint(2, 38)) for _ in range(2)]
         + [("eval", _rng.randint(2, 7)), ("checkpoint", 2), ("checkpoint", _rng.randint(3, 4))])


@pytest.mark.slow
@pytest.mark.parametrize(("point", "nth"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_kill_then_rerun_completes_with_intact_files(tmp_path, baseline, point, nth, caplog):
    killed = kill_at(point, nth, tmp_path)
    trial = next((tmp_path / "tiny").iterdir())
    assert status(trial)["state"] == "running"  # what a kill -9 leaves behind
    assert json.loads((trial / ".lock").read_text())["pid"] == killed  # a dead holder's lock
    caplog.set_level(logging.INFO, "model_trainer")
    resumed = run_experiment(load(tmp_path, *OVERRIDES), threads=1)
    assert f"taking over the lock of pid {killed}" in caplog.text
    assert resumed.state == "completed" and resumed.epochs_done == 4
    assert resumed.final_metrics == baseline.final_metrics
    assert resumed.best == baseline.best

    trial = resumed.trial_dir
    record = status(trial)
    assert record["state"] == "completed" and record["attempts"] == 2
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3, 4]
    for name in ("last.pt", "best.pt"):
        state = torch.load(trial / "checkpoints" / name, weights_only=True)
        assert state["model"] is not None
    leftovers = [p.name for p in trial.rglob("*.tmp")]
    assert leftovers == []
