"""Adaptive seeds end to end: a study that stops early for a clear effect, continues when
`max` is raised, and after a kill -9 ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests import forked
from tests.files import status, study_trials
from tests.study.tinytask import RECIPE

runner = CliRunner()
ROOT = Path(__file__).parents[2]

DIGITS = """\
extends: {root}/recipes/digits_mlp.yaml
name: digits-adaptive
output_dir: {out}
train:
  epochs: 3
  progress: off
  scheduler: {{name: none}}
  early_stopping: {{patience: null}}
study:
  space:
    train.optimizer.lr: {{choice: [2.0e-3, 1.0e-5]}}
  seeds: {{min: 3, max: 8, decide: 0.01}}
"""

# Two widths of the tiny model whose difference is small against the seeds' noise.
TINY_ADAPTIVE = RECIPE.replace("  seeds: [0, 1]\n", "  seeds: {{min: 3, max: 3, decide: 0.001}}\n")


def seeds_by_config(trials: list[dict]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for t in trials:
        found.setdefault(t["number"], []).append(t["seed"])
    return {n: sorted(s) for n, s in found.items()}


@pytest.mark.slow
def test_a_clear_effect_on_digits_stops_before_max_and_says_what_it_saved(tmp_path):
    """lr 1e-5 against 2e-3 for 3 epochs: accuracy about 0.1 against 0.95, a difference
    tens of times the seeds' spread: the first look (3 seeds) decides it, so 6 trials run
    instead of 16."""
    path = tmp_path / "study.yaml"
    path.write_text(DIGITS.format(root=ROOT, out=tmp_path / "runs"))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    study_dir = tmp_path / "runs" / "digits-adaptive"
    trials = study_trials(study_dir)
    assert seeds_by_config(trials) == {0: [0, 1, 2], 1: [0, 1, 2]}
    assert {t["state"] for t in trials} == {"completed"}
    assert "adaptive seeds: 6 trials run, 10 saved against 8 seeds for every configuration " \
           "(16 trials)" in result.output
    assert "train.optimizer.lr=0.002: the baseline, 3 seeds" in result.output
    line = next(x for x in result.output.splitlines() if "lr=1e-05:" in x)
    assert "effect -0." in line and "worse than the baseline, after 3 seeds" in line
    # the interval printed is the group-sequential interval of the 3 paired differences
    values = {(t["number"], t["seed"]): t["value"] for t in trials}
    diffs = [values[1, s] - values[0, s] for s in range(3)]
    from model_trainer.sequential import interval

    iv = interval(diffs, 0.05, 3, 8)
    assert f"effect {iv.estimate:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}]" in line
    assert sum(diffs) / 3 < -0.5
    # a rerun has nothing left to do; the analysis reads the study as an ablation
    again = runner.invoke(app, ["run", str(path)])
    assert again.exit_code == 0 and "10 saved" in again.output
    assert all(status(study_dir / t["trial_id"])["attempts"] == 1 for t in trials)
    analyzed = runner.invoke(app, ["analyze", str(study_dir), "--no-plots"])
    assert analyzed.exit_code == 0, analyzed.output
    # ... and judges it by the run's own decision, not by a fixed-sample test
    report = (study_dir / "analysis" / "report.html").read_text()
    assert f"adaptive seeds: effect {iv.estimate:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}], worse " \
           "than the baseline, after 3 seeds" in report
    assert "paired t, 4 pairs" not in report and "adaptive seeds (up to 8 per configuration)" in report


def test_raising_max_continues_the_undecided_comparisons_in_the_same_folder(tmp_path):
    """At max = 3 nothing can be decided (3 pairs bound no interval): undecided. Raising
    max is a stateless change: the same study adds seeds 3, 4, ... to both sides."""
    path = tmp_path / "study.yaml"
    path.write_text(TINY_ADAPTIVE.format(out=tmp_path / "runs"))
    first = runner.invoke(app, ["run", str(path)])
    assert first.exit_code == 0, first.output
    assert "hidden=2: undecided after 3 seeds" in first.output
    before = study_trials(tmp_path / "runs" / "tiny-study")
    assert seeds_by_config(before) == {0: [0, 1, 2], 1: [0, 1, 2]}
    second = runner.invoke(app, ["run", str(path), "study.seeds.max=5"])
    assert second.exit_code == 0, second.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny-study"]
    after = study_trials(tmp_path / "runs" / "tiny-study")
    assert after[:6] == before
    grown = seeds_by_config(after)
    assert grown[0] == grown[1] and grown[0][:4] == [0, 1, 2, 3] and len(grown[0]) <= 5
    folder = tmp_path / "runs" / "tiny-study"
    assert all(status(folder / t["trial_id"])["attempts"] == 1 for t in after)


@pytest.mark.slow
def test_kill_9_and_rerun_ends_where_an_uninterrupted_study_ends(tmp_path):
    """Killed while the batch of seeds 3 and 4 runs (added after the look at 3 seeds), the
    rerun ends with the same trials, values and decisions as a study never killed."""
    text = TINY_ADAPTIVE.replace("max: 3", "max: 5")
    paths = {}
    for name in ("killed", "whole"):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(text.format(out=tmp_path / name))
    whole = forked.run([sys.executable, "-m", "model_trainer", "run", str(paths["whole"]),
                        "train.epochs=3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    cmd = [sys.executable, "-m", "model_trainer", "run", str(paths["killed"]), "train.epochs=3"]
    proc = forked.popen(cmd, cwd=ROOT, env={**os.environ, "TINY_SLEEP": "0.01"},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = tmp_path / "killed" / "tiny-study" / "study_index.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            trials = json.loads(index.read_text())["trials"]
        except (OSError, ValueError, KeyError):
            trials = []
        if sum(t["state"] == "completed" for t in trials) >= 7:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the study finished before it could be killed"
    assert max(t["seed"] for t in trials) == 4  # the batch was planned before the kill
    rerun = forked.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    ended = {(t["number"], t["seed"]): (t["trial_id"], t["value"])
             for t in study_trials(tmp_path / "killed" / "tiny-study")}
    expected = {(t["number"], t["seed"]): (t["trial_id"], t["value"])
                for t in study_trials(tmp_path / "whole" / "tiny-study")}
    assert ended == expected
    assert whole.stdout.splitlines()[2:] == rerun.stdout.splitlines()[2:]  # the same decisions
