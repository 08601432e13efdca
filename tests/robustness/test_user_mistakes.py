"""Every wrong return type from user code is an exit-2 error naming the function, what it
returned and what was expected; never a TypeError traceback with exit 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests.train.tiny import RECIPE

runner = CliRunner()
MISTAKES = "tests.robustness.user_mistakes"
CASES = [
    ("data.target", f"data.target={MISTAKES}.int_loader",
     "make_dataloader('train') (data.target) returned int 5"),
    ("batch", f"data.target={MISTAKES}.string_batches", "the train loader yielded str 'a'"),
    ("loss-type", f"model.target={MISTAKES}.StringLoss",
     "StringLoss.forward returned str 'fast' as the loss"),
    ("loss-shape", f"model.target={MISTAKES}.VectorLoss", "expected a scalar tensor"),
    ("make_model", f"wrapper={MISTAKES}.ModelIsAString", "make_model() (model.target) returned str"),
    ("make_optimizer", f"wrapper={MISTAKES}.OptimizerIsNone", "make_optimizer(model) returned"),
    ("train_step", f"wrapper={MISTAKES}.StepReturnsATensor", "train_step returned a tensor"),
    ("evaluation_step", f"wrapper={MISTAKES}.EvaluationReturnsOneThing",
     "evaluation_step returned a tensor"),
    ("custom_evaluation", f"wrapper={MISTAKES}.CustomEvaluationReturnsText",
     "custom_evaluation('val') returned str 'high' for 'score'"),
]


@pytest.mark.parametrize(("override", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_wrong_return_type_is_exit_2_with_a_located_message(tmp_path, override, message):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    result = runner.invoke(app, ["run", str(recipe), f"output_dir={tmp_path / 'runs'}",
                                 override])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
