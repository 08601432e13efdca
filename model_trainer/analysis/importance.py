"""Parameter importance: Optuna's fANOVA evaluator, only where it can say something.

fANOVA fits a random forest to the objective of each configuration (its seeds averaged:
a seed is noise, not a parameter) and reports the share of the forest's variance each
dimension explains on its own. On few configurations the forest has nothing to split and
the shares are noise, so importance is computed from MIN_CONFIGS configurations on;
below that, and when the forest finds no structure, the report says why instead of
showing a split that is not a finding. A forest finds structure in pure noise too (on 24
configurations of noise it gave shares of 0.4 and 0.2), so a share is shown only when it
beats what the same forest gives the objective shuffled across configurations: the
largest share over PERMUTATIONS shuffles and every dimension, a permutation test of the
family at 1 / (PERMUTATIONS + 1) = 5%. The study is rebuilt in memory (`create_study` +
`create_trial` + `add_trial`), so any folder of trials works.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from model_trainer.analysis import binning
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import ordered_levels

MIN_CONFIGS = 20
MIN_PARAMS = 2
MAX_CONFIGS = 500  # Optuna deep-copies every added trial; a fixed random 500 estimate it well
MIN_EXPLAINED = 1e-6  # shares summing below this: the forest found nothing to split on
PERMUTATIONS = 19  # shuffled objectives a share must beat, all of them: p <= 1/20
SEED = 0
# Optuna's defaults are 64 trees of depth 64; 32 of depth 8 gave shares within 0.02 of
# them on 100 to 400 configurations of a 3-dimension study, in a tenth of the time.
N_TREES, MAX_DEPTH = 32, 8


def _primitive(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _distribution(values: list, spec: Any, order: list | None):
    """An Optuna distribution that holds every observed value (levels in the space's order)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    scale = binning.scale_of(values, spec)
    if scale == binning.LEVELS:
        return CategoricalDistribution(ordered_levels(values, order))
    return FloatDistribution(float(min(values)), float(max(values)), log=scale == binning.LOG)


def configurations(frame: pd.DataFrame, attributes: list[str], column: str) -> pd.DataFrame:
    """One row per configuration (attribute values), its objective averaged over seeds."""
    return frame.groupby(attributes, dropna=True, sort=False)[column].mean().reset_index()


def _study(configs: pd.DataFrame, group: Group, attributes: list[str], column: str,
           objective: Objective) -> Any:
    """An in-memory Optuna study of the configurations (built once: Optuna deep-copies
    every trial it adds)."""
    import optuna

    values = {a: [_primitive(v) for v in configs[a]] for a in attributes}
    dists = {a: _distribution(values[a], group.space.get(a), group.level_order.get(a))
             for a in attributes}
    with _quiet_optuna():
        study = optuna.create_study(direction="minimize" if objective.mode == "min" else "maximize")
        y = configs[column].astype(float).to_numpy()
        for i in range(len(configs)):
            study.add_trial(optuna.trial.create_trial(
                params={a: values[a][i] for a in attributes}, distributions=dists,
                value=float(y[i])))
    return study


def _fanova(study: Any, target: np.ndarray | None = None) -> dict[str, float]:
    """fANOVA's share of each dimension, of the trials' values or of `target` (one value
    per trial, by trial number)."""
    import optuna

    with _quiet_optuna():
        evaluator = optuna.importance.FanovaImportanceEvaluator(
            n_trees=N_TREES, max_depth=MAX_DEPTH, seed=SEED)
        found = optuna.importance.get_param_importances(
            study, evaluator=evaluator, normalize=False,
            target=None if target is None else lambda trial: float(target[trial.number]))
    return {k: float(v) for k, v in found.items()}


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's log at warnings only, and its warnings hidden (normalize=False and a
    target are "experimental")."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def group_importance(frame: pd.DataFrame, group: Group, objective: Objective) -> tuple[dict[str, float], str]:
    """(share of variance per dimension, "") or ({}, why there is none)."""
    column = objective.column
    frame = frame[np.isfinite(frame[column].astype(float))]
    attributes = [a for a in group.varied if a in frame.columns and frame[a].nunique() > 1]
    if len(attributes) < MIN_PARAMS:
        return {}, ""
    configs = configurations(frame, attributes, column)
    if len(configs) < MIN_CONFIGS:
        return {}, (f"no parameter importance for {group.key}: {len(configs)} configurations "
                    f"(seeds averaged), and fANOVA needs at least {MIN_CONFIGS} to tell the "
                    "dimensions apart; read the effects and per-value tables instead")
    note = ""
    if len(configs) > MAX_CONFIGS:
        note = f"parameter importance for {group.key} estimated on a random {MAX_CONFIGS} of its {len(configs)} configurations"
        configs = configs.sample(n=MAX_CONFIGS, random_state=SEED)
    none = (f"no parameter importance for {group.key}: fANOVA found no dimension that explains "
            "the objective")
    if np.ptp(configs[column].to_numpy(dtype=float)) == 0:
        return {}, f"{none} (it is the same for every configuration)"
    study = _study(configs, group, attributes, column, objective)
    shares = _fanova(study)
    values = np.array(list(shares.values()))
    if values.sum() < MIN_EXPLAINED or np.ptp(values) < MIN_EXPLAINED:
        return {}, f"{none} (every share is equal, which is no finding)"
    noise = _noise_level(study, configs[column].to_numpy(dtype=float))
    found = {k: v for k, v in shares.items() if v > noise}
    if not found:
        return {}, (f"no parameter importance for {group.key}: no dimension explains the "
                    f"objective beyond noise (every share is at most {noise:.3g}, the largest "
                    f"the forest gives the objective shuffled across configurations, "
                    f"{PERMUTATIONS} shuffles)")
    left = sorted(set(shares) - set(found))
    if left:
        note = "; ".join(filter(None, [note, (
            f"parameter importance for {group.key} shows the dimensions beyond noise; "
            f"{', '.join(left)} explain no more than shuffled objectives do")]))
    return dict(sorted(found.items(), key=lambda kv: -kv[1])), note


def _noise_level(study: Any, y: np.ndarray) -> float:
    """The largest share of any dimension when the objective `y` is shuffled across the
    configurations (which breaks every link between the dimensions and it)."""
    rng = np.random.default_rng(SEED)
    return max(max(_fanova(study, rng.permutation(y)).values()) for _ in range(PERMUTATIONS))


def importances(usable: pd.DataFrame, groups: dict[str, Group], objective: Objective,
                notes: list[str]) -> dict[str, dict[str, float]]:
    """Per group, the share of variance each varied dimension explains (see the module
    docstring); a line in `notes` for each group that gets none, or an estimate."""
    out: dict[str, dict[str, float]] = {}
    for key, group in groups.items():
        frame = usable[usable["group"] == key]
        try:
            found, note = group_importance(frame, group, objective)
        except Exception as exc:  # noqa: BLE001 - importance is a bonus; never fail the analysis
            found, note = {}, f"parameter importance for {key} failed: {type(exc).__name__}: {exc}"
        if note:
            notes.append(note)
        if found and all(math.isfinite(v) for v in found.values()):
            out[key] = found
    return out
