"""One writer per trial and per study: a second `mtrain run` on a folder another live
process owns exits with the holder's name and changes nothing; a dead holder's lock is
taken over. Folders deleted or garbled between runs are noticed, not papered over."""

from __future__ import annotations

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
from model_trainer.errors import FolderLocked
from model_trainer.locks import FolderLock
from tests import forked
from tests.files import rows, status, study_trials
from tests.study.tinytask import RECIPE as STUDY
from tests.train.tiny import RECIPE

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_lock_names_its_holder_and_is_free_again_once_released(tmp_path):
    with FolderLock(tmp_path / "t", "trial"):
        with pytest.raises(FolderLocked, match=rf"pid {os.getpid()} on host .* since"):
            FolderLock(tmp_path / "t", "trial").acquire()
    with FolderLock(tmp_path / "t", "trial"):
        pass


def _start(cmd: list[str], sleep: str) -> subprocess.Popen:
    return forked.popen(cmd, cwd=ROOT, env={**os.environ, "TINY_SLEEP": sleep},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(root: Path, pattern: str, proc: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(root.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(proc.stdout.read() if proc.stdout else "no file appeared")


def _slow_run_command(tmp_path):
    """`mtrain run` of a 3-epoch tiny recipe slow enough to catch in the middle."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    return [sys.executable, "-m", "model_trainer", "run", str(recipe), "train.epochs=3",
            "wrapper=tests.train.tiny.SlowWrapper", "data.args.n=160",
            "train.checkpoint_min_interval_s=0"]


@pytest.mark.slow
def test_two_runs_of_one_recipe_at_once_train_it_once(tmp_path):
    cmd = _slow_run_command(tmp_path)
    first = _start(cmd, "0.05")
    try:
        _wait_for(tmp_path / "runs", "tiny/*/checkpoints/last.pt", first)
        trial = next((tmp_path / "runs" / "tiny").iterdir())
        first.send_signal(signal.SIGSTOP)  # frozen: any change now is the second run's
        before = _snapshot(trial)
        second = forked.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        after = _snapshot(trial)
        first.send_signal(signal.SIGCONT)
    finally:
        output, _ = first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid} on host" in second.stderr and "is in use" in second.stderr
    assert "Traceback" not in second.stderr
    assert after == before  # the second run changed no file
    assert first.returncode == 0, output
    assert status(trial)["attempts"] == 1
    assert [r["epoch"] for r in rows(trial, "val")] == [1, 2, 3]  # each row once


@pytest.mark.slow
def test_a_second_driver_of_a_running_study_is_refused(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "runs"))
    cmd = [sys.executable, "-m", "model_trainer", "run", str(path)]
    first = _start(cmd, "0.05")
    try:
        _wait_for(tmp_path / "runs", "tiny-study/*/metrics.jsonl", first)
        second = forked.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        output, _ = first.communicate(timeout=300)
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
    assert "this study is being run by" in second.stderr
    assert first.returncode == 0, output
    trials = study_trials(tmp_path / "runs" / "tiny-study")
    assert all(status(tmp_path / "runs" / "tiny-study" / t["trial_id"])["attempts"] == 1
               for t in trials)


def test_a_finished_trial_whose_folder_was_deleted_is_run_again_and_said_so(tmp_path, tiny_study):
    study = tmp_path / "runs" / "tiny-study"
    gone = study_trials(study)[1]["trial_id"]
    shutil.rmtree(study / gone)
    result = runner.invoke(app, ["run", str(tiny_study)])
    assert result.exit_code == 0, result.output
    assert f"trial {gone} was completed but its folder is gone: running it again" in result.output
    trials = study_trials(study)
    assert sorted(p.name for p in study.iterdir() if p.is_dir()) == \
        sorted(t["trial_id"] for t in trials)
    assert all(t["state"] == "completed" for t in trials)
    assert "4 completed" in result.output


def test_a_garbled_study_index_is_reported_and_rebuilt_without_running_trials_again(
        tmp_path, tiny_study):
    study = tmp_path / "runs" / "tiny-study"
    (study / "study_index.json").write_text("{garbled")
    result = runner.invoke(app, ["run", str(tiny_study)])
    assert result.exit_code == 0, result.output
    assert "study_index.json is unreadable; it is rebuilt" in result.output
    for t in study_trials(study):
        assert status(study / t["trial_id"])["attempts"] == 1  # skipped, not trained again


def test_a_non_utf8_recipe_in_a_trial_folder_is_a_warning_not_a_crash(tmp_path, caplog):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    assert runner.invoke(app, ["run", str(recipe), "train.epochs=1"]).exit_code == 0
    trial = next((tmp_path / "runs" / "tiny").iterdir())
    (trial / "recipe.yaml").write_bytes(b"\xff\xfe garbage \x80")
    result = runner.invoke(app, ["run", str(recipe), "train.epochs=2"])
    assert result.exit_code == 0, result.output
    assert "recipe.yaml cannot be read" in caplog.text and "treated as missing" in caplog.text
    assert status(trial)["epochs_done"] == 2


def test_a_trial_folder_deleted_while_it_runs_fails_cleanly_and_is_not_made_again(tmp_path):
    from model_trainer.errors import TrainingError
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load

    loaded = load(tmp_path, "wrapper=tests.robustness.test_one_writer.DeletesItsFolder",
                  "train.epochs=3")
    with pytest.raises(TrainingError, match="was deleted or replaced while the trial was running"):
        run_experiment(loaded, threads=1)
    assert not (tmp_path / "tiny" / loaded.trial_id).exists()


from tests.train.tiny import TinyWrapper  # noqa: E402


class DeletesItsFolder(TinyWrapper):
    """Deletes its own trial folder during epoch 2, as a clean-up script might."""

    def train_step(self, batch):
        out = super().train_step(batch)
        folder = self.loop.session.checkpoint_dir.parent
        if self.state.epoch == 1 and folder.exists():
            # a file may land while rmtree walks the folder (epoch 1's status.json, the
            # provenance record written on its own thread): retry as a clean-up script would
            self.loop.session.flush()
            for _ in range(100):
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    break
                time.sleep(0.02)
        return out


@pytest.mark.slow
@pytest.mark.parametrize(("concurrency", "executor"), [(1, "local"), (2, "local"), (2, "ray")],
                         ids=["inline", "local", "ray"])
def test_sigterm_to_a_study_driver_saves_exits_143_and_the_rerun_finishes(tmp_path, concurrency,
                                                                          executor):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "runs").replace("  epochs: 2\n", "  epochs: 4\n"))
    cmd = [sys.executable, "-m", "model_trainer", "run", str(path),
           f"study.concurrency={concurrency}", f"study.executor={executor}"]
    driver = _start(cmd, "0.05")  # slow until the signal; the rerun goes at full speed
    _wait_for(tmp_path / "runs", "tiny-study/*/metrics.jsonl", driver)  # a trial is training
    driver.send_signal(signal.SIGTERM)
    output, _ = driver.communicate(timeout=180)
    assert driver.returncode == 143, output
    assert "Traceback" not in output and "*** SIG" not in output and "Stack trace" not in output
    trials = study_trials(tmp_path / "runs" / "tiny-study")
    assert any(t["state"] == "interrupted" for t in trials)
    rerun = forked.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    trials = study_trials(tmp_path / "runs" / "tiny-study")
    assert len(trials) == 4 and {t["state"] for t in trials} == {"completed"}


def test_a_garbled_index_never_lets_another_study_into_the_folder(tmp_path, tiny_study):
    """Study A's index garbled, then study B of the same name: B's trials never train in
    A's folder (A's trials say whose they are), and a folder nothing attributes is refused."""
    study_a = tmp_path / "runs" / "tiny-study"
    (study_a / "study_index.json").write_text("{garbled")
    before = _snapshot(study_a)
    other = runner.invoke(app, ["run", str(tiny_study), "seed=7"])  # another study
    assert other.exit_code == 0, other.output
    assert _snapshot(study_a) == before  # nothing of B in A's folder
    (folder_b,) = [p for p in (tmp_path / "runs").iterdir() if p.name.startswith("tiny-study-")]
    assert len(study_trials(folder_b)) == 4
    for trial in study_a.iterdir():  # now nothing in A's folder says whose study it is
        if trial.is_dir():
            shutil.rmtree(trial)
    refused = runner.invoke(app, ["run", str(tiny_study), "seed=8"])
    assert refused.exit_code == 2 and "cannot tell which study" in refused.output
