"""A recipe's `hypothesis:` section: claims checked at validate, located; the study they
design is the recipe's own, whose trials are the plain experiments."""

from __future__ import annotations

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe_text
from tests.recipe.samples import BASE

CLAIMS = """hypothesis:
  claims:
    - claim: model.args.hidden=16 > model.args.hidden=8
      by: 0.01
    - {claim: model.args.act=gelu ~ model.args.act=relu, margin: 0.02}
"""


def issues(text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, name="r.yaml")
    return [str(i) for i in info.value.issues]


def test_a_hypothesis_makes_a_study_whose_trials_are_plain_experiments():
    loaded = load_recipe_text(BASE + CLAIMS)
    assert loaded.recipe.study is not None and loaded.recipe.study.space == {}
    assert loaded.recipe.hypothesis.claims[0].by == 0.01
    trial = loaded.variant({"model.args.hidden": 16, "seed": 1})
    assert trial.recipe.hypothesis is None and trial.recipe.study is None
    plain = load_recipe_text(BASE.replace("hidden: 8", "hidden: 16").replace("seed: 0",
                                                                             "seed: 1"))
    assert trial.trial_id == plain.trial_id
    other = load_recipe_text(BASE + CLAIMS.replace("by: 0.01", "by: 0.02"))
    assert other.study_id != loaded.study_id


@pytest.mark.parametrize(("claims", "expected"), [
    ("  claims:\n    - claim: model.args.hidden=16 beats 8\n",
     "r.yaml:18: hypothesis.claims.0.claim: expected 'KEY=VALUE OP KEY=VALUE'"),
    ("  claims:\n    - claim: model.args.hiden=16 > model.args.hiden=8\n",
     "r.yaml:18: hypothesis.claims.0.claim: no recipe attribute 'model.args.hiden' (did you "
     "mean 'hidden'?)"),
    ("  claims:\n    - claim: model.args.hidden=big > model.args.hidden=8\n",
     "r.yaml:18: hypothesis.claims.0.claim: expected int, got str 'big'"),
    ("  claims:\n    - claim: model.args.act=gelu ~ model.args.act=relu\n",
     "r.yaml:18: hypothesis.claims.0.margin: '~' needs a margin > 0"),
    ("  claims:\n    - claim: train.epochs=3 > train.epochs=2\n",
     "r.yaml:18: hypothesis.claims.0.claim: train.epochs is stateless"),
    ("  claims: []\n", "r.yaml:17: hypothesis.claims: needs at least one claim"),
    ("  alpha: 1.5\n  claims:\n    - claim: model.args.hidden=16 > model.args.hidden=8\n",
     "r.yaml:17: hypothesis.alpha: must be between 0 and 1"),
])
def test_a_bad_claim_is_located(claims, expected):
    found = issues(BASE + "hypothesis:\n" + claims)
    assert any(line.startswith(expected) for line in found), found


def test_a_hypothesis_designs_the_study_space_itself():
    text = BASE + CLAIMS + "study:\n  space:\n    model.args.hidden: {choice: [8, 16]}\n"
    assert any("study.space: a hypothesis designs the study from its claims" in line
               for line in issues(text))


def test_a_seed_budget_needs_no_decide_with_a_hypothesis():
    loaded = load_recipe_text(BASE + CLAIMS + "study:\n  seeds: {max: 20}\n")
    assert loaded.recipe.study.seeds.max == 20
