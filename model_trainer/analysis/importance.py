"""Parameter importance through Optuna's public evaluator, from the trials table alone.

The study is rebuilt in memory (`create_study` + `create_trial` + `add_trial`) so it works
on any folder of trials, not only on a live Optuna storage.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective

MIN_TRIALS = 8
MIN_PARAMS = 2
MAX_TRIALS = 500  # Optuna deep-copies every added trial; a fixed random 500 estimate it well


def _primitive(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _distribution(values: list, spec: dict | None):
    """A distribution that holds every observed value; None when the param never varies."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distinct = set(values)
    if len(distinct) < 2:
        return None
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    kind = next(iter(spec), None) if isinstance(spec, dict) else None
    if numeric and kind in ("uniform", "loguniform", "int", None) and (kind or len(distinct) > 8):
        lo, hi = min(values), max(values)
        if kind == "int" and all(isinstance(v, int) for v in values):
            return IntDistribution(int(lo), int(hi))
        return FloatDistribution(float(lo), float(hi), log=kind == "loguniform" and lo > 0)
    return CategoricalDistribution(sorted(distinct, key=lambda v: (str(type(v)), str(v))))


def group_importance(frame: pd.DataFrame, group: Group, objective: Objective) -> dict[str, float]:
    """Importance of each varied attribute of one group; {} when there is too little data."""
    import optuna

    col = objective.column
    frame = frame[np.isfinite(frame[col].astype(float))]
    if len(frame) < MIN_TRIALS:
        return {}
    if len(frame) > MAX_TRIALS:
        frame = frame.sample(n=MAX_TRIALS, random_state=0)
    params, dists = {}, {}
    for key in group.varied:
        if key not in frame.columns:
            continue
        values = [_primitive(v) for v in frame[key]]
        dist = _distribution(values, group.space.get(key))
        if dist is not None:
            params[key], dists[key] = values, dist
    if len(params) < MIN_PARAMS:
        return {}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            direction = "minimize" if objective.mode == "min" else "maximize"
            study = optuna.create_study(direction=direction)
            values = frame[col].astype(float).to_numpy()
            trials = [
                optuna.trial.create_trial(
                    params={k: params[k][i] for k in params},
                    distributions=dists,
                    value=float(values[i]),
                )
                for i in range(len(frame))
            ]
            for trial in trials:
                study.add_trial(trial)
            result = optuna.importance.get_param_importances(study)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return {k: float(v) for k, v in result.items()}


def importances(usable: pd.DataFrame, groups: dict[str, Group], objective: Objective,
                warn: list[str]) -> dict[str, dict[str, float]]:
    """Per group with enough completed trials, the importance of each varied parameter."""
    out: dict[str, dict[str, float]] = {}
    for key, group in groups.items():
        frame = usable[usable["group"] == key]
        if len(frame) < MIN_TRIALS or len(group.varied) < MIN_PARAMS:
            continue
        if len(frame) > MAX_TRIALS:
            warn.append(f"parameter importance for {key} estimated on a random {MAX_TRIALS} "
                        f"of its {len(frame)} trials")
        try:
            found = group_importance(frame, group, objective)
        except Exception as exc:  # noqa: BLE001 - importance is a bonus; never fail the analysis
            warn.append(f"parameter importance for {key} failed: {type(exc).__name__}: {exc}")
            continue
        if found:
            out[key] = found
    return out
