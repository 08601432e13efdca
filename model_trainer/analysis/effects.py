"""Effect estimates for sampled designs: one least-squares regression of the objective on
every dimension at once, so each effect is estimated with the others held fixed.

Terms: a continuous dimension enters as a straight line on its scale (log10 for
log-uniform ones); its effect is the change of the objective predicted from the smallest
to the largest observed value. A dimension read as levels enters as indicators against a
reference level (the study recipe's value when it was run, else the first value); its
effect is the difference from that reference. With several seeds, each used at least
twice, the seed is a factor too, so the luck of a seed cancels as it does in a paired
test. Every effect gets a 95% CI, a t-test p-value, and a standardised size: the effect
divided by the residual standard deviation (the trial-to-trial noise the model leaves).
Spearman's rank correlation of a numeric dimension with the objective is shown beside
it: a trend that ignores the other dimensions, for reading, not for testing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model_trainer.analysis import binning
from model_trainer.analysis.formatting import fmt
from model_trainer.analysis.labels import level_key
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import ALPHA, ordered_levels, reference_level

MIN_DOF = 2  # residual degrees of freedom below which no test is made

COLUMNS = ["group", "attribute", "term", "n", "estimate", "ci_low", "ci_high", "std_effect",
           "rho", "p_value", "p_holm", "note", "conclusion", "numeric", "reference"]


@dataclass
class _Term:
    attribute: str
    label: str
    column: np.ndarray
    n: int
    scale_to_effect: float = 1.0  # a continuous slope times this is the effect over the range
    numeric: bool = False
    reference: str = ""


def _terms(frame: pd.DataFrame, group: Group, attribute: str) -> list[_Term]:
    values = list(frame[attribute])
    scale = binning.scale_of(values, group.space.get(attribute))
    if scale != binning.LEVELS:
        x = binning.transform(np.asarray(values, dtype=float), scale)
        span = float(x.max() - x.min())
        low, high = min(values), max(values)
        return [_Term(attribute, f"{fmt(low, 3)} → {fmt(high, 3)}" + (" (log)" if scale == binning.LOG else ""),
                      x - x.mean(), len(x), span, numeric=True)]
    keys = [level_key(v) for v in values]
    levels = ordered_levels(keys, group.level_order.get(attribute))
    ref, _ = reference_level(group, attribute, levels)
    return [_Term(attribute, f"{fmt(level)} vs {fmt(ref)}",
                  np.array([k == level for k in keys], dtype=float),
                  sum(k == level for k in keys), reference=str(fmt(ref)))
            for level in levels if level != ref]


def _seed_columns(frame: pd.DataFrame) -> list[np.ndarray]:
    seeds = frame["seed"] if "seed" in frame.columns else pd.Series([None] * len(frame))
    counts = seeds.value_counts(dropna=True)
    if len(counts) < 2 or counts.min() < 2:
        return []
    return [(seeds == s).to_numpy(dtype=float) for s in list(counts.index)[1:]]


def _independent(columns: list[np.ndarray]) -> list[int]:
    """Indexes of the columns that add rank, in order (the others are aliased with them)."""
    kept: list[int] = []
    for i in range(len(columns)):
        trial = np.column_stack([columns[j] for j in [*kept, i]])
        if np.linalg.matrix_rank(trial) == len(kept) + 1:
            kept.append(i)
    return kept


def _row(group: Group, term: _Term, **values) -> dict:
    row = {"group": group.key, "attribute": term.attribute, "term": term.label, "n": term.n,
           "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "std_effect": math.nan,
           "rho": math.nan, "p_value": math.nan, "p_holm": math.nan, "note": "", "conclusion": "",
           "numeric": term.numeric, "reference": term.reference}
    row.update(values)
    return row


def effect_rows(frame: pd.DataFrame, group: Group, objective: Objective) -> tuple[list[dict], str]:
    """The effect rows of one group (`frame`: its usable trials) and a line describing the fit."""
    from scipy import stats

    col = objective.column
    attributes = [a for a in group.varied if a in frame.columns]
    frame = frame[np.isfinite(frame[col].astype(float))].dropna(subset=attributes)
    attributes = [a for a in attributes if frame[a].nunique() > 1]
    y = frame[col].astype(float).to_numpy()
    terms = [t for a in attributes for t in _terms(frame, group, a)]
    if not terms:
        return [], ""
    rho = {}
    for a in attributes:
        x = frame[a]
        if all(binning.is_number(v) for v in x) and len(y) >= 3 and np.ptp(y) > 0:
            rho[a] = float(stats.spearmanr(x.astype(float), y).statistic)
    seeds = _seed_columns(frame)
    for with_seeds in (seeds, []):
        columns = [np.ones(len(y)), *[t.column for t in terms], *with_seeds]
        kept = _independent(columns)
        dof = len(y) - len(kept)
        if dof >= MIN_DOF:
            break
    if dof < MIN_DOF:
        note = f"too few trials for a regression ({len(y)} trials, {len(kept)} terms)"
        return [_row(group, t, rho=rho.get(t.attribute, math.nan), note=note) for t in terms], note
    X = np.column_stack([columns[j] for j in kept])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    sigma = math.sqrt(float(resid @ resid) / dof)
    cov = sigma**2 * np.linalg.inv(X.T @ X)
    quantile = float(stats.t.ppf(1 - ALPHA / 2, dof))
    rows = []
    for i, term in enumerate(terms, start=1):
        common = {"rho": rho.get(term.attribute, math.nan)}
        if i not in kept:
            rows.append(_row(group, term, note="cannot be separated from the other dimensions "
                             "(they always change together)", **common))
            continue
        j = kept.index(i)
        se = math.sqrt(float(cov[j, j]))
        estimate = float(beta[j]) * term.scale_to_effect
        half = quantile * se * term.scale_to_effect
        p = float(2 * stats.t.sf(abs(beta[j] / se), dof)) if se > 0 else math.nan
        rows.append(_row(group, term, estimate=estimate, ci_low=estimate - half,
                         ci_high=estimate + half,
                         std_effect=estimate / sigma if sigma > 0 else math.nan,
                         p_value=p, **common))
    seeds_used = bool(with_seeds) and any(k > len(terms) for k in kept)
    fit = (f"least squares on {len(y)} trials: {objective.metric} ~ "
           f"{' + '.join(attributes)}{' + seed' if seeds_used else ''}; "
           f"residual SD {fmt(sigma, 3)}, {dof} residual degrees of freedom")
    return rows, fit
