"""Claims: their grammar, the verdict each interval gives, and the error guarantee checked
by simulation against known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_trainer.hypothesis import Verdict, claim_decision, parse_claim
from model_trainer.sequential import Interval, interval


def test_a_claim_reads_its_sides_with_yaml_values():
    claim = parse_claim("model.args.dropout=0.3 > model.args.dropout=0.0", by=0.005)
    assert (claim.a, claim.op, claim.b, claim.by) == (
        {"model.args.dropout": 0.3}, ">", {"model.args.dropout": 0.0}, 0.005)
    two = parse_claim("model.args.act=gelu, model.args.hidden=64 >= "
                      "model.args.act=relu, model.args.hidden=128", margin=0.01)
    assert two.a == {"model.args.act": "gelu", "model.args.hidden": 64} and two.op == ">="
    assert parse_claim("x=yes ~ x=no", margin=1).a == {"x": "yes"}  # YAML 1.2: text


@pytest.mark.parametrize(("text", "kwargs", "problem"), [
    ("dropout 0.3 beats 0.0", {}, "expected 'KEY=VALUE OP KEY=VALUE'"),
    ("a=1 > a=1", {}, "both sides are the same configuration"),
    ("a=1 > b=2", {}, "both sides must set the same keys"),
    ("a=1 ~ a=2", {}, "'~' needs a margin > 0"),
    ("a=1 >= a=2", {"margin": 0}, "'>=' needs a margin > 0"),
    ("a=1 > a=2", {"by": -1}, "'by' must be a finite number >= 0"),
    ("a=1, a=2 > a=3, a=4", {}, "a is set twice on one side"),
    ("a=[1 > a=2", {}, "cannot read the value of a"),
])
def test_a_malformed_claim_says_what_is_wrong(text, kwargs, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_claim(text, **kwargs)


def iv(low: float, high: float) -> Interval:
    return Interval(5, (low + high) / 2, low, high, 1.0)


@pytest.mark.parametrize(("claim", "kwargs", "low", "high", "verdict"), [
    ("a=1 > a=2", {}, 0.01, 0.05, Verdict.SUPPORTED),
    ("a=1 > a=2", {}, -0.05, -0.01, Verdict.REFUTED),
    ("a=1 > a=2", {}, -0.01, 0.05, None),
    ("a=1 > a=2", {"by": 0.02}, 0.01, 0.05, None),
    ("a=1 > a=2", {"by": 0.02}, 0.03, 0.05, Verdict.SUPPORTED),
    ("a=1 > a=2", {"by": 0.02}, -0.01, 0.015, Verdict.REFUTED),
    ("a=1 < a=2", {}, -0.05, -0.01, Verdict.SUPPORTED),
    ("a=1 < a=2", {}, 0.01, 0.05, Verdict.REFUTED),
    ("a=1 ~ a=2", {"margin": 0.02}, -0.01, 0.01, Verdict.SUPPORTED),
    ("a=1 ~ a=2", {"margin": 0.02}, 0.03, 0.05, Verdict.REFUTED),
    ("a=1 ~ a=2", {"margin": 0.02}, -0.01, 0.03, None),
    ("a=1 >= a=2", {"margin": 0.02}, -0.015, 0.03, Verdict.SUPPORTED),
    ("a=1 >= a=2", {"margin": 0.02}, -0.05, -0.03, Verdict.REFUTED),
])
def test_each_operator_reads_the_interval(claim, kwargs, low, high, verdict):
    assert parse_claim(claim, **kwargs).judge(iv(low, high)) is verdict


def test_a_min_objective_turns_the_difference_so_that_positive_is_better():
    claim = parse_claim("a=1 > a=2")
    loss_a = {s: 0.5 - 0.1 + 0.01 * (s % 3) for s in range(6)}  # A's loss is lower: A beats B
    loss_b = {s: 0.5 + 0.01 * (s % 3) + 0.001 * s for s in range(6)}
    decided = claim_decision(claim, loss_a, loss_b, (), (), 3, 12, 0.05, "min")
    assert decided.verdict is Verdict.SUPPORTED and decided.interval.estimate > 0
    assert claim_decision(claim, loss_a, loss_b, (), (), 3, 12, 0.05, "max").verdict \
        is Verdict.REFUTED


def test_no_verdict_while_a_seed_runs_or_before_the_least_seeds():
    claim = parse_claim("a=1 > a=2")
    a = {s: 1.0 + 0.01 * s for s in range(4)}
    b = {s: 0.0 + 0.01 * s * s for s in range(4)}
    assert claim_decision(claim, a, b, {4}, {4}, 3, 12, 0.05, "max").verdict is None
    assert claim_decision(claim, a, b, (), (), 5, 12, 0.05, "max").verdict is None
    assert claim_decision(claim, a, b, (), (), 3, 12, 0.05, "max").verdict is Verdict.SUPPORTED


def test_only_the_seeds_both_sides_have_count():
    """A configuration shared with another claim may have run more seeds."""
    claim = parse_claim("a=1 > a=2")
    a = {s: 1.0 + 0.01 * s for s in range(6)}
    b = {s: 0.0 + 0.01 * s * s for s in range(4)}
    decided = claim_decision(claim, a, b, (), (), 3, 12, 0.05, "max")
    assert decided.seeds == 4 and decided.verdict is Verdict.SUPPORTED
    assert decided.interval.n == 3  # the first look (3 pairs) decided it
    assert decided.text().startswith("supported after 3 seeds (4 run)")


def test_a_seed_without_a_value_is_left_out_and_said():
    """A failed trial (no value of the objective) is never a silent drop."""
    claim = parse_claim("a=1 > a=2")
    a = {0: 1.0, 1: None, 2: 1.1, 3: 0.9}
    b = {0: 0.0, 1: 0.1, 2: 0.2, 3: None}
    decided = claim_decision(claim, a, b, (), (), 3, 4, 0.05, "max")
    assert decided.left_out == 2 and decided.interval.n == 2
    assert decided.verdict is Verdict.UNDECIDED
    assert decided.text().endswith("; 2 seed(s) left out: a trial with no value of the "
                                   "objective (failed or pruned)")


def test_the_budget_spent_without_a_decision_is_undecided():
    claim = parse_claim("a=1 > a=2")
    a = {0: 1.0, 1: 0.0, 2: 1.0}
    b = {0: 0.0, 1: 1.0, 2: 0.5}
    decided = claim_decision(claim, a, b, (), (), 3, 3, 0.05, "max")
    assert decided.verdict is Verdict.UNDECIDED
    assert decided.interval == interval([1.0, -1.0, 0.5], 0.05, 3, 3)


def _sequential_claim(rng, effect: float, claim, noise, most=12, alpha=0.05) -> Verdict:
    """One claim decided as a study decides it: 3 seeds, then one more at a time."""
    a: dict[int, float] = {}
    b: dict[int, float] = {}
    for seed in range(most):
        common = rng.normal()  # the seed's luck, shared by both configurations
        a[seed] = common + effect + noise(rng)
        b[seed] = common + noise(rng)
        decided = claim_decision(claim, a, b, (), (), 3, most, alpha, "max")
        if decided.verdict is not None:
            return decided.verdict
    raise AssertionError("the budget always ends in a verdict")


@pytest.mark.parametrize("noise", [
    lambda rng: rng.normal(),
    lambda rng: rng.standard_t(3),
    lambda rng: rng.exponential() - 1.0,
], ids=["normal", "t3", "exponential"])
def test_a_true_null_is_wrongly_supported_at_most_alpha_of_the_time(noise):
    rng = np.random.default_rng(7)
    claim = parse_claim("a=1 > a=2")
    verdicts = [_sequential_claim(rng, 0.0, claim, noise) for _ in range(600)]
    wrong = np.mean([v is Verdict.SUPPORTED for v in verdicts])
    assert wrong <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 600)  # 0.05 within sampling error


def test_a_large_effect_is_supported_before_the_budget():
    rng = np.random.default_rng(8)
    claim = parse_claim("a=1 > a=2")
    verdicts = [_sequential_claim(rng, 3.0, claim, lambda r: r.normal()) for _ in range(200)]
    assert np.mean([v is Verdict.SUPPORTED for v in verdicts]) > 0.9
