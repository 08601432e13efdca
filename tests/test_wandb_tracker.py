"""train.loggers: [wandb]: one W&B run per trial, grouped by study, written by real trials
in W&B's offline mode (no network here) and read back from the run files W&B wrote."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from model_trainer.trial.experiment import run_experiment
from tests.files import rows
from tests.study.tinytask import RECIPE as STUDY
from tests.train.tiny import load

pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

BLOCK = 32 * 1024  # W&B's run file: a LevelDB-style log of Record protobufs in 32 KiB blocks


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    """The records of one `run-<id>.wandb` file (header `:W&B`, then chunks of a 7-byte
    header (crc, length, type) and data; types 1 full, 2 first, 3 middle, 4 last)."""
    data, found, parts = path.read_bytes(), [], b""
    assert data[:4] == b":W&B", path
    position = 7
    while position + 7 <= len(data):
        if BLOCK - position % BLOCK < 7:  # a block's tail too short for a header: padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        if kind == 0:
            break
        parts += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            found.append(record)
            parts = b""
    return found


def runs_of(trial_dir: Path) -> list[dict]:
    """Each W&B run file of a trial: its run record, config, history rows and exit code."""
    found = []
    for path in sorted(trial_dir.glob("wandb/offline-run-*/run-*.wandb")):
        run, history, exit_code = None, [], None
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
            elif kind == "history":
                history.append({item.key or "/".join(item.nested_key):
                                json.loads(item.value_json) for item in record.history.item})
            elif kind == "exit":
                exit_code = record.exit.exit_code
        config = {item.key: json.loads(item.value_json) for item in run.config.update}
        found.append({"id": run.run_id, "project": run.project, "group": run.run_group,
                      "name": run.display_name, "config": config, "history": history,
                      "exit": exit_code})
    return found


def logged(run: dict, name: str) -> list[tuple[int, float]]:
    return [(row["_step"], row[name]) for row in run["history"] if name in row]


def test_each_trial_of_a_study_is_a_run_in_the_studys_group(tmp_path):
    from model_trainer.api import run

    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "runs").replace(
        "  progress: off\n", "  progress: off\n  loggers: [wandb]\n"))
    result = run(path)
    index = json.loads((result.study_dir / "study_index.json").read_text())["trials"]
    assert len(index) >= 2
    for trial in index:
        folder = result.study_dir / trial["trial_id"]
        (found,) = runs_of(folder)
        assert (found["project"], found["group"], found["name"]) == (
            "tiny-study", result.study_id, trial["trial_id"])
        assert found["config"]["model.args.hidden"] == trial["params"]["model.args.hidden"]
        assert found["config"]["seed"] == trial["seed"]
        assert "train.epochs" not in found["config"]  # stateless: not the experiment
        assert "model.args.num_classes" not in found["config"]  # derived
        for split, key in (("val", "loss"), ("val", "accuracy"), ("train", "loss")):
            expected = [(r["step"], r["metrics"][key]) for r in rows(folder, split)
                        if key in r["metrics"] and "span" not in r]
            assert logged(found, f"{split}_{key}") == expected, (split, key)
        assert found["exit"] == 0


def test_a_resumed_trial_continues_its_run_and_secrets_stay_out(tmp_path, monkeypatch):
    monkeypatch.setenv("MTRAIN_TEST_SECRET", "hunter2-secret")
    secret = "++data.args.token=${oc.env:MTRAIN_TEST_SECRET}"
    first = run_experiment(load(tmp_path, "train.loggers=[wandb]", "train.epochs=1", secret),
                           threads=1)
    run_experiment(load(tmp_path, "train.loggers=[wandb]", "train.epochs=2", secret), threads=1)
    one, two = runs_of(first.trial_dir)
    assert one["id"] == two["id"] and one["name"] == first.trial_id and one["group"] == ""
    values = logged(one, "val_loss") + logged(two, "val_loss")
    assert values == [(r["step"], r["metrics"]["loss"]) for r in rows(first.trial_dir, "val")]
    assert one["config"]["data.args.token"] == "${oc.env:MTRAIN_TEST_SECRET}"
    for path in (first.trial_dir / "wandb").rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path


def test_the_run_id_follows_the_trial_to_another_nodes_folder(tmp_path):
    """With study.storage a trial retried on another node's scratch folder
    (MTRAIN_LOCAL_DIR) keeps its W&B run id (it hashed the folder's path: a new run);
    without storage, the same trial id in two folders is two runs."""
    from types import SimpleNamespace

    from model_trainer.trial.trackers import wandb_run_id

    def status(storage=None):
        study = {"study_id": "study-1", **({"storage": storage} if storage else {})}
        return SimpleNamespace(trial_id="tiny-abc", study=study)

    node_a, node_b = tmp_path / "a" / "study" / "tiny-abc", tmp_path / "b" / "study" / "tiny-abc"
    home = "s3://bucket/runs/study/tiny-abc"
    assert wandb_run_id(status(home), node_a) == wandb_run_id(status(home), node_b)
    assert wandb_run_id(status(home), node_a) != wandb_run_id(status(home + "-2"), node_a)
    assert wandb_run_id(status(), node_a) != wandb_run_id(status(), node_b)
    assert wandb_run_id(status(), node_a).startswith("tiny-abc-")
    # a run W&B already keeps in the folder under the folder's hash (made before the trial
    # knew its place in storage) keeps its id; a copied folder's run (another hash) does not
    before = wandb_run_id(status(), node_a)
    (node_a / "wandb" / f"offline-run-20261201_101010-{before}").mkdir(parents=True)
    assert wandb_run_id(status(home), node_a) == before
    (node_b / "wandb" / f"offline-run-20261201_101010-{before}").mkdir(parents=True)
    assert wandb_run_id(status(home), node_b) == wandb_run_id(status(home), tmp_path / "c")

