"""study.executor: slurm against a real one-node SLURM (Debian's slurm-wlm): trials as
jobs, requeue and preemption resumed exactly, an out-of-memory job, a driver killed and
rerun that re-attaches to its jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import model_trainer
from model_trainer.errors import TrainingError
from tests.study.tinytask import RECIPE

ROOT = Path(__file__).parents[2]
SLURM = "  concurrency: 2\n  executor: slurm\n  slurm: {poll_s: 0.5}\n"


def write_study(folder: Path, extra: str = "", study: str = SLURM) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(RECIPE.format(out=folder / "runs") + study + extra)
    return path


def index(study_dir: Path) -> list[dict]:
    return json.loads((study_dir / "study_index.json").read_text())["trials"]


def job_of(study_dir: Path, trial_id: str) -> str | None:
    found = study_dir / ".slurm" / trial_id / "job.json"
    return json.loads(found.read_text())["job_id"] if found.exists() else None


def weights(trial_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def squeue(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "--states=all", "-j", job, "-o", "%T"],
                         capture_output=True, text=True).stdout.strip()
    return out


def wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_a_grid_study_runs_as_one_array_with_the_values_of_a_local_run(slurm, tmp_path):
    result = model_trainer.run(str(write_study(tmp_path / "slurm")))
    local = model_trainer.run(str(write_study(tmp_path / "local", study="  concurrency: 2\n")))
    jobs = {t["trial_id"]: t for t in index(result.study_dir)}
    assert [t["state"] for t in jobs.values()] == ["completed"] * 4
    for trial in index(local.study_dir):
        assert jobs[trial["trial_id"]]["value"] == trial["value"]
        ran = weights(result.study_dir / trial["trial_id"])
        assert all(torch.equal(ran[k], v) for k, v in
                   weights(local.study_dir / trial["trial_id"]).items())
    outputs = sorted(p.name for p in (result.study_dir / ".slurm").glob("slurm-*_*.out"))
    arrays = {name.split("_")[0] for name in outputs}
    assert len(outputs) == 4 and len(arrays) == 1, outputs  # one array, a task a trial


def _run_driver(path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "model_trainer", "run", str(path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _rows(trial_dir: Path) -> int:
    metrics = trial_dir / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.exists() else 0


ONE_SLOW_TRIAL = RECIPE.replace("{{choice: [2, 4]}}", "{{choice: [4]}}").replace(
    "seeds: [0, 1]", "seeds: [0]").replace("epochs: 2", "epochs: 4")


@pytest.mark.parametrize("interruption", ["requeue", "preemption"])
def test_a_requeued_or_preempted_trial_continues_exactly(slurm, tmp_path, interruption):
    """One slow trial (4 epochs of 4 steps, 0.3 s each): SLURM requeues its job mid-run
    (`scontrol requeue`, or a job of the higher partition that needs every CPU); the
    trial saves on SIGTERM, the requeued job continues it, and its weights equal a
    straight local run's, tensor for tensor."""
    path = tmp_path / "study.yaml"
    path.write_text(ONE_SLOW_TRIAL.format(out=tmp_path / "runs") + SLURM)
    driver = _run_driver(path, {**os.environ, "TINY_SLEEP": "0.3"})
    study_dir = tmp_path / "runs" / "tiny-study"
    wait_for(lambda: list(study_dir.glob(".slurm/*/job.json")), what="the trial's job")
    trial = next(study_dir.glob(".slurm/*/job.json")).parent.name
    wait_for(lambda: _rows(study_dir / trial) >= 2, what="the trial's first epoch")
    job = job_of(study_dir, trial)
    if interruption == "requeue":
        subprocess.run(["scontrol", "requeue", job], check=True)
    else:
        subprocess.run(["sbatch", "--partition=high", f"--cpus-per-task={os.cpu_count()}",
                        "--output=/dev/null",
                        "--wrap", "sleep 1"], check=True, capture_output=True)
    wait_for(lambda: squeue(job) in ("PENDING", "REQUEUED", "REQUEUE_HOLD"), 60,
             "the job back in the queue")
    subprocess.run(["scontrol", "release", job], capture_output=True)  # a requeue holds it
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"],
                   capture_output=True)
    out, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, out
    (record,) = index(study_dir)
    assert record["state"] == "completed" and record["attempts"] == 1, record
    log = next((study_dir / ".slurm" / trial).glob("slurm-*.out")).read_text()
    ours = [line for line in log.splitlines() if not line.startswith("slurmstepd")]
    assert any("saving" in line for line in ours), log  # it saved on SIGTERM
    assert not any("error" in line.lower() for line in ours), log  # SLURM's line is its own
    status = json.loads((study_dir / trial / "status.json").read_text())
    assert status["epochs_done"] == 4
    straight = tmp_path / "straight.yaml"
    straight.write_text(ONE_SLOW_TRIAL.format(out=tmp_path / "straight"))
    alone = model_trainer.run(str(straight), overrides=["~study"])
    assert alone.trial_id == trial
    ran = weights(study_dir / trial)
    assert all(torch.equal(ran[k], v) for k, v in weights(alone.trial_dir).items())


def test_a_job_out_of_memory_is_a_failed_trial_with_slurms_reason(slurm, tmp_path):
    """A trial that holds 1 GiB in a job of 300 MB: SLURM kills it (cgroup memory limit),
    the trial fails with SLURM's words, and study.retries tries it once more."""
    if "task/cgroup" not in (slurm / "plugins").read_text():
        pytest.skip("this SLURM runs without cgroups: --mem is not enforced")
    path = tmp_path / "study.yaml"
    path.write_text(ONE_SLOW_TRIAL.replace("args: {{hidden: 4}}", "args: {{hidden: 4, fail: oom}}")
                    .format(out=tmp_path / "runs")
                    + SLURM.replace("{poll_s: 0.5}", "{poll_s: 0.5, mem: 300M}")
                    + "  retries: 1\n")
    with pytest.raises(TrainingError, match=r"SLURM job \d+ ended OUT_OF_MEMORY"):
        model_trainer.run(str(path))
    (record,) = index(tmp_path / "runs" / "tiny-study")
    assert record["state"] == "failed" and record["attempts"] == 2, record
    assert "OUT_OF_MEMORY" in record["error"] and "raise study.slurm.mem" in record["error"]


def test_a_driver_killed_and_rerun_reattaches_to_its_jobs(slurm, tmp_path):
    """The driver is SIGKILLed while two tasks of its array train and two wait; the rerun
    submits nothing new (every output file is a task of the first array, one a trial) and
    the study completes."""
    path = write_study(tmp_path)
    path.write_text(path.read_text().replace("epochs: 2", "epochs: 3"))
    env = {**os.environ, "TINY_SLEEP": "0.2"}
    driver = _run_driver(path, env)
    study_dir = tmp_path / "runs" / "tiny-study"
    wait_for(lambda: sum(_rows(study_dir / f.parent.name) >= 1
                         for f in study_dir.glob(".slurm/*/job.json")) >= 2,
             what="two tasks training")
    driver.kill()
    driver.communicate()
    again = _run_driver(path, env)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert [t["state"] for t in index(study_dir)] == ["completed"] * 4
    outputs = sorted(p.name for p in (study_dir / ".slurm").glob("slurm-*.out"))
    assert len(outputs) == 4 and len({name.split("_")[0] for name in outputs}) == 1, outputs
