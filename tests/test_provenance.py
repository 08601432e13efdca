"""The reproducibility record: git commit, dirty flag and diff, command, packages, machine;
written at a trial's start, with what differs added by a later attempt."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys

import pytest
import torch

from model_trainer.trial.experiment import run_experiment
from tests.train.tiny import load

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with one commit, as the working directory of the run."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "model.py").write_text("HIDDEN = 8\n")  # runs/ is not ignored: runs are no change
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    monkeypatch.chdir(repo)
    return repo


def record_of(result) -> dict:
    return json.loads((result.trial_dir / "provenance.json").read_text())


def test_a_clean_checkout_is_recorded_with_its_commit_and_no_diff(repo):
    result = run_experiment(load(repo / "runs", "train.epochs=1"), threads=1,
                            command=["mtrain", "run", "recipe.yaml"])
    record = record_of(result)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert record["git"]["commit"] == head and record["git"]["dirty"] is False
    assert record["git"]["diff_file"] is None and not (result.trial_dir / "git.diff").exists()
    assert record["command"] == ["mtrain", "run", "recipe.yaml"]
    assert record["cwd"] == str(repo) and record["attempt"] == 1
    assert record["python"] == platform.python_version() and record["torch"] == torch.__version__
    assert record["cuda"] == torch.version.cuda
    assert record["cudnn"] is None and record["gpus"] == []  # device: cpu loads neither
    by_metadata = {}  # what importlib.metadata says, each name's first install on sys.path
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        by_metadata.setdefault(name, dist.version)
    assert record["packages"] == by_metadata
    assert record["packages"]["torch"] == importlib.metadata.version("torch")
    assert json.loads((result.trial_dir / "status.json").read_text())["git_commit"] == head


def test_uncommitted_changes_are_saved_as_a_diff_that_rebuilds_the_working_tree(repo, tmp_path):
    (repo / "model.py").write_text("HIDDEN = 16  # changed, not committed\n")
    (repo / "new_layer.py").write_text("def layer():\n    return 1\n")  # never added
    result = run_experiment(load(repo / "runs", "train.epochs=1"), threads=1)
    record = record_of(result)
    assert record["git"]["dirty"] is True and record["git"]["diff_file"] == "git.diff"
    assert record["git"]["untracked_files"] == ["new_layer.py"]
    assert record["command"] == sys.argv  # without one given: this process's
    diff = result.trial_dir / "git.diff"
    assert record["git"]["diff_bytes"] == diff.stat().st_size
    # the recorded commit plus git.diff is the code that ran
    copy = tmp_path / "copy"
    subprocess.run(["git", "clone", "-q", str(repo), str(copy)], check=True)
    git(copy, "checkout", "-q", record["git"]["commit"])
    git(copy, "apply", str(diff))
    for name in ("model.py", "new_layer.py"):
        assert (copy / name).read_text() == (repo / name).read_text()


def test_a_later_attempt_with_other_code_adds_what_differs(repo):
    first = run_experiment(load(repo / "runs", "train.epochs=1"), threads=1)
    run_experiment(load(repo / "runs", "train.epochs=2"), threads=1)  # the same code
    assert "later_attempts" not in record_of(first)
    (repo / "model.py").write_text("HIDDEN = 32\n")
    run_experiment(load(repo / "runs", "train.epochs=3"), threads=1)  # extended, code changed
    record = record_of(first)
    assert record["attempt"] == 1 and record["git"]["dirty"] is False
    (later,) = record["later_attempts"]
    assert later["attempt"] == 3 and set(later["changed"]) == {"git"}
    assert later["changed"]["git"]["dirty"] is True
    diff = (first.trial_dir / later["changed"]["git"]["diff_file"]).read_text()
    assert "+HIDDEN = 32" in diff


def test_outside_a_repository_git_is_null(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    result = run_experiment(load(tmp_path / "runs", "train.epochs=1"), threads=1)
    assert record_of(result)["git"] is None


SECRETS = {".env": "TOKEN=hunter2\n", ".env.local": "KEY=abc\n", "deploy.key": "KEY\n",
           "cert.pem": "-----BEGIN-----\n", "credentials.json": "{}\n", "id_rsa": "PRIVATE\n"}


def test_files_that_look_like_secrets_never_enter_git_diff_and_are_listed(repo, monkeypatch):
    for name, text in SECRETS.items():
        (repo / name).write_text(text)
    (repo / "new_layer.py").write_text("def layer():\n    return 1\n")
    result = run_experiment(load(repo / "runs", "train.epochs=1"), threads=1)
    diff = (result.trial_dir / "git.diff").read_text()
    assert "new_layer.py" in diff
    for name, text in SECRETS.items():
        assert name not in diff and text.strip() not in diff
    record = record_of(result)["git"]
    assert sorted(record["skipped_files"]) == sorted(SECRETS)
    assert "new_layer.py" in record["untracked_files"]
    # the opt-out: no diff at all
    monkeypatch.setenv("MTRAIN_GIT_DIFF", "0")
    quiet = run_experiment(load(repo / "other", "train.epochs=1"), threads=1)
    assert not (quiet.trial_dir / "git.diff").exists()
    assert record_of(quiet)["git"]["diff_file"] is None and record_of(quiet)["git"]["dirty"]


def test_git_state_from_a_subfolder_names_paths_from_the_root_and_a_detached_head(repo):
    from model_trainer.trial.provenance import git_state

    sub = repo / "src dir"
    sub.mkdir()
    (sub / "a file.py").write_text("X = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "second")
    (sub / "a file.py").write_text("X = 2\n")
    (sub / "nested").mkdir()
    (sub / "nested" / "new one.py").write_text("Y = 1\n")
    (sub / ".env").write_text("TOKEN=x\n")
    state, diff = git_state(sub, exclude=repo / "runs")
    assert state["root"] == str(repo.resolve()) and state["branch"] == git(
        repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip() and state["dirty"]
    assert state["untracked_files"] == ["src dir/nested/new one.py"]
    assert state["skipped_files"] == ["src dir/.env"]
    assert b"+X = 2" in diff and b"+Y = 1" in diff and b"TOKEN" not in diff
    git(repo, "stash", "-u")
    git(repo, "checkout", "-q", "HEAD~1")
    state, diff = git_state(repo)
    assert state["branch"] == "HEAD" and not state["dirty"] and diff == b""
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip()


def test_a_repository_without_a_commit_has_no_git_record(tmp_path):
    from model_trainer.trial.provenance import git_state

    git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("X = 1\n")
    assert git_state(tmp_path) == (None, b"")


def test_the_work_tree_is_the_one_git_finds_a_stale_git_folder_below_is_not_one(repo):
    from model_trainer.trial.provenance import git_state

    (repo / "sub" / ".git").mkdir(parents=True)  # empty: not a repository
    (repo / "sub" / "new.py").write_text("X = 1\n")
    state, diff = git_state(repo / "sub")
    assert state["root"] == str(repo.resolve()) and state["untracked_files"] == ["sub/new.py"]
    assert b"+X = 1" in diff


def test_a_staged_rename_is_a_change_in_the_diff(repo):
    from model_trainer.trial.provenance import git_state

    git(repo, "mv", "model.py", "renamed.py")
    state, diff = git_state(repo)
    assert state["dirty"] and state["untracked_files"] == []
    assert b"renamed.py" in diff and b"model.py" in diff


def test_a_record_that_cannot_be_collected_is_a_warning_and_the_trial_completes(
        tmp_path, monkeypatch, caplog):
    from model_trainer.trial import provenance

    def broken(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(provenance, "collect", broken)
    result = run_experiment(load(tmp_path / "runs", "train.epochs=1"), threads=1)
    assert result.state == "completed" and not (result.trial_dir / "provenance.json").exists()
    assert "provenance record" in caplog.text and "no space left on device" in caplog.text


def test_an_egg_info_is_read_from_its_header_as_importlib_reads_it(tmp_path, monkeypatch):
    """A project installed as egg-info (an editable install): its name and version are the
    header's, not a `Version:` line of the description after it."""
    from model_trainer.trial.provenance import installed_packages

    info = tmp_path / "My_Project.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: My_Project\nVersion: 1.2.3\n"
                                   "Summary: x\n\n# My project\nVersion: 9.9.9\nName: other\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = installed_packages()
    dist = importlib.metadata.PathDistribution(info)
    assert found["my-project"] == dist.version == "1.2.3"
