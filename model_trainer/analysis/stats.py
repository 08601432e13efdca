"""Ablation statistics: per value of each varied attribute, how good is the objective, and is
the difference from the baseline value real or noise?

Each value gets n, mean, std and a 95% t confidence interval over all its trials (seeds and
the other attributes pooled). Against the baseline it gets a paired t-test when at least
MIN_PAIRS trials match a baseline trial on seed and every other varied attribute (the noise
of the seed cancels), else Welch's t-test, else a plain "too few" verdict.

A numeric attribute sampled from a range (more than MAX_LEVELS distinct values and not a
`choice`) has no repeated values to compare: it gets quantile bins and Spearman's rank
correlation with the objective instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.vocabulary import TrialState

MIN_PAIRS = 3  # fewer matched pairs than this and a paired test says nothing useful
MIN_SAMPLES = 3  # per side, for Welch's test to support a conclusion
MAX_LEVELS = 8  # numeric non-choice attributes with more distinct values are binned
BINS = 5
ALPHA = 0.05

COLUMNS = [
    "group", "attribute", "value", "is_baseline", "n", "mean", "std", "ci_low", "ci_high",
    "diff", "diff_ci_low", "diff_ci_high", "test", "n_pairs", "p_value", "conclusion",
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


def compare_to_baseline(
    values: dict[tuple, float], baseline: dict[tuple, float], objective: Objective
) -> dict[str, Any]:
    """Difference (value - baseline) of the objective and its test.

    `values` and `baseline` map a match key (seed plus the other attributes) to the mean
    objective of the trials with that key; matching keys form the pairs.
    """
    from scipy import stats

    out: dict[str, Any] = {
        "diff": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan,
        "test": "none", "n_pairs": 0, "p_value": math.nan,
    }
    common = [k for k in values if k in baseline]
    out["n_pairs"] = len(common)
    a = np.array(list(values.values()), dtype=float)
    b = np.array(list(baseline.values()), dtype=float)
    if len(common) >= MIN_PAIRS:
        x = np.array([values[k] for k in common], dtype=float)
        y = np.array([baseline[k] for k in common], dtype=float)
        d = x - y
        out.update(diff=float(d.mean()), test="paired t")
        sd = float(d.std(ddof=1))
        if sd == 0.0:
            out["conclusion"] = "every pair differs by the same amount; no variance to test"
            return out
        half = float(stats.t.ppf(1 - ALPHA / 2, d.size - 1)) * sd / math.sqrt(d.size)
        out.update(
            diff_ci_low=out["diff"] - half,
            diff_ci_high=out["diff"] + half,
            p_value=float(stats.ttest_rel(x, y).pvalue),
        )
        out["conclusion"] = _verdict(out["diff"], out["p_value"], objective)
        return out
    if a.size == 0 or b.size == 0:
        out["conclusion"] = "no trials to compare"
        return out
    out["diff"] = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        out["conclusion"] = (
            f"too few seeds to conclude anything (n={a.size} vs baseline n={b.size}, "
            f"{len(common)} matched pair(s))"
        )
        return out
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    out["test"] = "Welch t"
    if va + vb == 0.0:
        out["conclusion"] = "no variance in either group; cannot test"
        return out
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, dof)) * math.sqrt(va + vb)
    out.update(
        diff_ci_low=out["diff"] - half,
        diff_ci_high=out["diff"] + half,
        p_value=float(stats.ttest_ind(a, b, equal_var=False).pvalue),
    )
    verdict = _verdict(out["diff"], out["p_value"], objective)
    if min(a.size, b.size) < MIN_SAMPLES:
        verdict = (
            f"too few samples to conclude (n={a.size} vs baseline n={b.size}, "
            f"{len(common)} matched pair(s)); {verdict}"
        )
    out["conclusion"] = verdict
    return out


def _verdict(diff: float, p: float, objective: Objective) -> str:
    if not math.isfinite(p):
        return "test undefined"
    if p >= ALPHA:
        return f"no significant difference (p={p:.3g})"
    word = "better" if objective.better(diff) else "worse"
    return f"{word} than baseline (p={p:.3g})"


def _key(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not isinstance(b, bool) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    return a == b


def _sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _is_numeric(values: list) -> bool:
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def attribute_rows(
    frame: pd.DataFrame, group: Group, attribute: str, objective: Objective
) -> list[dict]:
    """The ablation rows of one attribute in one group (`frame`: its usable trials)."""
    col = objective.column
    data = frame[[attribute, "seed", col, *[k for k in group.varied if k != attribute]]]
    data = data[np.isfinite(data[col].astype(float))]
    keys = [_key(v) for v in data[attribute]]
    levels = sorted({k for k in keys if k is not None}, key=_sort_key)
    if not levels:
        return []
    spec = group.space.get(attribute)
    kind = next(iter(spec), None) if isinstance(spec, dict) and spec else None
    if _is_numeric(levels) and kind != "choice" and len(levels) > MAX_LEVELS:
        return _binned_rows(data, group, attribute, objective)  # sampled from a range
    others = ["seed", *[k for k in group.varied if k != attribute]]
    match = [tuple(_key(v) for v in row) for row in data[others].itertuples(index=False)]
    y = data[col].astype(float).to_numpy()
    baseline = group.baselines.get(attribute)
    base_level = next((lvl for lvl in levels if _same(lvl, baseline)), None)

    def by_match(level: Any) -> dict[tuple, float]:
        acc: dict[tuple, list[float]] = {}
        for k, m, v in zip(keys, match, y, strict=True):
            if k is not None and _same(k, level):
                acc.setdefault(m, []).append(float(v))
        return {m: float(np.mean(vs)) for m, vs in acc.items()}

    base_values = by_match(base_level) if base_level is not None else {}
    rows = []
    for level in levels:
        sel = np.array([k is not None and _same(k, level) for k in keys])
        row = {"group": group.key, "attribute": attribute, "value": level,
               "is_baseline": base_level is not None and _same(level, base_level)}
        row.update(summarize(y[sel]))
        if row["is_baseline"]:
            row.update(test="", n_pairs=math.nan, conclusion="baseline")
        elif base_level is None:
            row.update(test="", conclusion=f"baseline value {baseline!r} not among these trials")
        else:
            row.update(compare_to_baseline(by_match(level), base_values, objective))
        rows.append(row)
    return rows


def _binned_rows(data: pd.DataFrame, group: Group, attribute: str, objective: Objective) -> list[dict]:
    """Continuous attributes: quantile bins, plus the rank correlation with the objective."""
    from scipy import stats

    x = data[attribute].astype(float).to_numpy()
    y = data[objective.column].astype(float).to_numpy()
    bins = pd.qcut(x, q=min(BINS, len(np.unique(x))), duplicates="drop")
    rho, p = stats.spearmanr(x, y) if len(x) >= 3 else (math.nan, math.nan)
    note = f"continuous; Spearman rho={rho:.2f} (p={p:.3g}) over {len(x)} trials"
    rows = []
    for interval in bins.categories:
        sel = np.asarray(bins == interval)
        row = {"group": group.key, "attribute": attribute,
               "value": f"[{interval.left:.3g}, {interval.right:.3g}]", "is_baseline": False}
        row.update(summarize(y[sel]))
        row.update(test="", conclusion=note)
        rows.append(row)
    return rows


def usable_trials(trials: pd.DataFrame, objective: Objective) -> tuple[pd.DataFrame, str]:
    """Trials the statistics use: completed ones with a value (all with a value if none is)."""
    if objective.column not in trials.columns:
        return trials.iloc[0:0], "no trial has a value for the objective"
    has_value = np.isfinite(trials[objective.column].astype(float))
    completed = trials[has_value & (trials["state"] == TrialState.COMPLETED)]
    if not completed.empty:
        return completed, "completed trials"
    return trials[has_value], "no completed trial yet: using every trial with a value (partial runs)"


def ablation_table(trials: pd.DataFrame, groups: dict[str, Group], objective: Objective) -> pd.DataFrame:
    """One row per (group, varied attribute, value); see the module docstring."""
    rows: list[dict] = []
    usable, _ = usable_trials(trials, objective)
    for key, group in groups.items():
        frame = usable[usable["group"] == key]
        if frame.empty:
            continue
        for attribute in group.varied:
            if attribute in frame.columns:
                rows.extend(attribute_rows(frame, group, attribute, objective))
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table
