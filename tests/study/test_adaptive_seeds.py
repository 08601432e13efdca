"""Adaptive seeds, simulated: many synthetic studies run through the planner's own calls
(trials finishing in random order), to measure its error rates and what it saves.
`python benchmarks/bench_adaptive.py` prints the same measures with more studies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from model_trainer import sequential as sequential_module
from model_trainer.recipe.schema import AdaptiveSeedsConfig
from model_trainer.sequential import Interval
from model_trainer.study.adaptive import AdaptiveSeeds
from model_trainer.vocabulary import RecordState, SeedVerdict
from tests.study.adaptive_sim import run_many, simulate


def test_null_effects_are_rarely_called_effects_whatever_the_looks():
    """Three configurations that change nothing: the chance that the study calls any of
    them an effect stays below alpha = 0.05 (1000 studies)."""
    studies = run_many([0.0, 0.0, 0.0], runs=1000)
    wrong = [any(d.verdict is SeedVerdict.EFFECT for d in plan.decisions(trials).values())
             for plan, trials in studies]
    assert np.mean(wrong) <= 0.05


def test_a_fixed_sample_interval_in_the_same_loop_would_call_too_many_effects(monkeypatch):
    """The same simulation with a t interval in place of the group-sequential one: its
    false-positive rate exceeds alpha, so the test above can see the difference."""
    def t_interval(diffs, alpha, *design):
        n = len(diffs)
        mean, sd = (float(np.mean(diffs)), float(np.std(diffs, ddof=1))) if n >= 2 else (0, 1)
        h = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n) if n >= 2 else math.inf
        return Interval(n, mean, mean - h, mean + h, sd)

    monkeypatch.setattr(sequential_module, "interval", t_interval)
    studies = run_many([0.0], runs=1000, seed=1, decide=0.0)
    wrong = [plan.decisions(trials)[1].verdict is SeedVerdict.EFFECT for plan, trials in studies]
    assert np.mean(wrong) > 0.07


def test_clear_effects_stop_early_with_the_right_sign():
    """An effect of 3 standard deviations of the paired differences is decided after about
    5 seeds instead of 12, nearly always, and never with the wrong sign."""
    studies = run_many([3.0, -3.0], runs=400, seed=2)
    decided = [plan.decisions(trials) for plan, trials in studies]
    for number, sign in ((1, 1), (2, -1)):
        verdicts = [d[number] for d in decided]
        assert np.mean([v.verdict is SeedVerdict.EFFECT for v in verdicts]) >= 0.95
        assert all(np.sign(v.interval.estimate) == sign for v in verdicts
                   if v.verdict is SeedVerdict.EFFECT)
        assert np.median([v.seeds for v in verdicts]) <= 6
    trials_run = np.mean([len(trials) for _, trials in studies])
    assert trials_run <= 0.6 * 3 * 12


def test_no_effect_that_matters_is_decided_before_max_and_rarely_wrong():
    """With decide = 2.5 sd, a null effect is called 'no effect that matters' before 12
    seeds; an effect exactly at the margin is called so in at most alpha of the studies."""
    null = run_many([0.0], runs=300, seed=3, decide=2.5)
    verdicts = [plan.decisions(trials)[1] for plan, trials in null]
    assert np.mean([v.verdict is SeedVerdict.NO_EFFECT for v in verdicts]) >= 0.9
    assert np.median([v.seeds for v in verdicts]) < 12
    edge = run_many([2.5], runs=1500, seed=4, decide=2.5)
    wrong = [plan.decisions(trials)[1].verdict is SeedVerdict.NO_EFFECT for plan, trials in edge]
    assert np.mean(wrong) <= 0.05


def test_failed_trials_leave_their_pair_out_and_still_count_towards_max():
    studies = run_many([0.3], runs=50, seed=5, fail=0.3)
    for plan, trials in studies:
        decision = plan.decisions(trials)[1]
        seeds = {t.seed for t in trials if t.number == 1}
        assert decision.seeds == len(seeds) <= 12
        both = {s for s in seeds if all(t.state is RecordState.COMPLETED for t in trials
                                        if t.seed == s and t.number in (0, 1))}
        assert decision.interval.n == len(both)
        assert decision.verdict is not None


def test_the_baseline_runs_every_seed_any_configuration_runs_and_no_more():
    plan, trials = simulate([3.0, 0.0], np.random.default_rng(6), decide=0.1)
    seeds = {n: {t.seed for t in trials if t.number == n} for n in range(3)}
    assert seeds[0] == seeds[1] | seeds[2]
    assert all(s == set(range(len(s))) for s in seeds.values())  # seeds 0, 1, 2, ... in order
    assert len(seeds[1]) < len(seeds[2]) == 12  # the clear effect stopped early
    assert plan.decisions(trials)[2].verdict is SeedVerdict.UNDECIDED


def decide_next(config, baseline, running=(), **kw):
    spec = AdaptiveSeedsConfig(**{"min": 3, "max": 12, "decide": 0.01, **kw})
    return AdaptiveSeeds(spec, comparisons=1, baseline=0).next_seeds(config, baseline, running)


def test_next_seeds_fills_min_first_waits_for_running_pairs_and_caps_the_batch():
    assert decide_next({}, {}) == [0, 1, 2]
    assert decide_next({0: 1.0}, {0: 1.0}, running={2}) == [1]
    noisy = {s: float(s % 2) for s in range(4)}
    assert decide_next(noisy, {s: 0.5 for s in range(3)}) == []  # seed 3 of the baseline: not yet
    assert decide_next(noisy, {s: 0.5 for s in range(4)}, running={5}) == []
    batch = decide_next(noisy, {s: 0.5 for s in range(4)})
    assert batch == [4, 5, 6, 7]  # undecidable at this spread: double, at most
    near_max = {s: float(s % 2) for s in range(10)}
    assert decide_next(near_max, {s: 0.5 for s in range(10)}) == [10, 11]
    assert decide_next({s: float(s % 2) for s in range(12)}, {s: 0.5 for s in range(12)}) == []


def test_a_configuration_without_a_single_complete_pair_stops_at_min():
    spec = AdaptiveSeedsConfig(min=3, max=12, decide=0.01)
    plan = AdaptiveSeeds(spec, comparisons=1, baseline=0)
    failed = {0: None, 1: None, 2: None}
    assert plan.next_seeds(failed, {0: 1.0, 1: 1.0, 2: 1.0}, ()) == []
    decision = plan.decision(failed, {0: 1.0, 1: 1.0, 2: 1.0})
    assert decision.verdict is SeedVerdict.UNDECIDED and decision.interval.n == 0


@pytest.mark.parametrize(("values", "words", "after"), [
    ({s: 1.0 + 0.01 * s for s in range(6)}, "effect +1.01 [", "after 3 seeds (6 run)"),
    ({s: 0.001 * (-1) ** s for s in range(8)}, "no effect beyond ±0.01: ",
     "after 4 seeds (8 run)"),
])
def test_decision_texts_say_what_was_decided_and_after_how_many_seeds(values, words, after):
    """Seeds run in a batch are looked at one by one: the verdict is the first look's,
    with its interval, and the text says the seeds the batch ran past it."""
    spec = AdaptiveSeedsConfig(min=3, max=12, decide=0.01)
    plan = AdaptiveSeeds(spec, comparisons=1, baseline=0)
    base = {s: 0.0 for s in values}
    text = plan.decision(values, base).text("max", 0.01)
    assert text.startswith(words) and text.endswith(after)


def test_the_report_counts_the_trials_run_and_saved_by_hand():
    """Baseline and configuration 2 ran all 12 seeds (two of them failed), configuration
    1 stopped at 4: 28 trials of the 36 that 12 seeds everywhere would take, 8 saved."""
    from model_trainer.study.index import StudyTrial

    spec = AdaptiveSeedsConfig(min=3, max=12, decide=0.01)
    plan = AdaptiveSeeds(spec, comparisons=2, baseline=0)
    trials = []
    for number, seeds in ((0, 12), (1, 4), (2, 12)):
        for seed in range(seeds):
            failed = number == 2 and seed < 2
            trials.append(StudyTrial(number, f"c{number}s{seed}", {"w": number}, seed,
                                     state=RecordState.FAILED if failed else
                                     RecordState.COMPLETED,
                                     value=None if failed else 0.5 + 0.1 * number))
    first = plan.report(trials, "max")[0]
    run, saved, everywhere = 12 + 4 + 12, (12 - 4), 3 * 12
    assert first == (f"adaptive seeds: {run} trials run, {saved} saved against 12 seeds "
                     f"for every configuration ({everywhere} trials)")
