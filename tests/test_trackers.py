"""train.loggers: MLflow runs written by real trials and read back through MLflow's own
API (a local SQLite store), TensorBoard events, and the errors for what cannot be."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model_trainer.errors import RecipeError
from model_trainer.trial.experiment import run_experiment
from tests import forked
from tests.files import rows, status
from tests.study.tinytask import RECIPE as STUDY
from tests.train.tiny import load

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def no_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def client_for(store: Path) -> MlflowClient:
    assert store.is_file(), f"no MLflow store at {store}"
    return MlflowClient(tracking_uri=f"sqlite:///{store}")


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def jsonl(folder: Path, split: str, key: str) -> list[tuple[int, float]]:
    """The values of `key` in the rows of `split` ("train_epoch": the epochs' train rows)."""
    split, _, span = split.partition("_")
    return [(r["step"], r["metrics"][key]) for r in rows(folder, split)
            if key in r["metrics"] and r.get("span", "") == span]


def test_a_trial_is_one_mlflow_run_with_its_stateful_params_and_every_metric_row(tmp_path):
    result = run_experiment(load(tmp_path, "train.loggers=[mlflow]", "train.epochs=2"),
                            threads=1)
    client = client_for(tmp_path / "tiny" / "mlflow.db")  # beside the trial folders
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == result.trial_id and run.info.status == "FINISHED"
    assert run.data.tags["mtrain.trial_id"] == result.trial_id
    assert run.data.tags["mtrain.trial_dir"] == str(result.trial_dir.resolve())
    recipe = yaml.safe_load((result.trial_dir / "recipe.yaml").read_text())
    params = run.data.params
    assert params["model.args.hidden"] == str(recipe["model"]["args"]["hidden"])
    assert float(params["train.optimizer.lr"]) == recipe["train"]["optimizer"]["lr"]
    assert params["seed"] == "0" and params["data.args.n"] == "96"
    assert "train.epochs" not in params and "output_dir" not in params  # stateless
    assert "model.args.num_classes" not in params  # derived
    for split, key in (("val", "loss"), ("val", "accuracy"), ("train", "loss"),
                       ("train_epoch", "loss"), ("train_epoch", "accuracy"), ("test", "accuracy")):
        assert history(client, run.info.run_id, f"{split}_{key}") == jsonl(
            result.trial_dir, split, key), (split, key)


def test_a_resumed_trial_continues_its_run(tmp_path):
    first = run_experiment(load(tmp_path, "train.loggers=[mlflow]", "train.epochs=1"), threads=1)
    run_experiment(load(tmp_path, "train.loggers=[mlflow]", "train.epochs=2"), threads=1)
    client = client_for(tmp_path / "tiny" / "mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert history(client, runs[0].info.run_id, "val_loss") == jsonl(first.trial_dir, "val",
                                                                      "loss")
    assert len(jsonl(first.trial_dir, "val", "loss")) == 2


def test_a_study_is_one_experiment_and_respects_mlflow_tracking_uri(tmp_path, monkeypatch):
    from model_trainer.api import run

    store = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(out=tmp_path / "runs").replace("  progress: off\n",
                                                                "  progress: off\n"
                                                                "  loggers: [mlflow]\n"))
    result = run(path)
    assert not (result.study_dir / "mlflow.db").exists()
    client = client_for(store)
    experiment = client.get_experiment_by_name(f"tiny-study/{result.study_id}")
    runs = client.search_runs([experiment.experiment_id])
    index = {t["trial_id"]: t for t in yaml.safe_load(
        (result.study_dir / "study_index.json").read_text())["trials"]}
    assert sorted(r.info.run_name for r in runs) == sorted(index)
    for found in runs:
        trial = index[found.info.run_name]
        assert found.data.tags["mtrain.study_id"] == result.study_id
        assert found.data.params["model.args.hidden"] == str(trial["params"]["model.args.hidden"])
        assert found.data.params["seed"] == str(trial["seed"])
        best = max(v for _, v in history(client, found.info.run_id, "val_accuracy"))
        assert best == pytest.approx(trial["value"])


def test_a_failed_trial_ends_its_run_failed(tmp_path):
    with pytest.raises(Exception, match="boom|not finite"):
        run_experiment(load(tmp_path, "train.loggers=[mlflow]", "train.epochs=1",
                            "train.optimizer.lr=1e30"), threads=1)
    client = client_for(tmp_path / "tiny" / "mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FAILED"


def test_tensorboard_and_mlflow_together(tmp_path):
    result = run_experiment(load(tmp_path, "train.loggers=[tensorboard,mlflow]",
                                 "train.epochs=1"), threads=1)
    assert list((result.trial_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "tiny" / "mlflow.db").is_file()
    assert status(result)["state"] == "completed"


def test_an_unknown_logger_and_a_missing_package_are_recipe_errors(tmp_path, monkeypatch):
    with pytest.raises(RecipeError, match=r"train.loggers.0: expected .*got str 'comet'"):
        load(tmp_path, "train.loggers=[comet]")
    real = importlib.util.find_spec
    missing = ("mlflow", "wandb", "safetensors")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in missing else real(name, *a))
    for logger in ("mlflow", "wandb"):
        with pytest.raises(RecipeError, match=rf"train.loggers: {logger} is not installed: "
                           rf"pip install 'model_trainer\[{logger}\]'"):
            load(tmp_path, f"train.loggers=[{logger}]")
    with pytest.raises(RecipeError, match=r"train.checkpoint.format: safetensors is not "
                       r"installed: pip install 'model_trainer\[safetensors\]'"):
        load(tmp_path, "train.checkpoint.format=safetensors")


def test_nothing_is_imported_unless_configured(tmp_path):
    code = ("import sys; from model_trainer.trial.experiment import run_experiment; "
            "from tests.train.tiny import load; "
            f"run_experiment(load({str(tmp_path)!r}, 'train.epochs=1'), threads=1); "
            "print(sorted(m for m in ('mlflow', 'tensorboard') if m in sys.modules))")
    out = forked.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_trials_starting_together_share_one_store(tmp_path):
    """Three trials start at once on a new SQLite store: one creates it while the others
    wait, and all three runs are there with all their rows."""
    recipe = tmp_path / "tiny.yaml"
    from tests.train.tiny import RECIPE

    recipe.write_text(RECIPE + f"output_dir: {tmp_path}\n")
    children = [forked.popen([sys.executable, "-m", "model_trainer", "run", str(recipe),
                                  f"seed={seed}", "train.epochs=2", "train.loggers=[mlflow]"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for seed in range(3)]
    outputs = [child.communicate(timeout=240)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert not any("mlflow" in out.lower() for out in outputs), outputs  # no MLflow noise
    client = client_for(tmp_path / "tiny" / "mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 3 and {r.data.params["seed"] for r in runs} == {"0", "1", "2"}
    for found in runs:
        folder = Path(found.data.tags["mtrain.trial_dir"])
        assert history(client, found.info.run_id, "val_loss") == jsonl(folder, "val", "loss")


def test_a_value_read_from_the_environment_is_never_written_out(tmp_path, monkeypatch):
    """A secret read through ${oc.env:...} stays out of recipe.yaml, status.json, MLflow,
    `mtrain show` and the report; the trial loads back (same id) with the variable set."""
    from typer.testing import CliRunner

    from model_trainer.cli.app import app
    from tests.train.tiny import RECIPE

    monkeypatch.setenv("MTRAIN_TEST_SECRET", "hunter2-secret")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("args: {n: 96}", "args: {n: 96, token: '${oc.env:MTRAIN_TEST_SECRET}'}")
                      + f"output_dir: {tmp_path / 'runs'}\n")
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(recipe), "train.epochs=1", "train.loggers=[mlflow]"])
    assert result.exit_code == 0, result.output
    trial = next((tmp_path / "runs" / "tiny").glob("tinynet-*"))
    shown = runner.invoke(app, ["show", str(recipe)], env={"COLUMNS": "200"}).output
    runner.invoke(app, ["analyze", str(tmp_path / "runs"), "--no-plots"])
    client = client_for(tmp_path / "runs" / "tiny" / "mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    outputs = {"show": shown, "mlflow": str(run.data.params),
               **{p.name: p.read_text() for p in tmp_path.rglob("*")
                  if p.is_file() and p.suffix in (".yaml", ".json", ".html", ".csv", ".md")
                  and p != recipe}}
    for where, text in outputs.items():
        assert "hunter2-secret" not in text, where
    assert "${oc.env:MTRAIN_TEST_SECRET}" in (trial / "recipe.yaml").read_text()
    from model_trainer.recipe.trial_file import load_trial_recipe

    assert load_trial_recipe(trial)[0].trial_id == trial.name  # read from the env again
    monkeypatch.setenv("MTRAIN_KEEP_ENV_VALUES", "1")  # the opt-in
    again = runner.invoke(app, ["run", str(recipe), "train.epochs=2"])
    assert again.exit_code == 0 and "hunter2-secret" in (trial / "recipe.yaml").read_text()


def test_a_mapping_read_from_the_environment_is_hidden_leaf_by_leaf(monkeypatch):
    """`${oc.decode:${oc.env:...}}` makes a mapping: its leaves are attributes of their
    own, and none of them shows the value (trackers' params and config, `mtrain show`)."""
    from model_trainer.recipe import load_recipe_text
    from model_trainer.recipe.view import attribute_rows
    from model_trainer.trial.trackers import stateful_values
    from tests.train.tiny import RECIPE

    monkeypatch.setenv("MTRAIN_TEST_SECRET", "{user: ana, password: hunter2}")
    loaded = load_recipe_text(RECIPE.replace(
        "args: {n: 96}", "args: {n: 96, cred: '${oc.decode:${oc.env:MTRAIN_TEST_SECRET}}'}"))
    assert loaded.recipe.data.args["cred"]["password"] == "hunter2"  # the run has it
    values = stateful_values(loaded.recipe)
    assert values["data.args.cred.password"] == "${oc.decode:${oc.env:MTRAIN_TEST_SECRET}}"
    assert "hunter2" not in str(values)
    assert "hunter2" not in str([(r.key, r.value) for r in attribute_rows(loaded)])
