"""`mtrain status`: a running study (started here), a finished one, one trial, an empty
folder; every number checked against the files it comes from."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests import forked
from tests.files import rows, status, study_trials
from tests.study.tinytask import RECIPE

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def status_text(*args: str) -> str:
    result = runner.invoke(app, ["status", *map(str, args)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return "\n".join(line.strip() for line in result.output.splitlines())


def line_of(text: str, start: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(start)).split()


class Study:
    """`mtrain run` in another process, reaped as soon as it exits (a zombie's pid would
    still look alive to `mtrain status`)."""

    def __init__(self, path: Path):
        self.child = forked.popen([sys.executable, "-m", "model_trainer", "run", str(path)],
                                      cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
        self.output = ""
        self.reaper = threading.Thread(target=self._reap, daemon=True)
        self.reaper.start()

    def _reap(self) -> None:
        self.output = self.child.communicate()[0]

    def wait_until(self, condition, what: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            assert self.reaper.is_alive(), f"the study ended before {what}: {self.output}"
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("finished")
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "tiny-study"


def test_a_finished_study_shows_counts_recent_trials_and_the_best(finished_study):
    text = status_text(finished_study)
    trials = study_trials(finished_study)
    best = max(trials, key=lambda t: t["value"])
    assert f"{len(trials)} done: {len(trials)} completed" in text
    assert f"best val_accuracy={best['value']:.4g}: {best['trial_id']} " \
           f"(model.args.hidden={best['params']['model.args.hidden']} seed={best['seed']})" in text
    assert "running" not in text and "driver is not running" not in text
    ended = sorted(trials, key=lambda t: status(finished_study / t["trial_id"])["ended_at"])
    newest = ended[-1]
    cells = line_of(text, newest["trial_id"])
    assert cells[1:4] == [str(newest["params"]["model.args.hidden"]), str(newest["seed"]),
                          "completed"]
    assert cells[-1] == f"{newest['value']:.4g}"


def test_one_trial_shows_its_state_epochs_last_metrics_and_checkpoints(finished_study):
    trial = study_trials(finished_study)[0]["trial_id"]
    folder = finished_study / trial
    text = status_text(folder)
    record = status(folder)
    assert f"trial {trial} in {folder}" in text
    assert line_of(text, "state") == ["state", "completed", "(epochs", "reached)"]
    assert line_of(text, "progress") == ["progress", "epoch", "2/2,", "step",
                                         f"{record['global_step']},", "attempt", "1"]
    last_val = rows(folder, "val")[-1]["metrics"]
    assert line_of(text, "last val")[2:] == [f"val_{k}={v:.4g}" for k, v in last_val.items()]
    assert line_of(text, "best")[1:] == [
        f"val_accuracy={record['best']['value']:.4g}", "at", "epoch", str(record["best"]["epoch"])]
    checkpoints = " ".join(line_of(text, "checkpoints"))
    on_disk = sorted(p.name for p in (folder / "checkpoints").glob("*.pt"))
    assert {"best.pt", "last.pt"} <= set(on_disk)
    for name in on_disk:
        assert name in checkpoints


def test_a_folder_without_trials_is_an_error_with_exit_code_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["status", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "holds no trial" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["status", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such folder" in result.output


def test_a_failed_trial_shows_its_error(tmp_path):
    path = tmp_path / "study.yaml"
    text = RECIPE.format(out=tmp_path / "runs").replace(
        "{choice: [2, 4]}", "{choice: [2, 4]}\n    model.args.fail: {choice: [none, raise]}")
    path.write_text(text.replace("  seeds: [0, 1]\n", "  seeds: [0]\n"))
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    text = status_text(tmp_path / "runs" / "tiny-study")
    failed = [t for t in study_trials(tmp_path / "runs" / "tiny-study") if t["state"] == "failed"]
    assert len(failed) == 2 and "4 done: 2 completed, 2 failed" in text
    for trial in failed:
        assert trial["trial_id"] in text
    assert "RuntimeError: boom in forward" in text


@pytest.mark.slow
def test_a_running_study_from_another_terminal_and_watch_until_it_ends(tmp_path):
    path = tmp_path / "study.yaml"
    slow = RECIPE.format(out=tmp_path / "runs").replace("args: {hidden: 4}",
                                                        "args: {hidden: 4, sleep: 0.05}")
    path.write_text(slow.replace("epochs: 2", "epochs: 5").replace("seeds: [0, 1]", "seeds: [0]"))
    study_dir = tmp_path / "runs" / "tiny-study"
    study = Study(path)
    try:
        def first_evaluation():
            for metrics in study_dir.glob("*/metrics.jsonl"):
                if '"split": "val"' in metrics.read_text():
                    return metrics.parent
            return None

        folder = study.wait_until(first_evaluation, "a trial evaluated")
        text = status_text(study_dir)
        assert "running (1)" in text
        cells = line_of(text, folder.name)
        hidden = status(folder)["study"]["params"]["model.args.hidden"]
        assert cells[1:3] == [str(hidden), str(status(folder)["study"]["seed"])]
        done, total = map(int, cells[3].split("/"))
        assert total == 5 and 1 <= done <= 5
        # a trial on its own, while it runs
        trial_text = status_text(folder)
        assert line_of(trial_text, "state") == ["state", "running"]
        # --watch redraws until the driver has finished, then exits 0
        watched = runner.invoke(app, ["status", str(study_dir), "--watch", "--interval", "0.2"],
                                env={"COLUMNS": "200"})
        assert watched.exit_code == 0, watched.output
        study.reaper.join(timeout=120)
        assert study.child.returncode == 0, study.output
        snapshots = watched.output.split("study-")  # one header per redraw
        assert len(snapshots) >= 3
        assert "running (1)" in snapshots[1] and "2 done: 2 completed" in snapshots[-1]
    finally:
        if study.child.poll() is None:
            study.child.kill()
        study.reaper.join()


def test_a_folder_of_single_runs_lists_them(tmp_path):
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load

    results = [run_experiment(load(tmp_path, f"seed={seed}", "train.epochs=1"), threads=1)
               for seed in (0, 1)]
    text = status_text(tmp_path / "tiny")
    best = max(results, key=lambda r: r.best["value"] if r.best["mode"] == "max"
               else -r.best["value"])
    assert "trials in" in text and "2 done: 2 completed" in text
    assert f"best {best.best['metric']}={best.best['value']:.4g}: {best.trial_id}\n" in text


def test_watch_of_a_study_in_storage_follows_it_until_it_ends(tiny_study, tmp_path, monkeypatch):
    """`status --watch s3://...` fetches what changed in storage before each redraw (it
    redrew the first copy forever): only the objects that changed, a failed fetch is a
    warning that keeps the last copy, and a trial that completes in storage ends it."""
    import json
    import uuid

    import fsspec

    from model_trainer.cli import status as status_command
    from model_trainer.storage import Storage, StorageError

    monkeypatch.setenv("MTRAIN_CACHE", str(tmp_path / "cache"))
    uri = f"memory://bucket-{uuid.uuid4().hex[:8]}/runs"
    fsspec.filesystem("memory").pipe(uri.removeprefix("memory://") + "/.keep", b"")
    storage = Storage(uri)
    study = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    running = study / study_trials(study)[0]["trial_id"]
    for path in study.rglob("*"):
        rel = f"{study.name}/{path.relative_to(study)}"
        if path.is_file() and path.name != "study_index.json" and "checkpoints" not in rel:
            storage.write(rel, path.read_bytes())  # as a running driver has left it so far
    done = (running / "status.json").read_bytes()
    storage.write(f"{study.name}/{running.name}/status.json",
                  json.dumps({**json.loads(done), "state": "running"}).encode())
    fetched, sleeps = [], []
    copy = Storage._copy
    monkeypatch.setattr(Storage, "_copy", lambda self, source, out: (
        fetched.append(source.rsplit("/", 2)[-2:]), copy(self, source, out)))
    check = Storage.check

    def flaky_check(self):  # storage unreachable at the first redraw only
        if len(sleeps) == 1:
            raise StorageError(f"{self.uri}: cannot list: ConnectTimeoutError")
        check(self)

    def sleep(seconds):  # the trial completes in storage during the second wait
        sleeps.append(seconds)
        fetched.clear()
        if len(sleeps) > 4:
            raise KeyboardInterrupt  # the watch did not end: stop the test
        if len(sleeps) == 2:
            storage.write(f"{study.name}/{running.name}/status.json", done)

    monkeypatch.setattr(Storage, "check", flaky_check)
    monkeypatch.setattr(status_command.time, "sleep", sleep)
    result = runner.invoke(app, ["status", f"{uri}/{study.name}", "--watch", "--interval",
                                 "0.2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len(sleeps) == 2, result.output
    assert "warning:" in result.output and "ConnectTimeoutError" in result.output
    assert fetched == [[running.name, "status.json"]]  # the one object that changed
    snapshots = result.output.split("trials in ")[1:]  # one per redraw: three
    assert len(snapshots) == 3 and "3 completed; 1 running" in snapshots[1], result.output
    assert "4 done: 4 completed" in snapshots[2] and "running" not in snapshots[2]
