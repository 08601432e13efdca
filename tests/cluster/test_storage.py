"""study.storage against a real S3 server (SeaweedFS on 127.0.0.1): trials that train in
folders the driver does not share, a trial resumed from storage after its worker and its
folder were lost, analyze and status from the URI, wrong credentials, and the server going
away mid-study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import model_trainer
from model_trainer.cli.app import app
from tests.cluster.conftest import remove, start_s3, stop_s3
from tests.study.tinytask import RECIPE

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def study_file(folder: Path, storage: str, recipe: str = RECIPE, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(recipe.format(out=folder / "runs") + "  concurrency: 2\n"
                    + (f"  storage: {storage}\n" if storage else "") + extra)
    return path


def stored(uri: str) -> list[str]:
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    root = uri.removeprefix("s3://")
    return sorted(p[len(root) + 1:] for p in fs.find(root))


def test_trials_in_folders_of_their_own_reach_storage_and_analyze_reads_the_uri(
        s3, tmp_path, monkeypatch):
    """Workers train under MTRAIN_LOCAL_DIR (a node's scratch), not in the driver's
    folder; storage holds every file, the driver's folder every trial's metrics and
    status (no checkpoints), and `analyze s3://...` gives a local run's values."""
    monkeypatch.setenv("MTRAIN_LOCAL_DIR", str(tmp_path / "scratch"))
    monkeypatch.setenv("MTRAIN_CACHE", str(tmp_path / "cache"))
    result = model_trainer.run(str(study_file(tmp_path / "s3", s3)))
    monkeypatch.delenv("MTRAIN_LOCAL_DIR")
    local = model_trainer.run(str(study_file(tmp_path / "local", "")))
    files = stored(s3)
    trials = sorted(t.trial_id for t in local.trials)
    for trial in trials:
        assert f"tiny-study/{trial}/checkpoints/last.pt" in files
        assert f"tiny-study/{trial}/metrics.jsonl" in files
        assert (tmp_path / "scratch" / "tiny-study" / trial / "checkpoints" / "last.pt").is_file()
        mine = result.study_dir / trial
        assert (mine / "metrics.jsonl").read_text() == \
            (tmp_path / "scratch" / "tiny-study" / trial / "metrics.jsonl").read_text()
        assert not (mine / "checkpoints").exists()  # it trained elsewhere
    assert "tiny-study/study_index.json" in files
    out = tmp_path / "analysis"
    done = runner.invoke(app, ["analyze", f"{s3}/tiny-study", "--no-plots", "--out", str(out)])
    assert done.exit_code == 0, done.output
    analysed = pd.read_csv(out / "trials.csv").set_index("trial_id")
    for trial in local.trials:
        assert analysed.loc[trial.trial_id, "at_best_val_accuracy"] == pytest.approx(trial.value)
    status = runner.invoke(app, ["status", f"{s3}/tiny-study"], env={"COLUMNS": "200"})
    assert status.exit_code == 0 and "4 completed" in status.output, status.output
    first = trials[0]  # the trained model straight from storage, checkpoints and all
    model = model_trainer.load_trial(f"{s3}/tiny-study", "last", trial_id=first).model
    trained = torch.load(tmp_path / "scratch" / "tiny-study" / first / "checkpoints" /
                         "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    out = tmp_path / "preds.csv"
    predicted = runner.invoke(app, ["predict", f"{s3}/tiny-study", "--trial", first,
                                    "--split", "val", "--out", str(out)])
    assert predicted.exit_code == 0 and out.is_file(), predicted.output


def test_a_trial_whose_worker_and_folder_were_lost_resumes_from_storage(s3, tmp_path):
    """One slow trial; once its first checkpoint is in storage, its worker deletes its own
    folder and dies (a node lost with its disk). The retry brings the folder back from
    storage and continues it: the rows from before the loss are kept, and the weights end
    equal to a straight run's."""
    marker = tmp_path / "vanished"
    recipe = RECIPE.replace("{{choice: [2, 4]}}", "{{choice: [4]}}").replace(
        "seeds: [0, 1]", "seeds: [0]").replace("epochs: 2", "epochs: 4").replace(
        "args: {{hidden: 4}}", f"args: {{{{hidden: 4, fail: vanish, marker: '{marker}'}}}}")
    path = study_file(tmp_path / "s3", s3, recipe, "  retries: 1\n")
    env = {**os.environ, "TINY_SLEEP": "0.3", "MTRAIN_LOCAL_DIR": str(tmp_path / "scratch")}
    driver = subprocess.Popen([sys.executable, "-m", "model_trainer", "run", str(path)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(f.endswith("checkpoints/last.pt") for f in stored(s3)):
        assert time.monotonic() < deadline and driver.poll() is None, "no checkpoint stored"
        time.sleep(0.3)
    trial = next(f for f in stored(s3) if f.endswith("checkpoints/last.pt")).split("/")[1]
    lost_at = time.time()
    Path(f"{marker}.go").write_text(str(tmp_path / "scratch" / "tiny-study" / trial))
    out, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, out
    assert marker.exists(), "the worker was lost"
    record = json.loads((tmp_path / "s3" / "runs" / "tiny-study" / "study_index.json")
                        .read_text())["trials"][0]
    assert record["state"] == "completed" and record["attempts"] == 2, record
    rows = [json.loads(r) for r in (tmp_path / "s3" / "runs" / "tiny-study" / trial /
                                    "metrics.jsonl").read_text().splitlines()]
    assert any(r["time"] < lost_at for r in rows), "the rows before the loss came back"
    assert len({(r["step"], r["split"], r.get("span")) for r in rows}) == len(rows)
    weights = torch.load(tmp_path / "scratch" / "tiny-study" / trial / "checkpoints" /
                         "last.pt", weights_only=True)["model"]
    straight = tmp_path / "straight.yaml"
    straight.write_text(recipe.replace(", fail: vanish", "").replace(f", marker: '{marker}'",
                                                                      "")
                        .format(out=tmp_path / "straight"))
    alone = model_trainer.run(str(straight), overrides=["~study"])
    expected = torch.load(alone.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(weights[k], v) for k, v in expected["model"].items())


def test_wrong_credentials_or_bucket_are_a_clear_exit_2(s3, tmp_path, monkeypatch):
    path = study_file(tmp_path, s3)
    good = os.environ["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    for command in (["run", str(path)], ["analyze", f"{s3}/tiny-study", "--no-plots"],
                    ["status", f"{s3}/tiny-study"]):
        done = runner.invoke(app, command)
        assert done.exit_code == 2, done.output
        assert f"{s3}" in done.output and "refused" in done.output, done.output
        assert "AWS_SECRET_ACCESS_KEY" in done.output and "Traceback" not in done.output
    assert not (tmp_path / "runs" / "tiny-study" / "study_index.json").exists()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", good)
    missing = runner.invoke(app, ["run", str(path), "study.storage=s3://no-such-bucket/x"])
    assert missing.exit_code == 2 and "there is no bucket 'no-such-bucket'" in missing.output, \
        missing.output


def test_the_server_going_away_fails_the_trial_and_a_rerun_completes_it(tmp_path,
                                                                         monkeypatch):
    """The S3 server stops while the trial trains: the trial cannot complete (its files are
    not all in storage), so it is failed, never completed; with the server back (same
    data, a new port), a rerun continues it to completion."""
    state = Path("/tmp") / f"mtrain-s3-{uuid.uuid4().hex[:6]}"
    for key, value in start_s3(state).items():
        monkeypatch.setenv(key, value)
    try:
        uri = "s3://mtrain/away"
        recipe = RECIPE.replace("{{choice: [2, 4]}}", "{{choice: [4]}}").replace(
            "seeds: [0, 1]", "seeds: [0]").replace("epochs: 2", "epochs: 4")
        path = study_file(tmp_path, uri, recipe)
        monkeypatch.setenv("TINY_SLEEP", "0.3")
        driver = subprocess.Popen([sys.executable, "-m", "model_trainer", "run", str(path)],
                                  cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not any(f.endswith("metrics.jsonl") for f in stored(uri)):
            assert time.monotonic() < deadline and driver.poll() is None, "nothing stored"
            time.sleep(0.3)
        stop_s3(state)
        out, _ = driver.communicate(timeout=300)
        assert driver.returncode != 0
        study_dir = tmp_path / "runs" / "tiny-study"
        record = json.loads((study_dir / "study_index.json").read_text())["trials"][0]
        assert record["state"] == "failed" and "storage" in record["error"], record
        assert "reach storage" in out or "cannot" in out, out
        for key, value in start_s3(state).items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("TINY_SLEEP")
        again = model_trainer.run(str(path))
        assert again.counts == {"completed": 1}
        assert "tiny-study/study_index.json" in stored(uri)
    finally:
        stop_s3(state)
        remove(state)
