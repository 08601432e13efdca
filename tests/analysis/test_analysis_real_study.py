"""Analysis of a study folder made by a real run of the example digits study."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app

runner = CliRunner()


@pytest.mark.slow
def test_analyze_a_real_digits_study(tmp_path):
    run = runner.invoke(app, ["run", "recipes/digits_study.yaml", f"output_dir={tmp_path}",
                              "train.epochs=2", "study.seeds=[0,1]", "study.concurrency=1"])
    assert run.exit_code == 0, run.output
    study = tmp_path / "digits-study"
    result = runner.invoke(app, ["analyze", str(study)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "model.args.hidden" in result.output and "model.args.dropout" in result.output
    out = study / "analysis"
    assert "grid study" in result.output and "Holm p" in result.output
    trials = (out / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 8  # 2 x 2 configurations x 2 seeds
    assert {"best_epoch", "at_best_val_accuracy", "at_best_val_loss"} <= set(trials[0].split(","))
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "model.args.hidden" in report
    assert any(out.glob("*.png"))
