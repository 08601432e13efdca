"""Holm's correction over every test of one report, and the conclusion of each row.

A report that runs twenty tests at 5% will, by luck alone, call about one of them
significant. Holm's step-down method keeps the chance of any false "better" or "worse"
in the whole report at 5%: the k-th smallest of m p-values is multiplied by (m - k + 1),
and adjusted values never decrease along that order. Conclusions read the adjusted value;
the raw one is shown beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model_trainer.analysis.formatting import fmt_p
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import ALPHA


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values in the input's order; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def _ablation_verdict(row, objective: Objective) -> str:
    if not math.isfinite(row.p_holm):
        return row.note or "not tested"
    if row.p_holm >= ALPHA:
        verdict = f"no clear difference (Holm p={fmt_p(row.p_holm)})"
    else:
        word = "better" if objective.better(row.diff) else "worse"
        verdict = f"{word} than baseline (Holm p={fmt_p(row.p_holm)})"
    return f"{row.note}; {verdict}" if row.note else verdict


def _ablation_conclusion(row, objective: Objective) -> str:
    if row.is_baseline:
        return row.note or "baseline"
    if not row.test and not row.note:  # a descriptive row: a sampled design, or a bin
        return ""
    return _ablation_verdict(row, objective)


def _effect_verdict(row, objective: Objective) -> str:
    if not math.isfinite(row.p_holm):
        return row.note or "not tested"
    if row.p_holm >= ALPHA:
        return f"no clear effect (Holm p={fmt_p(row.p_holm)})"
    word = "better" if objective.better(row.estimate) else "worse"
    if row.numeric:
        return f"higher is {word} (Holm p={fmt_p(row.p_holm)})"
    return f"{word} than {row.reference} (Holm p={fmt_p(row.p_holm)})"


def conclude(ablation: pd.DataFrame, effects: pd.DataFrame, objective: Objective) -> int:
    """Fill `p_holm` and `conclusion` of both tables in place, with one correction over all
    their tests; returns how many tests were corrected for."""
    p = np.concatenate([ablation["p_value"].to_numpy(dtype=float),
                        effects["p_value"].to_numpy(dtype=float)])
    adjusted = holm(p)
    ablation["p_holm"] = adjusted[: len(ablation)]
    effects["p_holm"] = adjusted[len(ablation):]
    ablation["conclusion"] = [_ablation_conclusion(r, objective) for r in ablation.itertuples(index=False)]
    effects["conclusion"] = [_effect_verdict(r, objective) for r in effects.itertuples(index=False)]
    return int(np.isfinite(p).sum())
