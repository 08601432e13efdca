"""Same id, same code: a rerun whose code or data differ from what the trial ran never
reports the old numbers as its own and never trains on silently (trial/code_check.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import forked

ROOT = Path(__file__).parents[1]
MODEL = '''\
"""A user's model file."""
import torch
from torch import nn
from torch.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self, hidden: int = 8):
        super().__init__()
        self.lin = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, labels):
        logits = self.out(torch.relu(self.lin(x)))
        return logits, nn.functional.cross_entropy(logits, labels)


def loader(config, flag):
    g = torch.Generator().manual_seed(0 if flag == "train" else 1)
    x = torch.randn(64, 4, generator=g)
    rows = [{"x": x[i], "labels": (x[i, 0] > 0).long()} for i in range(64)]
    return DataLoader(rows, batch_size=16, shuffle=flag == "train", generator=g)
'''
RECIPE = """\
name: user
output_dir: runs
device: cpu
model: {target: my_model.Net}
data: {target: my_model.loader, args: {table: data.csv}}
train: {epochs: 2, progress: "off"}
"""


def mtrain(folder: Path, *args: str, path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """`mtrain` in `folder` (the user's project: my_model.py beside the recipe), with
    `path` first on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (*path, ROOT)))}
    return forked.run([sys.executable, "-m", "model_trainer", *args], cwd=folder, env=env,
                      capture_output=True, text=True, timeout=180)


def user_project(folder: Path, name: str, recipe: str) -> subprocess.CompletedProcess:
    """my_model.py, a data file and the recipe `name` in `folder`, run once."""
    (folder / "my_model.py").write_text(MODEL)
    (folder / name).write_text(recipe)
    (folder / "data.csv").write_text("a,b\n1,2\n3,4\n")
    first = mtrain(folder, "run", name)
    assert first.returncode == 0, first.stderr
    return first


@pytest.fixture
def project(tmp_path):
    user_project(tmp_path, "recipe.yaml", RECIPE)
    return tmp_path


def trials(project: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())
            for p in (project / "runs" / "user").glob("*/status.json")}


def test_an_edited_model_stops_a_rerun_and_names_what_changed(project):
    (trial_id, before), = trials(project).items()
    rows = (project / "runs" / "user" / trial_id / "metrics.jsonl").read_text()
    (project / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.tanh"))
    for args in (("run", "recipe.yaml"), ("run", "recipe.yaml", "train.epochs=3"),
                 ("validate", "recipe.yaml")):
        again = mtrain(project, *args)
        assert again.returncode == 2, again.stdout + again.stderr
        assert "already done" not in again.stdout and "Traceback" not in again.stderr
        assert f"trial {trial_id}" in again.stderr and "ran other code" in again.stderr
        assert "my_model.py: Net.forward" in again.stderr
        assert "--if-code-changed new" in again.stderr and "--if-code-changed accept" in again.stderr
    assert (project / "runs" / "user" / trial_id / "metrics.jsonl").read_text() == rows
    assert trials(project) == {trial_id: before}  # nothing trained, nothing written


def test_comments_docstrings_and_formatting_are_not_a_change(project):
    edited = MODEL.replace('"""A user\'s model file."""', '"""Another docstring."""')
    edited = edited.replace("        super().__init__()\n",
                            "        # a comment\n        super( ).__init__()\n\n")
    (project / "my_model.py").write_text(edited)
    again = mtrain(project, "run", "recipe.yaml")
    assert again.returncode == 0 and "already done" in again.stdout, again.stderr


def test_new_trains_the_new_code_as_another_trial_that_later_reruns_find(project):
    (old_id, old), = trials(project).items()
    (project / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.tanh"))
    new = mtrain(project, "run", "recipe.yaml", "--if-code-changed", "new")
    assert new.returncode == 0, new.stderr
    ids = set(trials(project))
    assert len(ids) == 2 and old_id in ids
    (new_id,) = ids - {old_id}
    assert new_id.split("-")[0] == old_id.split("-")[0] and new_id in new.stdout
    assert trials(project)[old_id] == old  # the old trial is left as it was
    again = mtrain(project, "run", "recipe.yaml")  # no flag: this code's trial is found
    assert again.returncode == 0 and "already done" in again.stdout and new_id in again.stdout
    (project / "my_model.py").write_text(MODEL)  # back to the first code: the first trial
    back = mtrain(project, "run", "recipe.yaml")
    assert back.returncode == 0 and old_id in back.stdout and "already done" in back.stdout


def test_accept_continues_the_trial_with_the_new_code_and_records_it(project):
    (trial_id, before), = trials(project).items()
    (project / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.tanh"))
    more = mtrain(project, "run", "recipe.yaml", "train.epochs=3", "--if-code-changed", "accept")
    assert more.returncode == 0, more.stderr
    after = trials(project)[trial_id]
    assert after["epochs_done"] == 3 and after["attempts"] == 2
    (change,) = after["code_changes"]
    assert change["from"] == before["code"] and change["to"] == after["code"] != before["code"]
    assert any("Net.forward" in c for c in change["changes"])
    assert mtrain(project, "run", "recipe.yaml", "train.epochs=3").returncode == 0  # no flag


def test_a_changed_data_file_is_a_change_and_a_copy_is_not(project):
    data = project / "data.csv"
    os.utime(data, (1, 1))  # only the time: a copy, an rsync
    assert mtrain(project, "run", "recipe.yaml").returncode == 0
    data.write_text("a,b\n1,2\n3,5\n")
    again = mtrain(project, "run", "recipe.yaml")
    assert again.returncode == 2 and "data data.args.table: changed" in again.stderr


def test_a_module_that_now_shadows_the_one_that_ran_is_a_change(project):
    lib = project / "lib"
    lib.mkdir()
    (project / "my_model.py").rename(lib / "my_model.py")
    moved = mtrain(project, "run", "recipe.yaml", path=(lib,))
    assert moved.returncode == 0 and "already done" in moved.stdout  # the same code
    (project / "my_model.py").write_text(MODEL.replace("hidden: int = 8", "hidden: int = 16")
                                         .replace("torch.relu", "torch.sigmoid"))
    shadowed = mtrain(project, "run", "recipe.yaml", path=(lib,))
    assert shadowed.returncode == 2 and "my_model.py" in shadowed.stderr, shadowed.stderr


def test_a_data_factory_declares_its_own_fingerprint(tmp_path, monkeypatch):
    from model_trainer.recipe.fingerprint import fingerprint
    from tests.train.tiny import load

    loaded = load(tmp_path, "data.target=tests.test_code_identity.versioned_loader")
    monkeypatch.setenv("MTRAIN_TEST_DATA_VERSION", "1")
    one = fingerprint(loaded.recipe)
    monkeypatch.setenv("MTRAIN_TEST_DATA_VERSION", "2")
    two = fingerprint(loaded.recipe)
    assert one.digest != two.digest and two.changes_since(one) == ["data data.target: changed"]
    assert one.modules == two.modules and "tests.train.tiny" in one.modules


def versioned_loader(config, flag):
    from tests.train.tiny import make_loader

    return make_loader(config, flag)


versioned_loader.fingerprint = lambda config: os.environ["MTRAIN_TEST_DATA_VERSION"]


STUDY = RECIPE.replace("name: user", "name: user-study") + """\
study:
  space:
    model.args.hidden: {choice: [4, 8]}
  seeds: [0]
"""


@pytest.fixture
def study(tmp_path):
    assert "2 completed" in user_project(tmp_path, "study.yaml", STUDY).stdout
    return tmp_path


def study_trials(study: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())
            for p in (study / "runs" / "user-study").glob("*/status.json")}


def test_a_study_rerun_with_other_code_stops_instead_of_answering_old_values(study):
    before = study_trials(study)
    folder = study / "runs" / "user-study"
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}
    (study / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.tanh"))
    for args in (("run", "study.yaml"), ("validate", "study.yaml")):
        again = mtrain(study, *args)
        assert again.returncode == 2, again.stdout + again.stderr
        assert "2 trial(s) of study" in again.stderr and "Net.forward" in again.stderr
        assert "best " not in again.stdout  # no summary of the old values
    assert study_trials(study) == before
    assert {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and p.name != ".lock"} == files  # the refused run changed nothing
    new = mtrain(study, "run", "study.yaml", "--if-code-changed", "new")
    assert new.returncode == 2 and "name=user-study-v2" in new.stderr
    accepted = mtrain(study, "run", "study.yaml", "--if-code-changed", "accept")
    assert accepted.returncode == 0 and "2 completed" in accepted.stdout, accepted.stderr
    for status in study_trials(study).values():
        assert status["attempts"] == 1 and len(status["code_changes"]) == 1
    assert mtrain(study, "run", "study.yaml").returncode == 0  # accepted: no flag needed


def test_a_study_rerun_after_a_comment_only_edit_answers_as_before(study):
    first = mtrain(study, "run", "study.yaml").stdout
    (study / "my_model.py").write_text(MODEL + "# a comment\n")
    again = mtrain(study, "run", "study.yaml")
    assert again.returncode == 0 and again.stdout == first, again.stderr


def test_the_finished_study_shortcut_sees_a_module_that_shadows_the_one_that_ran(study):
    """study_done.json answers a rerun without importing anything; a new my_model.py
    earlier on sys.path with other code must still take the full path (and stop)."""
    lib = study / "lib"
    lib.mkdir()
    (study / "my_model.py").rename(lib / "my_model.py")
    moved = mtrain(study, "run", "study.yaml", path=(lib,))
    assert moved.returncode == 0 and "2 completed" in moved.stdout, moved.stderr
    (study / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.sigmoid"))
    shadowed = mtrain(study, "run", "study.yaml", path=(lib,))
    assert shadowed.returncode == 2 and "ran other code" in shadowed.stderr, shadowed.stdout


def test_analyze_names_code_versions_and_compares_them_only_when_told(study):
    (study / "my_model.py").write_text(MODEL.replace("torch.relu", "torch.tanh"))
    # one of the two trials again, with the new code: the study now holds two versions
    assert mtrain(study, "run", "study.yaml", "--if-code-changed", "accept").returncode == 0
    (trial_id, status), *_ = study_trials(study).items()
    folder = study / "runs" / "user-study" / trial_id
    (folder / "code.json").write_text("{}")
    status["code"] = "0123456789abcdef"
    (folder / "status.json").write_text(json.dumps(status))
    codes = {s["code"] for s in study_trials(study).values()}
    assert len(codes) == 2
    refused = mtrain(study, "analyze", "runs/user-study", "--no-plots")
    assert refused.returncode == 2 and "2 versions of the code" in refused.stderr
    for digest in codes:
        assert digest in refused.stderr
    told = mtrain(study, "analyze", "runs/user-study", "--no-plots", "--mixed-code")
    assert told.returncode == 0 and "2 versions of the code" in told.stdout, told.stderr
    one = mtrain(study, "analyze", "runs/user-study", "--no-plots", "--filter", "code=0123456789abcdef")
    assert one.returncode == 0, one.stderr


def test_a_study_sweeping_data_files_and_a_data_root_holding_the_runs_reruns_cleanly(tmp_path):
    """Each trial is compared with its own data (a swept file), and a folder the runs
    write into (here the project itself) is no data identity."""
    (tmp_path / "b.csv").write_text("x\n2\n")
    sweep = STUDY.replace("model.args.hidden: {choice: [4, 8]}",
                          "data.args.table: {choice: [data.csv, b.csv]}").replace(
        "args: {table: data.csv}", "args: {table: data.csv, root: ./}")
    first = user_project(tmp_path, "study.yaml", sweep)
    assert "2 completed" in first.stdout
    (tmp_path / "notes.txt").write_text("the project folder changes")
    again = mtrain(tmp_path, "run", "study.yaml", "study.concurrency=1")  # the full path
    assert again.returncode == 0 and "2 completed" in again.stdout, again.stderr
    (tmp_path / "b.csv").write_text("x\n3\n")
    changed = mtrain(tmp_path, "run", "study.yaml", "study.concurrency=1")
    assert changed.returncode == 2 and "1 trial(s)" in changed.stderr, changed.stderr
    assert "data data.args.table: changed" in changed.stderr
