"""Which statistics fit a group's design.

An ablation (a grid, or trials that each change one attribute of a baseline) has, for
every value of an attribute, trials that differ from the baseline in that attribute
alone: each value is compared with the baseline, paired by seed. Sampled configurations
(random or TPE, or any irregular set of trials) have no such partners: a difference
between two values mixes in every other dimension. There each dimension's effect is
estimated with the others held fixed, by one regression of the objective on all of them.
"""

from __future__ import annotations

import math

import pandas as pd

from model_trainer.analysis.binning import LEVELS, scale_of
from model_trainer.analysis.labels import level_key
from model_trainer.analysis.loaded import Group

ABLATION, SAMPLED = "ablation", "sampled"


def design_of(group: Group, frame: pd.DataFrame) -> tuple[str, str]:
    """(ABLATION or SAMPLED, why) for the group's usable trials in `frame`."""
    attributes = [a for a in group.varied if a in frame.columns]
    if group.sampler in ("random", "tpe"):
        return SAMPLED, f"{group.sampler} sampler: configurations are drawn, not paired"
    ranged = [a for a in attributes if scale_of(list(frame[a]), group.space.get(a)) != LEVELS]
    if ranged:
        return SAMPLED, f"{', '.join(ranged)} sampled from a range"
    if group.sampler == "grid":
        return ABLATION, "grid study"
    if len(attributes) <= 1:
        return ABLATION, "one varied attribute"
    configs = {tuple(level_key(v) for v in row) for row in frame[attributes].itertuples(index=False)}
    # the configurations lie in the product of the levels: a full grid when they fill it
    if math.prod(len({c[i] for c in configs}) for i in range(len(attributes))) == len(configs):
        return ABLATION, "every combination of the values was run"
    base = tuple(group.baselines.get(a) for a in attributes)
    if all(sum(x != b for x, b in zip(c, base, strict=True)) <= 1 for c in configs):
        return ABLATION, "each configuration changes one attribute of the baseline"
    return SAMPLED, "the configurations form neither a grid nor one-at-a-time changes"
