"""A hypothesis on the digits data, end to end: the study designs itself from the claims,
stops each claim at its verdict, gives the same verdict in the run, `mtrain status`,
`mtrain analyze` and the Python API, and a rerun with a larger budget continues only the
claims still undecided."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.hypothesis import parse_claim
from model_trainer.sequential import interval
from tests.files import study_trials
from tests.study.test_adaptive_study import DIGITS

runner = CliRunner()
ROOT = Path(__file__).parents[2]

# the adaptive study's short digits recipe, with claims in place of its study's space
RECIPE = DIGITS.split("study:")[0].replace("digits-adaptive", "digits-claims") + """\
hypothesis:
  claims:
    - claim: train.optimizer.lr=2.0e-3 > train.optimizer.lr=1.0e-5
    - claim: model.args.dropout=0.0 > model.args.dropout=0.1
study:
  seeds: {{min: 3, max: {most}}}
  concurrency: 2
"""


def flat(output: str) -> str:
    """The text without its line breaks (a terminal's width wraps lines anywhere)."""
    return " ".join(output.split())


@pytest.mark.slow
def test_claims_get_one_verdict_everywhere_and_a_rerun_continues_the_open_ones(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(RECIPE.format(root=ROOT, out=tmp_path / "runs", most=4))
    planned = runner.invoke(app, ["validate", str(path)])
    assert planned.exit_code == 0, planned.output
    assert "a hypothesis of 2 claim(s) over 3 configuration(s) x 3 seed(s) = 9 trials to " \
           "start" in planned.output and "(at most 12 trials)" in planned.output

    first = runner.invoke(app, ["run", str(path)])
    assert first.exit_code == 0, first.output
    study_dir = tmp_path / "runs" / "digits-claims"
    trials = study_trials(study_dir)
    values = {(t["number"], t["seed"]): t["value"] for t in trials}
    # configuration 0: the recipe's values (lr 2e-3, dropout 0.1); 1: lr 1e-5; 2: dropout 0.0
    lr_seeds = sorted(s for n, s in values if n == 1)  # the clear claim stops early
    lr = [values[0, s] - values[1, s] for s in lr_seeds]
    iv = interval(lr, 0.025, 3, 4)  # alpha 0.05 over 2 claims; looks at 3 and 4 seeds
    assert iv.low > 0 and np.mean(lr) == pytest.approx(iv.estimate) and len(lr) < 4
    said = (f"supported after {len(lr)} seeds: A - B = {iv.estimate:+.4g} [{iv.low:+.4g}, "
            f"{iv.high:+.4g}]")
    assert f"train.optimizer.lr=2.0e-3 > train.optimizer.lr=1.0e-5: {said}" in first.output
    dropout = [values[2, s] - values[0, s] for s in range(4)]
    verdict = parse_claim("a=1 > a=2").judge(interval(dropout, 0.025, 3, 4))
    assert verdict is None  # undecided with 4 pairs: the budget is spent
    assert "model.args.dropout=0.0 > model.args.dropout=0.1: undecided after 4 seeds" in \
        first.output
    assert "The chance that any verdict here is wrong is at most 0.05" in first.output

    status = runner.invoke(app, ["status", str(study_dir)])
    analyzed = runner.invoke(app, ["analyze", str(study_dir), "--no-plots"])
    report = html.unescape((study_dir / "analysis" / "report.html").read_text())
    for claim in ("train.optimizer.lr=2.0e-3 > train.optimizer.lr=1.0e-5",
                  "model.args.dropout=0.0 > model.args.dropout=0.1"):
        run_line = next(line for line in first.output.splitlines() if claim in line)
        said = " ".join(run_line.split())
        assert said in flat(status.output) and said in flat(analyzed.output)
        assert said.split(" (A better")[0] in flat(report)

    # a larger budget continues the undecided claim only
    path.write_text(RECIPE.format(root=ROOT, out=tmp_path / "runs", most=6))
    from model_trainer import run as run_recipe

    result = run_recipe(str(path))
    seeds = {}
    for t in study_trials(study_dir):
        seeds.setdefault(t["number"], set()).add(t["seed"])
    assert seeds[1] == set(lr_seeds)  # the decided claim's own configuration: no more seeds
    assert seeds[2] == seeds[0] and len(seeds[2]) > 4
    verdicts = {v["claim"]: v for v in result.verdicts}
    assert verdicts["train.optimizer.lr=2.0e-3 > train.optimizer.lr=1.0e-5"]["verdict"] == \
        "supported"
    assert verdicts["model.args.dropout=0.0 > model.args.dropout=0.1"]["seeds"] == len(seeds[2])
