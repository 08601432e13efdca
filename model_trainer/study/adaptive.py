"""Adaptive seeds: run more seeds only where a comparison with the baseline is undecided.

Every configuration of a grid study starts with seeds 0 .. min-1. Once all its seeds and
the baseline's same seeds have finished, its differences from the baseline, paired by
seed, give a repeated confidence interval (sequential.py), and the comparison is

- decided, `effect`: the interval excludes 0;
- decided, `no effect that matters`: the interval lies within +-decide;
- `undecided`: `max` seeds were run (or, after `min`, no seed completed on both sides);
- else it gets a batch of further seeds, run in parallel, and the baseline gets them too.

The batch is the number of pairs that would decide the comparison if its mean and spread
stayed as they are now, at least 1 and at most the seeds it has (so a batch at most
doubles them). Each of the K comparisons of the study uses alpha/K (Bonferroni), so the
chance that any decision of the study is wrong is at most alpha. A failed or pruned
trial leaves its seed's pair out (the analysis leaves pruned trials out too) and still
counts towards `max`. Decisions are recomputed from the study index's values, so a
study rerun after a kill, or with a larger `max`, continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable

from model_trainer.recipe.schema import AdaptiveSeedsConfig, Recipe
from model_trainer.recipe.seeds import baseline_number
from model_trainer.recipe.space import Dimension, grid_size
from model_trainer.sequential import (
    SeedDecision,
    Values,
    complete,
    pairs_to_decide,
    seed_decision,
)
from model_trainer.study.index import StudyTrial
from model_trainer.vocabulary import RecordState


def adaptive_seeds(recipe: Recipe, dimensions: list[Dimension]) -> AdaptiveSeeds | None:
    """The recipe's adaptive seeds over its grid, or None when it lists its seeds."""
    study = recipe.study
    if study is None or not isinstance(study.seeds, AdaptiveSeedsConfig):
        return None
    baseline = baseline_number(recipe, dimensions)
    assert baseline is not None, "check_seeds guarantees the baseline is a grid point"
    return AdaptiveSeeds(study.seeds, grid_size(dimensions) - 1, baseline)


class AdaptiveSeeds:
    """The decisions and next seeds of each configuration's comparison with configuration
    `baseline`, from plain data: seed -> value of each finished trial, and the seeds still
    running."""

    def __init__(self, spec: AdaptiveSeedsConfig, comparisons: int, baseline: int):
        self.min, self.max, self.decide = spec.min, spec.max, spec.decide
        self.alpha = spec.alpha / max(comparisons, 1)  # Bonferroni over the comparisons
        self.baseline = baseline

    def decision(self, config: Values, baseline: Values,
                 running: Iterable[int] = ()) -> SeedDecision:
        """Where the comparison stands (see `seed_decision`)."""
        return seed_decision(config, baseline, running, self.min, self.max, self.decide,
                             self.alpha)

    def next_seeds(self, config: Values, baseline: Values, running: Iterable[int]) -> list[int]:
        """The seeds to add to this configuration now (and to the baseline): up to `min`
        first, then a batch while it is undecided; none while seeds are still running."""
        running = set(running)
        started = set(config) | running
        if len(started) < self.min:
            return _unused(started, self.min - len(started))
        now = self.decision(config, baseline, running)
        if now.verdict is not None or not complete(config, baseline, running):
            return []
        room = self.max - len(started)
        needed = pairs_to_decide(now.interval, self.decide, self.alpha, self.min,
                                 min(self.max, now.interval.n + room))
        batch = len(started) if needed is None else needed - now.interval.n
        return _unused(started, max(1, min(batch, len(started), room)))

    def more_trials(self, trials: list[StudyTrial]) -> list[tuple[int, int]]:
        """(configuration number, seed) of the trials to add now: each undecided
        configuration's next seeds, and the baseline's trial of every seed they have."""
        finished, running = by_config(trials)
        baseline = self.baseline
        base_values = finished.get(baseline, {})
        wanted: set[int] = set()
        added = []
        for number in sorted(set(finished) | set(running)):
            if number == baseline:
                continue
            new = self.next_seeds(finished.get(number, {}), base_values, running.get(number, ()))
            added += [(number, seed) for seed in new]
            wanted |= set(finished.get(number, {})) | running.get(number, set()) | set(new)
        have = set(base_values) | running.get(baseline, set())
        return added + [(baseline, seed) for seed in sorted(wanted - have)]

    def decisions(self, trials: list[StudyTrial]) -> dict[int, SeedDecision]:
        """Each configuration's decision but the baseline's, by configuration number."""
        finished, running = by_config(trials)
        base_values = finished.get(self.baseline, {})
        return {number: self.decision(finished.get(number, {}), base_values,
                                      running.get(number, ()))
                for number in sorted(set(finished) | set(running)) if number != self.baseline}

    def report(self, trials: list[StudyTrial], mode: str) -> list[str]:
        """The summary: trials saved against `max` seeds everywhere, and each decision."""
        params = {t.number: t.params for t in trials}
        seeds = {number: sum(1 for t in trials if t.number == number) for number in params}
        decisions = self.decisions(trials)
        lines = []
        for number in sorted(params):
            label = " ".join(f"{k}={v}" for k, v in params[number].items())
            said = (decisions[number].text(mode, self.decide) if number in decisions
                    else f"the baseline, {seeds[number]} seeds")
            lines.append(f"  {label}: {said}")
        saved = sum(max(self.max - n, 0) for n in seeds.values())
        return [f"adaptive seeds: {len(trials)} trials run, {saved} saved against {self.max} "
                f"seeds for every configuration ({len(params) * self.max} trials)"] + lines


def _unused(started: set[int], count: int) -> list[int]:
    """The `count` smallest seeds (0, 1, 2, ...) not started yet."""
    seeds: list[int] = []
    seed = 0
    while len(seeds) < count:
        if seed not in started:
            seeds.append(seed)
        seed += 1
    return seeds


def by_config(trials: list[StudyTrial]) -> tuple[dict[int, Values], dict[int, set[int]]]:
    """Per configuration: the finished seeds' values (completed ones only; a failed or
    pruned trial has none), and the seeds not finished yet."""
    finished: dict[int, Values] = {}
    running: dict[int, set[int]] = {}
    for t in trials:
        if t.finished:
            finished.setdefault(t.number, {})[t.seed] = \
                t.value if t.state is RecordState.COMPLETED else None
        else:
            running.setdefault(t.number, set()).add(t.seed)
    return finished, running
