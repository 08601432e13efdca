"""Studies end to end: grid x seeds, failure policy on Ray, kill -9 and rerun, growth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.journal import read_index
from tests import forked
from tests.files import rows, status, study_trials
from tests.study.tinytask import RECIPE

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def write_recipe(tmp_path, extra="", **fmt):
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs", **fmt) + extra)
    return path


def trials_of(tmp_path, name="tiny-study"):
    return study_trials(tmp_path / "runs" / name)


def status_of(tmp_path, trial_id, name="tiny-study"):
    return status(tmp_path / "runs" / name / trial_id)


def test_grid_times_seeds_runs_each_trial_exactly_once(tmp_path):
    path = write_recipe(tmp_path)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    trials = trials_of(tmp_path)
    assert len(trials) == 4 and {t["state"] for t in trials} == {"completed"}
    assert sorted((t["params"]["model.args.hidden"], t["seed"]) for t in trials) == \
        [(2, 0), (2, 1), (4, 0), (4, 1)]
    assert len({t["trial_id"] for t in trials}) == 4
    for t in trials:
        record = status_of(tmp_path, t["trial_id"])
        assert record["state"] == "completed" and record["attempts"] == 1
        assert record["study"]["params"] == t["params"]
    study_folder = tmp_path / "runs" / "tiny-study"
    assert (study_folder / "study.yaml").exists()
    assert sorted(p.name for p in study_folder.iterdir() if p.is_dir()) == \
        sorted(t["trial_id"] for t in trials)
    # a rerun finds everything finished and runs nothing
    again = runner.invoke(app, ["run", str(path)])
    assert again.exit_code == 0
    assert all(status_of(tmp_path, t["trial_id"])["attempts"] == 1 for t in trials)


def test_raising_trials_adds_only_new_configurations(tmp_path):
    extra_space = "  sampler: random\n  trials: {n}\n"
    path = tmp_path / "study.yaml"
    text = RECIPE.format(out=tmp_path / "runs").replace("  seeds: [0, 1]\n", "  seeds: [0]\n")
    text = text.replace("{choice: [2, 4]}", "{int: [2, 9]}")
    path.write_text(text + extra_space.format(n=2))
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    first = trials_of(tmp_path)
    assert len(first) == 2
    result = runner.invoke(app, ["run", str(path), "study.trials=3"])
    assert result.exit_code == 0, result.output
    trials = trials_of(tmp_path)
    assert len(trials) == 3 and [t["number"] for t in trials] == [0, 1, 2]
    assert trials[:2] == first
    assert all(status_of(tmp_path, t["trial_id"])["attempts"] == 1 for t in trials)


def test_a_random_study_never_runs_a_configuration_twice_and_says_the_space_is_small(tmp_path):
    path = tmp_path / "study.yaml"
    text = RECIPE.format(out=tmp_path / "runs").replace("  seeds: [0, 1]\n", "  seeds: [0]\n")
    path.write_text(text + "  sampler: random\n  trials: 10\n")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "holds only 2 distinct configurations" in result.output
    trials = trials_of(tmp_path)
    assert sorted(t["params"]["model.args.hidden"] for t in trials) == [2, 4]
    assert "2 completed" in result.output
    analyzed = runner.invoke(app, ["analyze", str(tmp_path / "runs"), "--no-plots"])
    assert analyzed.exit_code == 0, analyzed.output
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "runs" / "analysis" / "trials.csv")) == 2


def test_changing_the_base_recipe_makes_another_study_folder(tmp_path):
    path = write_recipe(tmp_path)
    assert runner.invoke(app, ["run", str(path), "study.seeds=[0]"]).exit_code == 0
    assert runner.invoke(app, ["run", str(path), "study.seeds=[0]",
                               "train.batch_size=8"]).exit_code == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and folders[0] == "tiny-study"
    assert folders[1].startswith("tiny-study-study-")


@pytest.mark.parametrize(("override", "message"), [
    ("study.space={model.args.hiddn: {choice: [1]}}", "no recipe attribute"),
    ("study.space={train.epochs: {choice: [1, 2]}}", "is stateless"),
    ("study.resources.gpus=1", "no GPU"),
    ("study.resources.cpus=9999", "CPUs"),
])
def test_bad_study_section_exits_2_before_anything_runs(tmp_path, override, message):
    if "gpus" in override:
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["run", str(write_recipe(tmp_path)), override])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_failure_policy(tmp_path, request, executor):
    """One trial raises (retried, then failed), one diverges (not retried), one kills its
    worker (retried and completes), one is fine: the study finishes with exit 0."""
    if executor == "ray":
        request.getfixturevalue("ray_local")  # one Ray for the test session
    marker = tmp_path / "killed-once"
    text = RECIPE.format(out=tmp_path / "runs").replace(
        "  args: {hidden: 4}\n", f"  args: {{hidden: 4, marker: '{marker}'}}\n").replace(
        "    model.args.hidden: {choice: [2, 4]}\n",
        "    model.args.fail: {choice: [none, raise, nan, kill]}\n").replace(
        "  seeds: [0, 1]\n", "  seeds: [0]\n  concurrency: 2\n  retries: 1\n")
    path = tmp_path / "study.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["run", str(path), f"study.executor={executor}"])
    assert result.exit_code == 0, result.output
    by_fail = {t["params"]["model.args.fail"]: t for t in trials_of(tmp_path)}
    assert by_fail["none"]["state"] == "completed"
    assert by_fail["raise"]["state"] == "failed" and by_fail["raise"]["attempts"] == 2
    assert "boom in forward" in by_fail["raise"]["error"]
    assert by_fail["nan"]["state"] == "failed" and by_fail["nan"]["attempts"] == 1
    assert by_fail["nan"]["stop_reason"] == "diverged"
    assert by_fail["kill"]["state"] == "completed" and by_fail["kill"]["attempts"] == 2
    assert marker.exists()
    record = status_of(tmp_path, by_fail["raise"]["trial_id"])
    assert record["state"] == "failed" and "boom in forward" in record["error"]["traceback"]


@pytest.mark.slow
def test_every_trial_failing_exits_1(tmp_path):
    result = runner.invoke(app, ["run", str(write_recipe(tmp_path)), "model.args.fail=raise",
                                 "study.seeds=[0]"])
    assert result.exit_code == 1, result.output
    assert "every trial" in result.output and "boom in forward" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 2], ids=["inline", "local"])
def test_driver_kill_9_and_rerun_runs_no_trial_twice(tmp_path, concurrency):
    path = write_recipe(tmp_path)
    cmd = [sys.executable, "-m", "model_trainer", "run", str(path), "train.epochs=3",
           f"study.concurrency={concurrency}"]
    proc = forked.popen(cmd, cwd=ROOT, env={**os.environ, "TINY_SLEEP": "0.03"},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index_path = tmp_path / "runs" / "tiny-study" / "study_index.json"
    deadline = time.monotonic() + 120
    killed_while = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            trials = (read_index(index_path) or {"trials": []})["trials"]
            states = [t["state"] for t in trials]
            running = [t for t in trials if t["state"] == "running"]
            started = running and status_of(tmp_path, running[0]["trial_id"])["epochs_done"] >= 1
        except (OSError, ValueError, KeyError):
            states, started = [], False
        if "completed" in states and started:
            os.kill(proc.pid, signal.SIGKILL)
            killed_while = states
            study = tmp_path / "runs" / "tiny-study"
            had_started = {t["trial_id"] for t in trials
                           if (study / t["trial_id"] / "status.json").exists()}
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed_while is not None, "the study finished before it could be killed"
    before = {t["trial_id"]: t["state"] for t in trials_of(tmp_path)}
    rerun = forked.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    trials = trials_of(tmp_path)
    assert len(trials) == 4 and {t["state"] for t in trials} == {"completed"}
    for t in trials:
        attempts = status_of(tmp_path, t["trial_id"])["attempts"]
        if before.get(t["trial_id"]) == "completed":
            assert attempts == 1  # finished before the kill: not run again
        if before.get(t["trial_id"]) == "running" and t["trial_id"] in had_started:
            # in flight at the kill: continued from its checkpoint (or, in a worker, done
            # in the moment before the worker followed its driver): never trained twice
            assert attempts in (1, 2)
        trial = tmp_path / "runs" / "tiny-study" / t["trial_id"]
        assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3]
    dirs = [p for p in (tmp_path / "runs" / "tiny-study").iterdir() if p.is_dir()]
    assert len(dirs) == 4


def test_median_pruner_stops_a_poor_trial_and_keeps_its_metrics(tmp_path):
    text = RECIPE.format(out=tmp_path / "runs").replace(
        "    model.args.hidden: {choice: [2, 4]}\n",
        "    train.optimizer.lr: {choice: [0.05, 0.04, 0.03, 0.02, 1.0e-9]}\n").replace(
        "  seeds: [0, 1]\n", "  seeds: [0]\n  pruner: median\n").replace(
        "  epochs: 2\n", "  epochs: 5\n").replace("  args: {hidden: 4}\n", "  args: {hidden: 8}\n")
    path = tmp_path / "study.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    trials = {t["params"]["train.optimizer.lr"]: t for t in trials_of(tmp_path)}
    assert [trials[lr]["state"] for lr in (0.05, 0.04, 0.03, 0.02)] == ["completed"] * 4
    poor = trials[1.0e-9]
    assert poor["state"] == "pruned"
    record = status_of(tmp_path, poor["trial_id"])
    assert record["state"] == "pruned" and record["epochs_done"] < 5
    assert rows(tmp_path / "runs" / "tiny-study" / poor["trial_id"], "val")
    assert f"trial {poor['trial_id']} pruned" in result.output


@pytest.mark.parametrize("pruner", ["{kind: successive_halving}", "{kind: hyperband}",
                                    "{kind: hyperband, min_epochs: 2, reduction_factor: 2}"])
def test_rung_pruners_stop_a_poor_configuration_early(tmp_path, pruner):
    """Two seeds of four good learning rates, then of a learning rate that learns nothing:
    at its first rung each poor trial meets better ones and stops there."""
    text = RECIPE.format(out=tmp_path / "runs").replace(
        "    model.args.hidden: {choice: [2, 4]}\n",
        "    train.optimizer.lr: {choice: [0.05, 0.04, 0.03, 0.02, 1.0e-9]}\n").replace(
        "  seeds: [0, 1]\n", f"  seeds: [0, 1]\n  pruner: {pruner}\n").replace(
        "  epochs: 2\n", "  epochs: 5\n").replace("  args: {hidden: 4}\n", "  args: {hidden: 8}\n")
    path = tmp_path / "study.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    trials = trials_of(tmp_path)
    poor = [t for t in trials if t["params"]["train.optimizer.lr"] == 1.0e-9]
    assert len(poor) == 2 and {t["state"] for t in poor} == {"pruned"}
    for t in poor:
        record = status_of(tmp_path, t["trial_id"])
        assert record["state"] == "pruned" and record["epochs_done"] < 5
        assert rows(tmp_path / "runs" / "tiny-study" / t["trial_id"], "val")
        assert f"trial {t['trial_id']} pruned" in result.output
    assert trials[0]["state"] == "completed"  # the first to reach a rung always goes on


def test_force_on_a_study_is_a_usage_error_not_silently_ignored(tmp_path):
    result = runner.invoke(app, ["run", str(write_recipe(tmp_path)), "--force"])
    assert result.exit_code == 2 and "start a study over" in result.output
    assert not (tmp_path / "runs").exists()


def test_smoke_on_a_study_checks_the_base_recipe_and_writes_nothing(tmp_path):
    result = runner.invoke(app, ["run", str(write_recipe(tmp_path)), "--smoke"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "runs").exists()


def test_a_new_monitor_on_rerun_reads_the_values_again_instead_of_mixing_metrics(tmp_path,
                                                                               tiny_study):
    result = runner.invoke(app, ["run", str(tiny_study),
                                 "train.monitor={metric: val_loss, mode: min}"])
    assert result.exit_code == 0, result.output
    assert "objective changed from val_accuracy (max) to val_loss (min)" in result.output
    for t in trials_of(tmp_path):
        losses = [r["metrics"]["loss"] for r in rows(tmp_path / "runs" / "tiny-study" /
                                                     t["trial_id"], "val")]
        assert t["value"] == pytest.approx(min(losses))  # the new metric, not the old one



RERUN = """\
import sys
from model_trainer.api import run
result = run(sys.argv[1], sys.argv[2:])
print(result.summary())
print("torch imported:", "torch" in sys.modules)
"""


def user_module_study(tmp_path, monkeypatch):
    """The tiny study with its model in a module of the user's own (tmp_path/usermod.py)."""
    (tmp_path / "usermod.py").write_text("from tests.study.tinytask import Tiny, make_loader\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(ROOT)]))
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace("tests.study.tinytask.", "usermod."))
    return path


def rerun(path, *overrides, fresh: bool = False) -> tuple[str, bool]:
    """(the summary, whether it took the full path) of `model_trainer.run` in a process of
    its own. The full path opens the study: it takes the study folder's lock, which then
    names its pid; the fast path only reads files. In a fresh interpreter the fast path
    is also the one that never imports torch, and that is checked too."""
    command = [sys.executable, "-c", RERUN, str(path), *overrides]
    start = subprocess.Popen if fresh else forked.popen
    proc = start(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary, imported = out.rstrip("\n").rsplit("\n", 1)
    locked = [json.loads(lock.read_text()).get("pid") for lock in
              (Path(path).parent / "runs").glob("*/.lock")]
    full = proc.pid in locked
    if fresh:
        assert full == (imported == "torch imported: True"), (full, imported)
    return summary, full


def test_a_finished_study_reruns_from_its_files_without_importing_torch(tmp_path, monkeypatch):
    path = user_module_study(tmp_path, monkeypatch)
    first, full = rerun(path)  # runs the study
    assert full and "4 completed" in first
    summary, full = rerun(path, fresh=True)
    assert summary == first and not full
    # the CLI says the same (from another sys.path: it takes the full path), runs nothing
    again = runner.invoke(app, ["run", str(path)])
    assert again.exit_code == 0 and again.stdout.strip() == first
    assert all(status_of(tmp_path, t["trial_id"])["attempts"] == 1 for t in trials_of(tmp_path))


def test_only_a_recipe_that_may_run_a_study_is_peeked_at_before_loading(tmp_path):
    """A single run is not validated twice; a study in a base file, an override or -m is."""
    from model_trainer.recipe.load import may_run_a_study

    (tmp_path / "base.yaml").write_text("study: {concurrency: 1}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: x\n")
    (tmp_path / "single.yaml").write_text("name: x\ntrain: {epochs: 1}\n")
    (tmp_path / "claim.yaml").write_text("name: x\nhypothesis: {}\n")
    single = tmp_path / "single.yaml"
    assert may_run_a_study(tmp_path / "child.yaml") and may_run_a_study(tmp_path / "claim.yaml")
    assert not may_run_a_study(single) and not may_run_a_study(single, ["train.epochs=2"])
    assert may_run_a_study(single, ["study.concurrency=2"])
    assert may_run_a_study(single, ["+study={concurrency: 2}"])
    assert may_run_a_study(single, ["seed=0,1"], multirun=True)
    assert may_run_a_study(tmp_path / "missing.yaml")  # the full load says what is wrong


@pytest.mark.slow
def test_a_rerun_that_may_have_work_takes_the_full_path(tmp_path, monkeypatch):
    path = user_module_study(tmp_path, monkeypatch)
    assert rerun(path)[1]
    # another override: not the recipe that finished (the full path finds nothing to do)
    summary, full = rerun(path, "study.concurrency=2")
    assert full and summary.startswith("study ") and "4 completed" in summary
    assert not rerun(path, "study.concurrency=2", fresh=True)[1]  # now it is
    # the user's module edited since: its classes may give other trial ids
    with (tmp_path / "usermod.py").open("a") as module:
        module.write("# edited\n")
    assert rerun(path, "study.concurrency=2")[1]
    assert not rerun(path, "study.concurrency=2", fresh=True)[1]
    # a trial folder deleted: the full path runs that trial again
    gone = trials_of(tmp_path)[0]["trial_id"]
    shutil.rmtree(tmp_path / "runs" / "tiny-study" / gone)
    assert rerun(path, "study.concurrency=2")[1]
    assert status_of(tmp_path, gone)["state"] == "completed"
    assert all(status_of(tmp_path, t["trial_id"])["attempts"] == 1 for t in trials_of(tmp_path))
    # the study folder renamed to start over: the rerun starts a new study, not the old one's
    (tmp_path / "runs" / "tiny-study").rename(tmp_path / "runs" / "tiny-study-old")
    assert rerun(path, "study.concurrency=2")[1]
    assert (tmp_path / "runs" / "tiny-study" / "study_index.json").exists()


def test_a_study_stopped_while_it_writes_its_first_files_runs_on_rerun(tmp_path, monkeypatch):
    """SIGTERM (here: the interrupt it becomes) right after the study folder got its
    recipe file: the rerun runs the study (it found study.yaml without an index and
    refused the folder as one that no file names the study of)."""
    import model_trainer
    from model_trainer.errors import Interrupted
    from model_trainer.layout import STUDY_RECIPE
    from model_trainer.study import runner as study_runner

    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    one_trial = ["study.concurrency=1", "study.seeds=[0]",
                 "study.space={model.args.hidden: {choice: [2]}}"]
    write = study_runner.atomic_write_bytes

    def stopped_after(target, data, *args, **kwargs):
        write(target, data, *args, **kwargs)
        if Path(target).name == STUDY_RECIPE:
            raise KeyboardInterrupt  # the signal lands right after this write

    monkeypatch.setattr(study_runner, "atomic_write_bytes", stopped_after)
    with pytest.raises((Interrupted, KeyboardInterrupt)):
        model_trainer.run(path, one_trial)
    monkeypatch.undo()
    result = model_trainer.run(path, one_trial)
    assert result.counts.get("completed") == 1, result.counts
