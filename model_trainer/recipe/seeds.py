"""A study's seeds: a fixed list, or adaptive (`{min, max, decide}`).

Adaptive seeds compare every grid point with the baseline, the grid point that keeps the
recipe's own values, paired by seed: seeds 0, 1, 2, ... are added to a configuration
(and to the baseline) while that comparison is undecided. This module says which seeds a
configuration starts with, which grid point is the baseline, and checks the recipe for
both; the decisions themselves are made at run time (model_trainer/study/adaptive.py).
"""

from __future__ import annotations

import math
from typing import Any

from model_trainer import dotted
from model_trainer.recipe.identity import to_plain
from model_trainer.recipe.schema import AdaptiveSeedsConfig, Recipe, StudyConfig
from model_trainer.recipe.space import Dimension, grid_size
from model_trainer.recipe.typecheck import Report

MAX_SEED = 2**32 - 1  # numpy's limit (torch takes 64 bits); larger seeds would wrap around


def is_adaptive(study: StudyConfig) -> bool:
    return isinstance(study.seeds, AdaptiveSeedsConfig)


def initial_seeds(study: StudyConfig, recipe_seed: int) -> list[int]:
    """The seeds every configuration runs first: the list, or 0 .. min-1 when adaptive,
    or the recipe's own seed when the list is empty."""
    if isinstance(study.seeds, AdaptiveSeedsConfig):
        return list(range(study.seeds.min))
    return list(study.seeds) or [recipe_seed]


def baseline_values(recipe: Recipe, dimensions: list[Dimension]) -> dict[str, Any]:
    """Per searched key, the first of its values that keeps the recipe's own value
    (a key whose values all change it is left out)."""
    indices = _baseline_indices(recipe, dimensions)
    return {d.key: d.point(indices[d.key]) for d in dimensions if d.key in indices}


def baseline_number(recipe: Recipe, dimensions: list[Dimension]) -> int | None:
    """The baseline's configuration number in the grid's order (the last dimension varies
    fastest), or None when the recipe's values are not all among the grid's."""
    indices = _baseline_indices(recipe, dimensions)
    if len(indices) != len(dimensions):
        return None
    number = 0
    for d in dimensions:
        number = number * d.size + indices[d.key]
    return number


def _baseline_indices(recipe: Recipe, dimensions: list[Dimension]) -> dict[str, int]:
    """Per searched key, the index of its first value that keeps the recipe's own value."""
    plain = to_plain(recipe)
    found = {}
    for d in dimensions:
        index = _index_of(d, dotted.get(plain, d.key, dotted.ABSENT))
        if index is not None:
            found[d.key] = index
    return found


def _index_of(d: Dimension, current: Any) -> int | None:
    """The index of the first value of `d` that matches `current`; an int range is not
    enumerated (it may hold billions)."""
    if current is dotted.ABSENT:
        return None
    if d.kind != "int":
        return next((i for i, v in enumerate(d.values) if dotted.matches(v, current)), None)
    if isinstance(current, bool) or not isinstance(current, int | float):
        return None  # as `matches`: only a number equals an int point
    if isinstance(current, float) and not current.is_integer():
        return None
    offset = int(current) - int(d.low)
    inside = 0 <= offset <= int(d.high) - int(d.low) and offset % d.step == 0
    return offset // d.step if inside else None


def check_seeds(recipe: Recipe, dimensions: list[Dimension] | None, report: Report) -> None:
    """The seed list's values, or the adaptive settings and the baseline they need (the
    baseline is checked when the grid's `dimensions` are known)."""
    study = recipe.study
    assert study is not None
    if not isinstance(study.seeds, AdaptiveSeedsConfig):
        if len(set(study.seeds)) != len(study.seeds):
            report("study.seeds", "lists a seed twice")
        for i, seed in enumerate(study.seeds):
            check_seed(seed, f"study.seeds.{i}", report)
        return
    spec = study.seeds
    if spec.min < 2:
        report("study.seeds.min", f"must be >= 2 (a comparison needs 2 seeds to measure its "
               f"noise), got {spec.min}")
    if spec.max < spec.min:
        report("study.seeds.max", f"must be >= study.seeds.min ({spec.min}), got {spec.max}")
    elif spec.max > MAX_SEED + 1:
        report("study.seeds.max", f"must be <= {MAX_SEED + 1} (seeds 0 .. max-1 must be valid "
               f"seeds), got {spec.max}")
    if spec.decide is None and recipe.hypothesis is None:
        report("study.seeds.decide", "missing required key (expected float): differences "
               "within ±decide do not matter, in the objective's units")
    elif spec.decide is not None and not (math.isfinite(spec.decide) and spec.decide >= 0):
        report("study.seeds.decide", f"must be a finite number >= 0 (in the units of "
               f"{recipe.train.monitor.metric}), got {spec.decide}")
    if not 0 < spec.alpha < 1:
        report("study.seeds.alpha", f"must be between 0 and 1 (like 0.05), got {spec.alpha}")
    if study.sampler != "grid":
        report("study.seeds", f"adaptive seeds need sampler grid, not {study.sampler}: they "
               "compare each configuration with the baseline (the grid point with the "
               "recipe's own values), and random or tpe configurations differ from it in "
               "every dimension at once; use a seed list, like [0, 1, 2]")
        return
    if dimensions is not None and recipe.hypothesis is None:  # claims name their own pairs
        _check_baseline(recipe, dimensions, report)


def check_seed(seed: int, key: str, report: Report) -> None:
    if not 0 <= seed <= MAX_SEED:
        report(key, f"must be in [0, {MAX_SEED}] (numpy's seed range), got {seed}")


def _check_baseline(recipe: Recipe, dimensions: list[Dimension], report: Report) -> None:
    """Every searched key's values include the recipe's own, and the grid has more."""
    if any(not d.is_discrete for d in dimensions):
        return  # reported already: a grid needs discrete values
    base = baseline_values(recipe, dimensions)
    plain = to_plain(recipe)
    for d in dimensions:
        if d.key in base:
            continue
        current = dotted.get(plain, d.key, dotted.ABSENT)
        said = "does not set it" if current is dotted.ABSENT else f"has {d.key}={current!r}"
        report(f"study.space.{d.key}", f"adaptive seeds compare each configuration with the "
               f"baseline, the grid point that keeps the recipe's own values, but the recipe "
               f"{said}, which is not among these values; add it to them, or set {d.key} "
               "to one of them")
    if len(base) == len(dimensions) and grid_size(dimensions) < 2:
        report("study.space", "adaptive seeds compare configurations with the baseline, but "
               "the grid holds only the baseline; add values to compare")
