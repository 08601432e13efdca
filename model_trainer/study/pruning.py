"""Pruning poor trials with an Optuna pruner fed from the study's own files.

A trial runs in its own worker, far from the driver's sampler; what it needs to decide
is on disk: the eval curves of the study's completed trials (their metrics.jsonl). At
each evaluation the trial rebuilds a small in-memory Optuna study from those curves and
asks the pruner (median rule) whether its own curve so far is worse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_trainer.layout import METRICS, STATUS
from model_trainer.metrics_file import read_rows
from model_trainer.trial.status import TrialStatus
from model_trainer.vocabulary import TrialState


def make_pruning_callback(payload: Any) -> Callable[[int, dict[str, float]], bool]:
    """on_eval(epoch, metrics) -> True when the trial should stop as pruned."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric, mode = payload.objective["metric"], payload.objective["mode"]
    study_dir = Path(payload.trial_dir).parent
    mine: dict[int, float] = {}
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)

    def on_eval(epoch: int, metrics: dict[str, float]) -> bool:
        value = metrics.get(metric)
        if value is None or not math.isfinite(value):
            return False
        mine[epoch] = float(value)
        study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
        for curve in _completed_curves(study_dir, metric, exclude=Path(payload.trial_dir)):
            final = curve[max(curve)]
            study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, value=final, params={},
                distributions={}, intermediate_values=curve))
        current = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING, params={}, distributions={},
            intermediate_values=dict(mine))
        return bool(pruner.prune(study, current))

    return on_eval


def _completed_curves(study_dir: Path, metric: str, exclude: Path) -> list[dict[int, float]]:
    """Per completed sibling trial: epoch -> value of `metric` on its eval split."""
    split, _, key = metric.partition("_")
    curves = []
    for folder in (p.parent for p in study_dir.glob(f"*/{STATUS}")):
        status = TrialStatus.load(folder)
        if folder == exclude or status is None or status.state is not TrialState.COMPLETED:
            continue
        curve = {}
        for row in read_rows(folder / METRICS):
            value = row["metrics"].get(key)
            if (row.get("split") == split and isinstance(value, int | float)
                    and math.isfinite(value) and isinstance(row.get("epoch"), int)):
                curve[row["epoch"]] = float(value)
        if curve:
            curves.append(curve)
    return curves
