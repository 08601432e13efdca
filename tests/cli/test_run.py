"""`mtrain run` exit codes as a user (or their script) sees them: 0, 1, 2 and 130."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests import forked
from tests.files import rows, status
from tests.train.tiny import RECIPE

runner = CliRunner()
ROOT = Path(__file__).parents[2]


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    return path


def test_run_then_rerun_exits_0_and_skips(recipe):
    first = runner.invoke(app, ["run", str(recipe), "train.epochs=2"])
    assert first.exit_code == 0, first.output
    assert "completed (epochs reached)" in first.output
    again = runner.invoke(app, ["run", str(recipe), "train.epochs=2"])
    assert again.exit_code == 0 and "already" in again.output


def test_divergence_exits_1_with_the_reason(recipe):
    result = runner.invoke(app, ["run", str(recipe), "train.optimizer={name: sgd, lr: 1.0e12}"])
    assert result.exit_code == 1, result.output
    assert "loss is not finite" in result.output and "Traceback" not in result.output


def test_recipe_error_exits_2_before_anything_is_written(recipe, tmp_path):
    result = runner.invoke(app, ["run", str(recipe), "train.batch_size=0"])
    assert result.exit_code == 2
    assert not (tmp_path / "runs").exists()


def test_smoke_writes_nothing(recipe, tmp_path):
    result = runner.invoke(app, ["run", str(recipe), "--smoke"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "runs").exists()


def test_smoke_says_what_it_checked_not_a_deleted_folder_nor_a_time_per_epoch(recipe):
    result = runner.invoke(app, ["run", str(recipe), "--smoke", "train.progress=plain"])
    assert result.exit_code == 0, result.output
    assert "mtrain-smoke-" not in result.output  # the temporary folder is gone by now
    assert "s/epoch" not in result.output and "epoch 1/" not in result.output
    assert "smoke test passed:" in result.output
    assert ("built the data, model and optimizer, trained 2 batches, evaluated 2 val batches, "
            "saved and reloaded a checkpoint") in result.output
    assert "nothing was kept" in result.output


def _rows_without_time(runs: Path) -> list[dict]:
    trial = next(runs.rglob("status.json")).parent
    return [{k: v for k, v in row.items() if k != "time"} for row in rows(trial)]


SIGNAL_ARGS = ["train.epochs=3", "wrapper=tests.train.tiny.SlowWrapper", "data.args.n=160",
               "train.log_every=1", "train.grad_accum=2", "model.args.dropout=0.3"]


def _run_command(recipe: Path) -> list[str]:
    return [sys.executable, "-m", "model_trainer", "run", str(recipe), *SIGNAL_ARGS]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The rows of one uninterrupted `mtrain run`, shared by the signal cases."""
    folder = tmp_path_factory.mktemp("clean")
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {folder / 'runs'}\n")
    clean = forked.run(_run_command(recipe), cwd=ROOT, env={**os.environ, "TINY_SLEEP": "0"},
                       capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    return _rows_without_time(folder / "runs")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_epoch_saves_and_the_rerun_equals_an_uninterrupted_run(
        recipe, uninterrupted, signum, code):
    """Ctrl-C or SIGTERM at a random step inside an epoch, sent by this test to a real
    `mtrain run`: exit 130 or 143, then a rerun ends with every row an uninterrupted run
    writes (bit for bit on CPU: data order, RNG streams, the accumulation state)."""
    cmd = _run_command(recipe)
    env = {**os.environ, "TINY_SLEEP": "0.03"}
    at = random.Random(signum).choice([6, 7, 8])  # optimizer steps; epoch 2 holds steps 6-10
    proc = forked.popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    runs = recipe.parent / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = [r["step"] for r in _rows_or_none(runs) if r["split"] == "train"]
        if done and max(done) >= at:
            break
        time.sleep(0.01)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output
    assert "Traceback" not in output
    trial = next(runs.rglob("status.json")).parent
    left = status(trial)
    assert left["state"] == "interrupted" and left["global_step"] >= at
    rerun = forked.run(cmd, cwd=ROOT, env={**env, "TINY_SLEEP": "0"}, capture_output=True,
                       text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert _rows_without_time(runs) == uninterrupted
    record = status(trial)
    assert record["state"] == "completed" and record["attempts"] == 2


def _rows_or_none(runs: Path) -> list[dict]:
    found = list(runs.rglob("metrics.jsonl"))
    if not found:
        return []
    try:
        return rows(found[0].parent)
    except ValueError:  # a line being written
        return []


def test_a_study_recipe_runs_as_one_experiment_with_study_null(tmp_path):
    """study=null trains the recipe's own values once: the same trial the study runs for
    that configuration and seed."""
    from model_trainer.recipe import load_recipe
    from tests.study.tinytask import RECIPE as STUDY

    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "runs"))
    study = load_recipe(path)
    expected = study.variant({"model.args.hidden": 4, "seed": 0}).trial_id
    result = runner.invoke(app, ["run", str(path), "study=null"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "runs" / "tiny-study").iterdir()] == [expected]
    assert f"{expected}: completed" in result.output
