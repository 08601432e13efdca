"""Corrupt files, a read-only output folder and a full disk: a clear message, a safe
continuation where one exists, and nothing already written lost."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.trial.experiment import run_experiment
from tests.files import rows, status
from tests.train.tiny import RECIPE, load

runner = CliRunner()


def first_run(out: Path, epochs: int = 2):
    return run_experiment(load(out, f"train.epochs={epochs}"), threads=1)


def cli_run(tmp_path: Path, out: Path, *overrides: str):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    return runner.invoke(app, ["run", str(recipe), f"output_dir={out}", *overrides])


def test_zeroed_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    every = "train.checkpoint_min_interval_s=0"  # a checkpoint per epoch: a previous one
    trial = run_experiment(load(tmp_path, "train.epochs=2", every), threads=1).trial_dir
    (trial / "checkpoints" / "last.pt").write_bytes(b"\0" * 4096)
    resumed = run_experiment(load(tmp_path, "train.epochs=3", every), threads=1)
    assert resumed.state == "completed" and resumed.epochs_done == 3
    assert "last.pt" in caplog.text  # the fallback is said, not silent


def test_all_checkpoints_zeroed_is_a_clear_exit_2_and_nothing_is_deleted(tmp_path):
    trial = first_run(tmp_path / "runs").trial_dir
    for path in (trial / "checkpoints").glob("*.pt"):
        path.write_bytes(b"\0" * 4096)
    kept = ("checkpoints", "metrics.jsonl", "recipe.yaml")
    data = ("checkpoints", "metrics.jsonl")  # status and recipe say what the last attempt did
    before = {p: p.read_bytes() for p in trial.rglob("*") if p.is_file() and (p.parent.name in data
              or p.name in data)}
    result = cli_run(tmp_path, tmp_path / "runs", "train.epochs=3")
    assert result.exit_code == 2, result.output
    assert "--force" in result.output and "Traceback" not in result.output
    after = {p: p.read_bytes() for p in trial.rglob("*") if p.is_file() and (p.parent.name in data
             or p.name in data)}
    assert after == before and all((trial / k).exists() for k in kept)
    status(trial)  # still valid JSON


def test_truncated_metrics_line_is_dropped_on_resume(tmp_path):
    trial = first_run(tmp_path).trial_dir
    metrics = trial / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 99, "epoch": 3, "split": "va')
    run_experiment(load(tmp_path, "train.epochs=3"), threads=1)
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3]


def test_garbage_status_is_reported_and_the_run_continues_from_its_checkpoint(tmp_path, caplog):
    trial = first_run(tmp_path).trial_dir
    (trial / "status.json").write_text("{not json")
    resumed = run_experiment(load(tmp_path, "train.epochs=3"), threads=1)
    assert resumed.state == "completed" and resumed.epochs_done == 3
    assert "status.json" in caplog.text
    assert status(trial)["state"] == "completed"
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3]  # not from zero


def snapshot(trial: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (trial / "checkpoints").glob("*.pt")}


def test_read_only_output_folder_is_a_clear_error_and_files_survive(tmp_path, tmpfs):
    trial = first_run(tmpfs / "runs").trial_dir
    before = snapshot(trial)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = cli_run(tmp_path, tmpfs / "runs", "train.epochs=3")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "read-only" in result.output.lower() or "permission" in result.output.lower()
    assert snapshot(trial) == before


def test_full_disk_is_a_clear_error_and_the_previous_checkpoint_is_intact(tmp_path, tmpfs):
    trial = first_run(tmpfs / "runs").trial_dir
    before = snapshot(trial)
    last_state = torch.load(trial / "checkpoints" / "last.pt", weights_only=True)
    filler = tmpfs / "filler"
    try:  # fill the disk to the last few bytes
        with filler.open("wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass
    result = cli_run(tmp_path, tmpfs / "runs", "train.epochs=4")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "No space left" in result.output or "no space" in result.output.lower()
    filler.unlink()
    assert snapshot(trial) == before
    state = torch.load(trial / "checkpoints" / "last.pt", weights_only=True)
    assert state["loop"] == last_state["loop"]
    assert status(trial)["trial_id"] == trial.name  # still valid JSON
