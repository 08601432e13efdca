"""Data-parallel trials end to end: kill -9 of the launcher then resume, and study trials
whose Ray task (or the inline executor) runs the ranks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe import load_recipe_text
from model_trainer.trial.experiment import run_experiment
from tests import forked
from tests.files import rows, status, study_trials, wait_for_recorded_checkpoint
from tests.study.tinytask import RECIPE as STUDY
from tests.train.tiny import load

REPO = Path(__file__).resolve().parents[1]
DDP = ("train.strategy=ddp", "train.devices=2", "model.args.dropout=0.0",
       "train.optimizer={name: sgd, lr: 0.1}")
OVERRIDES = (*DDP, "wrapper=tests.train.ddp_user.PidWrapper", "train.epochs=4",
             "data.args.n=160", "train.checkpoint_min_interval_s=0")
CHILD = """
import sys
from tests.train.tiny import load
from model_trainer.trial.experiment import run_experiment
run_experiment(load(sys.argv[1], *sys.argv[2:]), threads=2)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.mark.slow
def test_kill_9_of_the_launcher_leaves_no_rank_and_resume_matches(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "TINY_SLEEP": "0.05", "PYTHONPATH": str(REPO),
           "MTRAIN_TEST_PIDS": str(pids)}
    child = forked.popen([sys.executable, "-c", CHILD, str(tmp_path / "killed"), *OVERRIDES],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        trial = wait_for_recorded_checkpoint(tmp_path / "killed", child)
        ranks = [int((pids / f"rank{r}").read_text()) for r in range(2)]
        assert all(_alive(pid) for pid in ranks)
        os.kill(child.pid, signal.SIGKILL)  # the launcher only: its ranks must follow it
        child.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in ranks):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in ranks), "a rank outlived its launcher"
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # whatever is left of the group we started
        except ProcessLookupError:
            pass
        child.wait()
    left = status(trial)
    assert left["state"] == "running" and left["epochs_done"] >= 1

    resumed = run_experiment(load(tmp_path / "killed", *OVERRIDES), threads=2)
    baseline = run_experiment(load(tmp_path / "clean", *OVERRIDES), threads=2)
    assert resumed.trial_id == baseline.trial_id and not resumed.skipped
    assert resumed.epochs_done == 4
    for key, value in baseline.final_metrics.items():
        assert resumed.final_metrics[key] == pytest.approx(value, rel=1e-6), key
    after = status(trial)
    assert after["state"] == "completed" and after["attempts"] == 2
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3, 4]  # no duplicated rows from the killed attempt


def _study(tmp_path, extra: str = "") -> Path:
    text = STUDY.format(out=tmp_path / "runs").replace(
        "  seeds: [0, 1]\n", "  seeds: [0]\n  resources: {cpus: 2}\n" + extra).replace(
        "  batch_size: 16\n", "  batch_size: 16\n  strategy: ddp\n  devices: 2\n")
    path = tmp_path / "study.yaml"
    path.write_text(text.replace("{choice: [2, 4]}", "{choice: [4]}"))
    return path


def _trials(tmp_path) -> list[dict]:
    return study_trials(tmp_path / "runs" / "tiny-study")


@pytest.mark.slow
def test_study_trial_runs_ddp_inline(tmp_path):
    result = CliRunner().invoke(app, ["run", str(_study(tmp_path))])
    assert result.exit_code == 0, result.output
    (trial,) = _trials(tmp_path)
    assert trial["state"] == "completed" and trial["value"] is not None


@pytest.mark.slow
def test_study_trial_runs_ddp_inside_its_ray_task(tmp_path, ray_local):
    result = CliRunner().invoke(app, ["run", str(_study(tmp_path, "  concurrency: 2\n"))])
    assert result.exit_code == 0, result.output
    (trial,) = _trials(tmp_path)
    assert trial["state"] == "completed", trial


def test_study_resources_must_fit_the_ranks(tmp_path):
    text = STUDY.format(out=tmp_path) + "  resources: {cpus: 1, gpus: 1}\n"
    text = text.replace("  batch_size: 16\n", "  batch_size: 16\n  strategy: ddp\n  devices: 2\n")
    with pytest.raises(Exception, match="2 ranks need 2 GPUs per trial"):
        load_recipe_text(text, [])
    cpu = load_recipe_text(text.replace("gpus: 1", "gpus: 0"), [])
    assert any("share study.resources.cpus=1" in str(w) for w in cpu.warnings)
