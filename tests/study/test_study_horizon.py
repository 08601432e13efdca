"""A study has one horizon: every trial's value is read within the study's train.epochs,
whatever else trained in its folder; a rerun with more epochs extends every trial."""

from __future__ import annotations

from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests.files import rows, status, study_trials
from tests.study.tinytask import RECIPE

runner = CliRunner()


def best_within(folder, epochs: int) -> float:
    """The best val accuracy of a trial's rows up to `epochs`, by hand."""
    return max(r["metrics"]["accuracy"] for r in rows(folder, "val") if r["epoch"] <= epochs)


def test_a_study_rerun_with_more_epochs_extends_every_trial(tmp_path, tiny_study):
    result = runner.invoke(app, ["run", str(tiny_study), "train.epochs=4"])
    assert result.exit_code == 0, result.output
    assert "extended to 4 epochs" in result.output
    study = tmp_path / "runs" / "tiny-study"
    for trial in study_trials(study):
        folder = study / trial["trial_id"]
        assert status(folder)["epochs_done"] == 4 and trial["state"] == "completed"
        assert [r["epoch"] for r in rows(folder, "val")] == [1, 2, 3, 4]
        assert trial["value"] == best_within(folder, 4)


def test_a_longer_trial_adopted_by_a_study_is_valued_within_the_study_epochs(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    single = runner.invoke(app, ["run", str(path), "study=null", "train.epochs=6",
                                 "train.optimizer.lr=0.5"])
    assert single.exit_code == 0, single.output
    result = runner.invoke(app, ["run", str(path), "train.optimizer.lr=0.5"])  # 2 epochs
    assert result.exit_code == 0, result.output
    study = tmp_path / "runs" / "tiny-study"
    (adopted,) = [t for t in study_trials(study) if status(study / t["trial_id"])["epochs_done"] == 6]
    folder = study / adopted["trial_id"]
    assert adopted["value"] == best_within(folder, 2)
    assert "1 trial had trained past this study's 2 epochs" in result.output
    analyzed = runner.invoke(app, ["analyze", str(study), "--no-plots"])
    assert analyzed.exit_code == 0, analyzed.output
    import pandas as pd

    table = pd.read_csv(study / "analysis" / "trials.csv").set_index("trial_id")
    assert table.loc[adopted["trial_id"], "at_best_val_accuracy"] == best_within(folder, 2)
    assert table.loc[adopted["trial_id"], "best_epoch"] <= 2
    assert "past the study's 2 epochs" in analyzed.output
