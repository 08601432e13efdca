"""`mtrain analyze DIR` reads only what lies under DIR: links out of it are not followed, a
trial reached twice counts once, pseudo file systems are refused, unreadable bytes are
warnings. Every link here is a real symlink made by the test."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from model_trainer.analysis import load
from model_trainer.analysis.walk import check_root
from model_trainer.cli.app import app
from model_trainer.errors import UsageError
from tests.analysis.analysis_synth import base_recipe, metric_lines, status, trial_id, write_trial

runner = CliRunner()


def _trial(folder, name: str, acc: float = 0.8):
    tid = trial_id(name, 1)
    return write_trial(folder / tid, base_recipe(seed=0), status(tid, "completed", 0.3, None, None),
                       metric_lines(acc))


@pytest.fixture
def study_with_outside(tmp_path):
    """tmp/outside/ holds 3 trials; tmp/inside/ holds 2 and links that lead out and back in."""
    for i in range(3):
        _trial(tmp_path / "outside" / "other", f"out{i}")
    inside = tmp_path / "inside"
    first = _trial(inside / "study", "in0")
    _trial(inside / "study", "in1")
    (inside / "up").symlink_to("..", target_is_directory=True)  # the link to `..` of the issue
    (inside / "elsewhere").symlink_to(tmp_path / "outside", target_is_directory=True)
    (inside / "again").symlink_to(inside / "study", target_is_directory=True)  # in DIR: once
    (inside / "study" / "latest").symlink_to(first, target_is_directory=True)
    (inside / "loop").symlink_to(inside, target_is_directory=True)
    return inside


def test_links_out_of_dir_are_not_followed_and_each_trial_counts_once(study_with_outside):
    loaded = load(study_with_outside)
    assert sorted(t.split("-")[0] for t in loaded.trials["trial_id"]) == ["in0", "in1"]
    assert loaded.trials["trial_id"].is_unique
    assert any("up" in w and "outside" in w for w in loaded.warnings)
    assert any("elsewhere" in w for w in loaded.warnings)


def test_a_file_linked_from_outside_is_not_read(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"trial_id": "stolen", "state": "completed"}))
    folder = _trial(tmp_path / "runs" / "s", "t")
    (folder / "status.json").unlink()
    (folder / "status.json").symlink_to(secret)
    loaded = load(tmp_path / "runs")
    row = loaded.trials.iloc[0]
    assert row["trial_id"] != "stolen" and row["state"] == "unknown"
    assert any("outside" in w and "status.json" in w for w in loaded.warnings)


def test_a_link_inside_dir_is_read(tmp_path):
    folder = _trial(tmp_path / "runs" / "s", "t")
    (tmp_path / "runs" / "status_copy.json").write_text((folder / "status.json").read_text())
    (folder / "status.json").unlink()
    (folder / "status.json").symlink_to(tmp_path / "runs" / "status_copy.json")
    assert load(tmp_path / "runs").trials.iloc[0]["state"] == "completed"


@pytest.mark.parametrize("where", ["/proc/self", "/proc", "/sys", "/dev"])
def test_pseudo_file_systems_are_refused(where):
    if not os.path.isdir(where):
        pytest.skip(f"{where} does not exist here")
    with pytest.raises(UsageError, match="pseudo file system"):
        check_root(where)


def test_cli_refuses_proc_with_exit_2_and_one_line():
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    result = runner.invoke(app, ["analyze", "/proc/self"])
    assert result.exit_code == 2
    assert "pseudo file system" in result.output and "Traceback" not in result.output


def test_a_link_to_proc_is_refused_too(tmp_path):
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    (tmp_path / "runs").symlink_to("/proc/self", target_is_directory=True)
    with pytest.raises(UsageError, match="pseudo file system"):
        load(tmp_path / "runs")


@pytest.mark.parametrize("name", ["status.json", "recipe.yaml", "study.yaml", "study_index.json"])
def test_non_utf8_file_is_a_warning_and_treated_as_missing(tmp_path, name):
    study = tmp_path / "runs" / "s"
    folder = _trial(study, "t")
    (study / "study.yaml").write_text("name: s\n")
    target = (study if name.startswith("study") else folder) / name
    target.write_bytes(b'{"state": "completed", "note": "caf\xe9"}\n')  # latin-1, not UTF-8
    loaded = load(tmp_path / "runs")
    assert any(name in w and "UTF-8" in w for w in loaded.warnings)
    row = loaded.trials.iloc[0]
    if name == "status.json":
        assert row["state"] == "unknown"  # treated as missing, not half-read
    else:
        assert row["state"] == "completed"


def test_non_utf8_metric_lines_are_skipped_and_counted(tmp_path):
    folder = _trial(tmp_path / "runs" / "s", "t")
    good = (folder / "metrics.jsonl").read_bytes()
    (folder / "metrics.jsonl").write_bytes(good + b'{"step": 99, "split": "val\xff", "metrics": {"loss": 9}}\n')
    loaded = load(tmp_path / "runs")
    row = loaded.trials.iloc[0]
    assert row["bad_metric_lines"] == 1 and row["metric_rows"] == 20
    assert any("metrics.jsonl" in w and "UTF-8" in w for w in loaded.warnings)
