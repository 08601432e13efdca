"""Simulations for adaptive seeds, shared by the tests and benchmarks/bench_adaptive.py:
synthetic grid studies run through the planner's own calls, and the coverage of the
group-sequential interval over simulated sequences of paired differences."""

from __future__ import annotations

import math

import numpy as np

from model_trainer.recipe.schema import AdaptiveSeedsConfig
from model_trainer.sequential import half_width
from model_trainer.study.adaptive import AdaptiveSeeds
from model_trainer.study.index import StudyTrial
from model_trainer.vocabulary import RecordState

NOISE = 1 / math.sqrt(2)  # per trial: the paired differences then have sd 1
# the shapes of seed noise the simulations draw (size None: one number)
SHAPES = {
    "normal": lambda rng, size: rng.normal(size=size),
    "t3": lambda rng, size: rng.standard_t(3, size=size),
    "exponential": lambda rng, size: rng.exponential(size=size),
    "lognormal": lambda rng, size: rng.lognormal(0.0, 1.0, size=size),
}


# a trial's own noise: each shape of SHAPES scaled so that the paired differences have sd 1
SPREAD = {"normal": 1.0, "t3": math.sqrt(3), "exponential": 1.0,
          "lognormal": math.sqrt((math.e - 1) * math.e)}


def trial_noise(shape: str, rng: np.random.Generator) -> float:
    return float(SHAPES[shape](rng, None)) * NOISE / SPREAD[shape]


def simulate(effects: list[float], rng: np.random.Generator, *, min_seeds: int = 3,
             max_seeds: int = 12, decide: float = 0.5, alpha: float = 0.05,
             fail: float = 0.0, noise: str = "normal") -> tuple[AdaptiveSeeds, list[StudyTrial]]:
    """One study: configuration 0 is the baseline, configuration i its change by
    effects[i-1]. A trial's value is the seed's luck (shared by every configuration, as
    a seed's data order and initialization are) plus the effect plus its own noise; a
    trial fails with probability `fail`. Each round some of the unfinished trials finish,
    then the planner adds what it wants, until it wants nothing more. `noise`: the shape
    of a trial's own noise (SHAPES)."""
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
                t.value = None if failed else \
                    means[t.number] + luck[t.seed] + trial_noise(noise, rng)
        added = plan.more_trials(trials)
        if not added and all(t.finished for t in trials):
            return plan, trials
        trials += [StudyTrial(n, f"t{n}-{s}", {"x": n}, s) for n, s in added]


def run_many(effects, runs, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [simulate(effects, rng, **kw) for _ in range(runs)]




def every_look(effect: float, shape: str, sims: int, seed: int, least: int = 3,
               most: int = 12, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`sims` designs decided as a study decides them, looking after every pair in seed
    order (what model_trainer.sequential.first_look does with any batches): paired
    differences of two configurations' trials with the given noise shape, scaled to sd 1,
    plus `effect`. Returns (whether decided, the pairs at the deciding look or `most`,
    the differences)."""
    rng = np.random.default_rng(seed)
    d = SHAPES[shape](rng, (sims, most)) - SHAPES[shape](rng, (sims, most))
    d = (d - d.mean()) / d.std() + effect
    n = np.arange(1, most + 1)
    mean = np.cumsum(d, axis=1) / n
    sd = np.sqrt(np.maximum(np.cumsum(d**2, axis=1) - n * mean**2, 0) / np.maximum(n - 1, 1))
    factor = np.array([half_width(k, 1.0, alpha, least, most) for k in range(least, most + 1)])
    h = sd[:, least - 1:] * factor
    m = mean[:, least - 1:]
    decided = (m - h > 0) | (m + h < 0)
    seeds = np.where(decided.any(axis=1), decided.argmax(axis=1) + least, most)
    return decided.any(axis=1), seeds, d
