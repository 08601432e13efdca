"""Per value of each varied attribute: how good is the objective, and, in an ablation, is
the difference from the baseline value real or noise?

Each value (or bin of a continuous range) gets n, mean, std and a 95% t confidence
interval over its trials (seeds and the other attributes pooled). In an ablation design
(see design.py) each value is also compared with the baseline: a paired t-test when at
least MIN_PAIRS trials match a baseline trial on seed and every other varied attribute
(the noise of the seed cancels), else Welch's t-test; the difference gets its 95% CI and
a standardised effect (d_z for pairs, Hedges' g otherwise). Only baseline trials run with
the same values of the other attributes as the compared value count: in a grid that is
all of them; when each configuration changes one attribute, the configuration with every
attribute at its baseline (a trial that changed B is no baseline for A). The p-values are
corrected for multiplicity and turned into conclusions afterwards (conclusions.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model_trainer.analysis import adaptive_rows, binning
from model_trainer.analysis.design import ABLATION
from model_trainer.analysis.labels import level_key
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.vocabulary import TrialState

MIN_PAIRS = 3  # fewer matched pairs than this and a paired test says nothing useful
MIN_SAMPLES = 3  # per side, for Welch's test to support a conclusion
ALPHA = 0.05

COLUMNS = [
    "group", "attribute", "value", "is_baseline", "n", "mean", "std", "ci_low", "ci_high",
    "diff", "diff_ci_low", "diff_ci_high", "effect_size", "effect_kind", "test", "n_pairs",
    "p_value", "p_holm", "note", "conclusion",
]


def summarize(values: Any, confidence: float = 0.95) -> dict[str, float]:
    """n, mean, sample std (ddof=1) and the t-distribution confidence interval of the mean."""
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def _empty_comparison() -> dict[str, Any]:
    return {"diff": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan,
            "effect_size": math.nan, "effect_kind": "", "test": "", "n_pairs": 0,
            "p_value": math.nan, "note": ""}


def compare_to_baseline(values: dict[tuple, float], baseline: dict[tuple, float]) -> dict[str, Any]:
    """Difference (value - baseline) of the objective, its 95% CI, effect size and test.

    `values` and `baseline` map a match key (seed plus the other attributes) to the mean
    objective of the trials with that key; matching keys form the pairs.
    """
    from scipy import stats

    out = _empty_comparison()
    common = [k for k in values if k in baseline]
    out["n_pairs"] = len(common)
    if len(common) >= MIN_PAIRS:
        x = np.array([values[k] for k in common], dtype=float)
        y = np.array([baseline[k] for k in common], dtype=float)
        d = x - y
        sd = float(d.std(ddof=1))
        out.update(diff=float(d.mean()), test="paired t")
        if sd == 0.0:
            out["note"] = "every pair differs by the same amount; no variance to test"
            return out
        half = float(stats.t.ppf(1 - ALPHA / 2, d.size - 1)) * sd / math.sqrt(d.size)
        out.update(diff_ci_low=out["diff"] - half, diff_ci_high=out["diff"] + half,
                   effect_size=out["diff"] / sd, effect_kind="d_z",
                   p_value=float(stats.ttest_rel(x, y).pvalue))
        return out
    a = np.array(list(values.values()), dtype=float)
    b = np.array(list(baseline.values()), dtype=float)
    if a.size == 0 or b.size == 0:
        out["note"] = "no trials to compare"
        return out
    out["diff"] = float(a.mean() - b.mean())
    sizes = f"n={a.size} vs baseline n={b.size}, {len(common)} matched pair(s)"
    if a.size < 2 or b.size < 2:
        out["note"] = f"too few seeds to test ({sizes})"
        return out
    va, vb = a.var(ddof=1), b.var(ddof=1)
    out["test"] = "Welch t"
    if va + vb == 0.0:
        out["note"] = "no variance in either group; cannot test"
        return out
    se2 = va / a.size + vb / b.size
    dof = se2**2 / ((va / a.size) ** 2 / (a.size - 1) + (vb / b.size) ** 2 / (b.size - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, dof)) * math.sqrt(se2)
    pooled = math.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / (a.size + b.size - 2))
    correction = 1 - 3 / (4 * (a.size + b.size) - 9)  # Hedges' small-sample correction
    out.update(diff_ci_low=out["diff"] - half, diff_ci_high=out["diff"] + half,
               effect_size=correction * out["diff"] / pooled, effect_kind="g")
    if min(a.size, b.size) < MIN_SAMPLES:  # described, not tested: one verdict per row
        out["note"] = f"too few samples to conclude ({sizes})"
    else:
        out["p_value"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return out


def _same(a: Any, b: Any) -> bool:
    if binning.is_number(a) and binning.is_number(b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    return a == b


def ordered_levels(keys: list, order: list | None) -> list:
    """Distinct non-missing values: in the space's order when it lists them, else sorted."""
    present = []
    for k in keys:
        if k is not None and not any(_same(k, p) for p in present):
            present.append(k)
    listed = [p for o in order or [] for p in present if _same(p, o)]
    rest = [p for p in present if not any(_same(p, q) for q in listed)]
    rest.sort(key=lambda v: (0, float(v), "") if binning.is_number(v) else (1, 0.0, str(v)))
    return listed + rest


def reference_level(group: Group, attribute: str, levels: list) -> tuple[Any, str]:
    """The value the others are compared with, and where it came from: the study recipe's
    own value when it was run, else the first value of the space (or the first level)."""
    if not levels:
        return None, ""
    baseline = group.baselines.get(attribute)
    found = next((lvl for lvl in levels if baseline is not None and _same(lvl, baseline)), None)
    if found is not None:
        return found, group.baseline_source.get(attribute, "")
    if baseline is None:
        return levels[0], "first value"
    return levels[0], f"first value; the recipe's {baseline!r} was not run"


@dataclass
class LevelView:
    """An attribute's levels among some trials, and what else each trial was run with."""

    keys: list  # each trial's level (None: missing)
    match: list[tuple]  # each trial's seed, then its values of the other varied attributes
    levels: list
    base: Any  # the level the others are compared with (an ablation), else None
    source: str  # where the baseline came from

    @classmethod
    def of(cls, data: pd.DataFrame, group: Group, attribute: str, design: str) -> LevelView:
        keys = [level_key(v) for v in data[attribute]]
        levels = ordered_levels(keys, group.level_order.get(attribute))
        base, source = reference_level(group, attribute, levels) if design == ABLATION \
            else (None, "")
        others = ["seed", *[k for k in group.varied if k != attribute and k in data.columns]]
        match = [tuple(level_key(v) for v in row) for row in data[others].itertuples(index=False)]
        return cls(keys, match, levels, base, source)

    def at(self, level: Any) -> np.ndarray:
        return np.array([k is not None and _same(k, level) for k in self.keys], dtype=bool)

    def contexts(self, level: Any) -> set[tuple]:
        """The values of the other varied attributes the level's trials were run with."""
        return {m[1:] for m, here in zip(self.match, self.at(level), strict=True) if here}

    def counted(self) -> np.ndarray:
        """Which trials the per-value statistics count: a baseline trial only when some
        other level was run with the same values of the other attributes (in a grid every
        one; when each configuration changes one attribute, only the configuration with
        every attribute at its baseline: a trial that changed B is no baseline for A)."""
        keep = np.ones(len(self.keys), dtype=bool)
        others = [lvl for lvl in self.levels if self.base is not None and not _same(lvl, self.base)]
        if not others:
            return keep
        shared = set().union(*(self.contexts(lvl) for lvl in others))
        base = self.at(self.base)
        counted = base & np.array([m[1:] in shared for m in self.match], dtype=bool)
        return keep if not counted.any() else ~base | counted

    def by_match(self, y: np.ndarray, level: Any, among: set[tuple] | None = None) -> dict[tuple, float]:
        """The mean objective per match key of the level's trials (those run with one of
        the contexts `among`, when given)."""
        acc: dict[tuple, list[float]] = {}
        for here, m, v in zip(self.at(level), self.match, y, strict=True):
            if here and (among is None or m[1:] in among):
                acc.setdefault(m, []).append(float(v))
        return {m: float(np.mean(vs)) for m, vs in acc.items()}


def attribute_rows(frame: pd.DataFrame, group: Group, attribute: str, objective: Objective,
                   design: str = ABLATION) -> list[dict]:
    """The rows of one attribute in one group (`frame`: its usable trials)."""
    col = objective.column
    data = frame[np.isfinite(frame[col].astype(float))]
    y = data[col].astype(float).to_numpy()
    scale = binning.scale_of(list(data[attribute]), group.space.get(attribute))
    if scale != binning.LEVELS:
        return _binned_rows(data, group, attribute, y, scale)
    view = LevelView.of(data, group, attribute, design)
    counted = view.counted()
    adaptive = adaptive_rows.adaptive_spec(group) if design == ABLATION else None
    rows = []
    for level in view.levels:
        is_base = view.base is not None and _same(level, view.base)
        row = {"group": group.key, "attribute": attribute, "value": level, "is_baseline": is_base,
               **_empty_comparison(), "n_pairs": math.nan}
        row.update(summarize(y[view.at(level) & counted]))
        if is_base:
            row["note"] = f"baseline ({view.source})" if view.source else "baseline"
        elif view.base is not None and adaptive_rows.is_hypothesis(group):
            row["note"] = adaptive_rows.HYPOTHESIS_NOTE  # described: the claims decide
        elif view.base is not None and adaptive is not None:  # the run's own decision
            row.update(adaptive_rows.comparison(data, group, attribute, level, col, adaptive,
                                                objective.mode))
        elif view.base is not None:
            baseline = view.by_match(y, view.base, view.contexts(level))
            row.update(compare_to_baseline(view.by_match(y, level), baseline))
            if not baseline:
                row["note"] = "no baseline trial was run with the same other attributes"
        rows.append(row)
    return rows


def _binned_rows(data: pd.DataFrame, group: Group, attribute: str, y: np.ndarray,
                 scale: str) -> list[dict]:
    """A continuous range: one descriptive row per non-empty bin (see binning.py)."""
    x = data[attribute].astype(float).to_numpy()
    edges = binning.bin_edges(x, scale)
    which = binning.assign_bins(x, edges)
    rows = []
    for index in range(len(edges) - 1):
        sel = which == index
        if not sel.any():
            continue
        row = {"group": group.key, "attribute": attribute, "value": binning.bin_label(edges, index),
               "is_baseline": False, **_empty_comparison(), "n_pairs": math.nan}
        row.update(summarize(y[sel]))
        rows.append(row)
    return rows


def usable_trials(trials: pd.DataFrame, objective: Objective,
                  include_pruned: bool = False) -> tuple[pd.DataFrame, str]:
    """Trials the statistics use: completed ones with a value (and pruned ones when asked;
    all with a value if none is finished)."""
    if objective.column not in trials.columns:
        return trials.iloc[0:0], "no trial has a value for the objective"
    has_value = np.isfinite(trials[objective.column].astype(float))
    states = [TrialState.COMPLETED, *([TrialState.PRUNED] if include_pruned else [])]
    done = trials[has_value & trials["state"].isin(states)]
    if not done.empty:
        return done, " and ".join(f"{s} trials" for s in states)
    return trials[has_value], "no completed trial yet: using every trial with a value (partial runs)"


def ablation_table(usable: pd.DataFrame, groups: dict[str, Group], objective: Objective,
                   designs: dict[str, str]) -> pd.DataFrame:
    """One row per (group, varied attribute, value or bin); see the module docstring."""
    rows: list[dict] = []
    for key, group in groups.items():
        frame = usable[usable["group"] == key]
        if frame.empty:
            continue
        for attribute in group.varied:
            if attribute in frame.columns:
                rows.extend(attribute_rows(frame, group, attribute, objective, designs[key]))
    return pd.DataFrame(rows, columns=COLUMNS)
