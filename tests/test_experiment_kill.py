"""A run killed with SIGKILL (no cleanup at all) and rerun ends like an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from model_trainer.trial.experiment import run_experiment
from tests.files import rows, status, wait_for_recorded_checkpoint
from tests.train.tiny import load

OVERRIDES = ("wrapper=tests.train.tiny.SlowWrapper", "train.epochs=4", "data.args.n=160")
CHILD = """
import sys
from tests.train.tiny import load
from model_trainer.trial.experiment import run_experiment
run_experiment(load(sys.argv[1], *sys.argv[2:]), threads=1)
"""


@pytest.mark.slow
def test_kill_9_then_rerun_matches_an_uninterrupted_run(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TINY_SLEEP": "0.05", "PYTHONPATH": str(repo)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "killed"), *OVERRIDES],
                             cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        trial = wait_for_recorded_checkpoint(tmp_path / "killed", child)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    left = status(trial)
    assert left["state"] == "running"  # what a kill -9 leaves behind
    assert left["epochs_done"] >= 1  # updated at each checkpoint

    resumed = run_experiment(load(tmp_path / "killed", *OVERRIDES), threads=1)
    baseline = run_experiment(load(tmp_path / "clean", *OVERRIDES), threads=1)
    assert resumed.trial_id == baseline.trial_id and not resumed.skipped
    assert resumed.epochs_done == 4
    assert resumed.final_metrics == baseline.final_metrics
    after = status(trial)
    assert after["state"] == "completed" and after["attempts"] == 2
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3, 4]  # no duplicated rows from the killed attempt
