"""Simulations for adaptive seeds, shared by the tests and benchmarks/bench_adaptive.py:
synthetic grid studies run through the planner's own calls, and the coverage of the
confidence sequence over simulated sequences of paired differences."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from model_trainer.recipe.schema import AdaptiveSeedsConfig
from model_trainer.sequential import half_width
from model_trainer.study.adaptive import AdaptiveSeeds
from model_trainer.study.index import StudyTrial
from model_trainer.vocabulary import RecordState

NOISE = 1 / math.sqrt(2)  # per trial: the paired differences then have sd 1


def simulate(effects: list[float], rng: np.random.Generator, *, min_seeds: int = 3,
             max_seeds: int = 12, decide: float = 0.5, alpha: float = 0.05,
             fail: float = 0.0) -> tuple[AdaptiveSeeds, list[StudyTrial]]:
    """One study: configuration 0 is the baseline, configuration i its change by
    effects[i-1]. A trial's value is the seed's luck (shared by every configuration, as
    a seed's data order and initialization are) plus the effect plus its own noise; a
    trial fails with probability `fail`. Each round some of the unfinished trials finish,
    then the planner adds what it wants, until it wants nothing more."""
    spec = AdaptiveSeedsConfig(min=min_seeds, max=max_seeds, decide=decide, alpha=alpha)
    plan = AdaptiveSeeds(spec, comparisons=len(effects), baseline=0)
    luck = rng.normal(0.0, 2.0, size=max_seeds)
    means = [0.0, *effects]
    trials = [StudyTrial(n, f"t{n}-{s}", {"x": n}, s) for n in range(len(means))
              for s in range(plan.min)]
    while True:
        waiting = [t for t in trials if not t.finished]
        for t in waiting:
            if rng.random() < 0.6 or t is waiting[-1]:
                failed = rng.random() < fail
                t.state = RecordState.FAILED if failed else RecordState.COMPLETED
                t.value = None if failed else means[t.number] + luck[t.seed] + rng.normal(0, NOISE)
        added = plan.more_trials(trials)
        if not added and all(t.finished for t in trials):
            return plan, trials
        trials += [StudyTrial(n, f"t{n}-{s}", {"x": n}, s) for n, s in added]


def run_many(effects, runs, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [simulate(effects, rng, **kw) for _ in range(runs)]


def misses(x: np.ndarray, mu: float, alpha: float) -> tuple[float, float]:
    """Over simulated sequences (rows): the fraction whose interval missed `mu` after some
    number of pairs, for the confidence sequence and for a fixed t interval looked at
    after every pair."""
    n = np.arange(1, x.shape[1] + 1)
    mean = np.cumsum(x, axis=1) / n
    sd = np.sqrt(np.maximum(np.cumsum(x**2, axis=1) - n * mean**2, 0) / np.maximum(n - 1, 1))
    looks = n >= 2
    factor = np.array([half_width(k, 1.0, alpha) for k in n[looks]])
    outside = np.abs(mean[:, looks] - mu) > sd[:, looks] * factor
    t_factor = stats.t.ppf(1 - alpha / 2, n[looks] - 1) / np.sqrt(n[looks])
    naive = np.abs(mean[:, looks] - mu) > sd[:, looks] * t_factor
    return outside.any(axis=1).mean(), naive.any(axis=1).mean()
