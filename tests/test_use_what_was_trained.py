"""Use what was trained: a finished trial's model back in Python, its recipe, and the
checkpoint format as docs/files.md documents it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import model_trainer
from model_trainer.errors import UsageError

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def study_dir(finished_tiny_study) -> Path:
    return finished_tiny_study / "runs" / "tiny-study"


def first_trial(study_dir: Path) -> Path:
    return sorted(p.parent for p in study_dir.glob("*/status.json"))[0]


def test_load_trial_gives_the_trained_model_in_eval_mode(study_dir):
    trial = first_trial(study_dir)
    wrapper = model_trainer.load_trial(study_dir, trial_id=trial.name)
    model = wrapper.model
    assert isinstance(model, torch.nn.Module) and not model.training
    saved = torch.load(trial / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert wrapper.train_loader is None  # no data unless asked
    # a plain model built from the trial's args with the same weights says the same
    from tests.study.tinytask import Tiny

    plain = Tiny(**wrapper.recipe.model.args)
    plain.load_state_dict(saved)
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(model(x, torch.zeros(5, dtype=torch.long))[0],
                           plain.eval()(x, torch.zeros(5, dtype=torch.long))[0])


def test_the_last_checkpoint_and_the_loaders_on_request(study_dir):
    trial = first_trial(study_dir)
    wrapper = model_trainer.load_trial(trial, "last", data=True)
    saved = torch.load(trial / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in wrapper.model.state_dict().items())
    assert wrapper.val_loader is not None and not wrapper.model.training


def test_a_study_folder_without_a_trial_id_says_what_to_give(study_dir):
    with pytest.raises(UsageError, match="a study folder: give trial_id"):
        model_trainer.load_trial(study_dir)
    with pytest.raises(UsageError, match="checkpoint must be one of best, last"):
        model_trainer.load_trial(first_trial(study_dir), "newest")


def test_load_recipe_reads_a_file_or_a_trial_folder(study_dir, finished_tiny_study):
    trial = first_trial(study_dir)
    from_folder = model_trainer.load_recipe(trial)
    assert from_folder.trial_id == trial.name
    from_file = model_trainer.load_recipe(finished_tiny_study / "study.yaml")
    assert from_file.recipe.study is not None


def test_the_documented_checkpoint_keys_are_the_ones_written(study_dir):
    docs = (ROOT / "docs" / "files.md").read_text()
    section = docs.split("### Checkpoint files", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
    saved = torch.load(first_trial(study_dir) / "checkpoints" / "best.pt", weights_only=True)
    assert documented == set(saved)


def test_a_study_result_lists_its_trials_as_ray_tunes_result_grid(tiny_study):
    """The finished tiny study's result (answered from its files): every trial with its
    values and files, a DataFrame, and the best by the objective or by another metric."""
    import json

    result = model_trainer.run(str(tiny_study))
    index = json.loads((result.study_dir / "study_index.json").read_text())
    assert [t.trial_id for t in result.trials] == [t["trial_id"] for t in index["trials"]]
    frame = result.dataframe()
    assert list(frame["trial_id"]) == [t.trial_id for t in result.trials]
    assert {"state", "seed", "model.args.hidden", "val_accuracy", "folder"} <= set(frame.columns)
    best = result.best()
    completed = [t for t in index["trials"] if t["state"] == "completed"]
    assert best.trial_id == max(completed, key=lambda t: t["value"])["trial_id"]  # val_accuracy
    assert set(best.checkpoints) == {"best", "last"}
    assert not best.load().model.training
    losses = {}
    for t in result.trials:
        rows = [json.loads(line) for line in (t.folder / "metrics.jsonl").read_text().splitlines()]
        losses[t.trial_id] = [r["metrics"]["loss"] for r in rows if r["split"] == "train"
                              and r.get("source") != "eval"]
    lowest = {k: min(v) for k, v in losses.items()}
    highest = {k: max(v) for k, v in losses.items()}
    assert result.best("train_loss", "min").trial_id == min(lowest, key=lowest.get)
    # the mode decides both the trial's value and the pick (not the metric's name)
    assert result.best("train_loss", "max").trial_id == max(highest, key=highest.get)


def test_predict_writes_each_samples_output_as_the_model_gives_it(study_dir, tmp_path):
    """`mtrain predict`: the table's outputs equal the trained model run by hand on the
    split's samples, in order; the argmax is the prediction."""
    import pandas as pd
    from typer.testing import CliRunner

    from model_trainer.cli.app import app
    from tests.study.tinytask import make_loader

    trial = first_trial(study_dir)
    out = tmp_path / "preds.parquet"
    result = CliRunner().invoke(app, ["predict", str(study_dir), "--trial", trial.name,
                                      "--split", "val", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    model = model_trainer.load_trial(trial).model
    recipe = model_trainer.load_recipe(trial).recipe
    x = torch.stack([row["x"] for row in make_loader(recipe, "val").dataset])
    labels = torch.stack([row["labels"] for row in make_loader(recipe, "val").dataset])
    with torch.no_grad():
        logits = model(x, labels)[0]
    assert list(table.columns) == ["labels", "output_0", "output_1", "prediction"]
    assert table["labels"].tolist() == labels.tolist()
    assert table[["output_0", "output_1"]].to_numpy() == pytest.approx(logits.numpy(), abs=1e-6)
    assert table["prediction"].tolist() == logits.argmax(1).tolist()
    bad = CliRunner().invoke(app, ["predict", str(trial), "--out", str(tmp_path / "p.txt")])
    assert bad.exit_code == 2 and "--out must end in .parquet or .csv" in bad.output
    # a link at --out is refused, as analyze refuses one: the file it names is untouched
    precious = tmp_path / "precious.csv"
    precious.write_text("keep me\n")
    (tmp_path / "link.csv").symlink_to(precious)
    linked = CliRunner().invoke(app, ["predict", str(trial), "--out", str(tmp_path / "link.csv")])
    assert linked.exit_code == 2 and "link.csv is a link" in linked.output, linked.output
    assert precious.read_text() == "keep me\n"


def test_predict_on_a_file_of_inputs(study_dir, tmp_path):
    """--input: a .pt dict of tensors or an .npz file, batched by the recipe's batch size;
    the outputs equal the model run by hand on those rows; a bad file is exit 2."""
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from model_trainer.cli.app import app

    trial = first_trial(study_dir)
    x = torch.randn(37, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(37) % 2
    torch.save({"x": x, "labels": labels}, tmp_path / "inputs.pt")
    np.savez(tmp_path / "inputs.npz", x=x.numpy(), labels=labels.numpy())
    torch.save({"x": x}, tmp_path / "unlabelled.pt")  # this model's forward needs labels
    with torch.no_grad():
        logits = model_trainer.load_trial(trial).model(x, labels)[0]
    for name in ("inputs.pt", "inputs.npz"):
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(app, ["predict", str(trial), "--input",
                                          str(tmp_path / name), "--out", str(out)])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out)
        assert list(table.columns) == ["labels", "output_0", "output_1", "prediction"]
        assert table[["output_0", "output_1"]].to_numpy() == pytest.approx(logits.numpy(),
                                                                           abs=1e-6)
    torch.save({"x": x, "w": x[:3]}, tmp_path / "ragged.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a file torch wrote")
    for name, message in (("ragged.pt", "different numbers of rows"),
                          ("junk.pt", "cannot be read"), ("inputs.txt", "must end in .pt"),
                          ("unlabelled.pt", "labels")):
        bad = CliRunner().invoke(app, ["predict", str(trial), "--input", str(tmp_path / name),
                                       "--out", str(tmp_path / "p.csv")])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_the_analysis_gives_the_same_trials_and_best_as_the_study_result(tiny_study, tmp_path):
    """`analyze(...).dataframe()` and `.best()` agree with what run() returned, by the
    objective and by another metric in either mode."""
    from rich.console import Console

    from model_trainer.analysis import analyze

    result = model_trainer.run(str(tiny_study))
    analysed = analyze(result.study_dir, plots=False, out=tmp_path / "analysis",
                       console=Console(file=open("/dev/null", "w")))
    frame = analysed.dataframe()
    assert sorted(frame["trial_id"]) == sorted(t.trial_id for t in result.trials)
    assert analysed.best()["trial_id"] == result.best().trial_id
    for mode in ("min", "max"):
        assert analysed.best("train_loss", mode)["trial_id"] == \
            result.best("train_loss", mode).trial_id
    assert analysed.best("no_such_metric") is None
    from model_trainer.errors import UsageError

    with pytest.raises(UsageError, match="mode must be max or min, got 'lowest'"):
        analysed.best("train_loss", "lowest")
    with pytest.raises(ValueError, match="mode must be max or min, got 'lowest'"):
        result.best("train_loss", "lowest")


def test_best_by_an_error_metric_picks_the_lowest_by_default(tiny_study, tmp_path):
    """best("val_mae") without a mode picks the lowest error, as analyze ranks an error
    (it picked the highest: only names with "loss" counted as lower-is-better)."""
    import json

    from rich.console import Console

    from model_trainer.analysis import analyze

    result = model_trainer.run(str(tiny_study))
    maes = {}
    for number, trial in enumerate(result.trials):
        maes[trial.trial_id] = 0.5 + 0.1 * ((number * 7) % 5)  # a different value each
        row = {"step": 1, "epoch": 1, "split": "val", "time": 0.0,
               "metrics": {"mae": maes[trial.trial_id]}}
        with open(trial.folder / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
    lowest = min(maes, key=maes.get)
    assert result.best("val_mae").trial_id == lowest
    analysed = analyze(result.study_dir, plots=False, out=tmp_path / "analysis",
                       console=Console(file=open("/dev/null", "w")))
    assert analysed.best("val_mae")["trial_id"] == lowest


def test_predict_a_model_whose_output_is_a_dict(tmp_path):
    """A dict output (as train.metrics accept it): its predictions entry (logits) gives
    output_0.. and prediction, its other per-sample tensors a column each (it was
    refused: only a tensor output could be written)."""
    from model_trainer.trial.experiment import run_experiment
    from model_trainer.trial.predictions import predict
    from tests.train import tiny

    result = run_experiment(tiny.load(tmp_path, "model.target=tests.train.tiny.DictOutNet",
                                      "train.epochs=1"))
    table = predict(result.trial_dir, "val", "last")
    model = model_trainer.load_trial(result.trial_dir, "last").model
    x, labels = tiny.tensors(96, seed=456)
    with torch.no_grad():
        output = model(x)[0]
    assert list(table.columns) == ["labels", "output_0", "output_1", "output_2", "prediction",
                                   "score"]
    assert table["labels"].tolist() == labels.tolist()
    assert table[["output_0", "output_1", "output_2"]].to_numpy() == pytest.approx(
        output["logits"].numpy(), abs=1e-6)
    assert table["prediction"].tolist() == output["logits"].argmax(1).tolist()
    assert table["score"].to_numpy() == pytest.approx(output["score"].numpy(), abs=1e-6)
    torch.save({"x": x}, tmp_path / "samples.pt")  # samples of one's own: no labels
    given = predict(result.trial_dir, checkpoint="last", inputs=tmp_path / "samples.pt")
    assert given["prediction"].tolist() == output["logits"].argmax(1).tolist()


def test_predict_keeps_every_entry_of_a_dict_output_and_says_what_it_cannot_use():
    """An entry named like a column (`output` beside `logits`) is written apart, not over
    the predictions' columns; a metric_inputs that fails is an exit-2 error naming it; a
    tensor output is written as it is whatever metric_inputs says; a dict without a
    predictions entry is refused, naming the keys it may have."""
    from types import SimpleNamespace

    from model_trainer.errors import UsageError
    from model_trainer.trial.predictions import _predictions, _rows
    from model_trainer.wrapper import PREDICTION_KEYS

    logits, other = torch.randn(4, 3), torch.randn(4, 2)
    batch = {"x": torch.randn(4, 5), "labels": torch.tensor([0, 1, 2, 0])}
    table = _rows(batch, {"logits": logits, "output": other}, logits)
    assert list(table.columns) == ["labels", "output_0", "output_1", "output_2", "prediction",
                                   "output.output_0", "output.output_1"]
    assert table[["output_0", "output_1", "output_2"]].to_numpy() == pytest.approx(logits.numpy())
    assert table[["output.output_0", "output.output_1"]].to_numpy() == pytest.approx(other.numpy())

    def failing(output, batch):
        raise KeyError("labels")

    wrapper = SimpleNamespace(metric_inputs=failing)
    assert _predictions(wrapper, logits, batch) is logits  # a tensor: as it is
    with pytest.raises(UsageError, match="metric_inputs could not pick.*KeyError"):
        _predictions(wrapper, {"logits": logits}, batch)
    with pytest.raises(UsageError) as refused:
        _rows(batch, {"h": other}, {"h": other})
    assert all(key in str(refused.value) for key in PREDICTION_KEYS)
