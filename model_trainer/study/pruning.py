"""Pruning poor trials with an Optuna pruner fed from the study's own files.

A trial runs in its own worker, far from the driver; what its pruner needs is on disk:
the eval curves of the study's other trials (their metrics.jsonl) and their states
(status.json). At each evaluation the trial rebuilds a small in-memory Optuna study from
them and asks the pruner about its own curve:

- `median` (MedianPruner): reads the completed trials' curves;
- `successive_halving` and `hyperband`: read the value each trial had when it reached
  each rung, which Optuna records while trials report. Those records are rebuilt by
  replaying every trial's curve through the pruner (its answers ignored: the files say
  how each trial went on), so each trial reaches the rungs it reached, at the values it
  had, exactly as Optuna records them.

Each trial takes the number of its place in the study index (`position`), and the study
is named after the study id: Hyperband puts a trial in a bracket by that name and number,
so every worker puts a trial in the same bracket, at every evaluation. A trial is never
pruned at its last epoch, where Optuna would still judge it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.layout import METRICS, STATUS
from model_trainer.metrics_file import named_metrics, read_rows, training_rows
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import TrialState


@dataclass
class _Curve:
    """One trial as the pruner sees it: its place in the study, state and eval curve."""

    position: int | None
    state: TrialState
    values: dict[int, float]  # epoch -> objective


def make_pruner(spec: dict[str, Any], epochs: int) -> Any:
    """The Optuna pruner of `study.pruner` (plain data) for trials of `epochs` epochs."""
    import optuna

    from model_trainer.recipe.schema import PrunerConfig

    settings = PrunerConfig(**spec).settings()
    kind = spec["kind"]
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings["startup_trials"],
                                           n_warmup_steps=settings["warmup_epochs"])
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=settings["min_epochs"], reduction_factor=settings["reduction_factor"],
            min_early_stopping_rate=settings["min_early_stopping_rate"])
    if kind == "hyperband":  # the epochs are the maximum resource: no need to guess it
        return optuna.pruners.HyperbandPruner(
            min_resource=settings["min_epochs"], max_resource=max(epochs, settings["min_epochs"]),
            reduction_factor=settings["reduction_factor"])
    raise ValueError(f"unknown pruner kind {kind!r}")


def make_pruning_callback(payload: Any, epochs: int, folder: Path,
                          ) -> Callable[[int, dict[str, float]], bool]:
    """on_eval(epoch, metrics) -> True when the trial should stop as pruned. `folder`: the
    trial folder it writes (the payload's, or a node's scratch under MTRAIN_LOCAL_DIR):
    its own curve is read there, and its siblings there and in the driver's study folder."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric, mode = payload.objective["metric"], payload.objective["mode"]
    trial_dir = Path(folder)
    study_dirs = list(dict.fromkeys([trial_dir.parent, Path(payload.trial_dir).parent]))
    position = payload.study_info.get("position")
    mine: dict[int, float] = {}  # this attempt's evaluations (the file has earlier ones too)

    def on_eval(epoch: int, metrics: dict[str, float]) -> bool:
        value = metrics.get(metric)
        if value is None or not math.isfinite(value) or epoch >= epochs:
            return False  # at the last epoch stopping saves nothing, and a pruned trial
            # would be left out of the analysis although it trained to the end
        mine[epoch] = float(value)
        me = _Curve(position, TrialState.RUNNING, {**_read_curve(trial_dir, metric), **mine})
        others = _sibling_curves(study_dirs, metric, exclude=trial_dir.name)
        pruner = make_pruner(payload.pruner, epochs)  # fresh: Hyperband sizes itself once
        return _should_prune(pruner, payload.pruner["kind"], me, others, mode,
                             str(payload.study_info.get("study_id", "study")))

    return on_eval


def _should_prune(pruner: Any, kind: str, me: _Curve, others: list[_Curve], mode: str,
                  study_name: str) -> bool:
    """Ask `pruner` about the last evaluation of `me`, in a study of `others`."""
    import optuna
    from optuna.trial import TrialState as OptunaState

    rungs = kind != "median"
    study = optuna.create_study(study_name=study_name,
                                direction="maximize" if mode == "max" else "minimize")
    numbered = _numbered([*others, me])
    for curve in numbered:
        state = _optuna_state(curve, running=rungs or curve is me)
        values = curve.values if curve is not None else {}
        study.add_trial(optuna.trial.create_trial(
            state=state, params={}, distributions={}, intermediate_values=values,
            value=values[max(values)] if state is OptunaState.COMPLETE else None))
    last = max(me.values)
    if rungs:  # record where every trial reached each rung, as Optuna did while they ran
        for number, curve in enumerate(numbered):
            for epoch in sorted(curve.values) if curve is not None else ():
                if curve is not me or epoch < last:
                    _ask(pruner, study, number, epoch)
    return _ask(pruner, study, next(i for i, c in enumerate(numbered) if c is me), last)


def _optuna_state(curve: _Curve | None, running: bool) -> Any:
    """A trial's state in the rebuilt study: rung records can only be written to running
    trials; a place of the index with no readable trial is a failed one (never counted)."""
    from optuna.trial import TrialState as OptunaState

    if curve is None:
        return OptunaState.FAIL
    if running:
        return OptunaState.RUNNING
    return {TrialState.COMPLETED: OptunaState.COMPLETE, TrialState.PRUNED: OptunaState.PRUNED,
            TrialState.FAILED: OptunaState.FAIL}.get(curve.state, OptunaState.RUNNING)


def _ask(pruner: Any, study: Any, number: int, epoch: int) -> bool:
    """The pruner's answer for trial `number` as it was at `epoch` (its curve up to there,
    and the rungs it has reached so far)."""
    import copy

    trial = copy.copy(study.get_trials(deepcopy=False)[number])
    trial.intermediate_values = {e: v for e, v in trial.intermediate_values.items() if e <= epoch}
    return bool(pruner.prune(study, trial))


def _numbered(curves: list[_Curve]) -> list[_Curve | None]:
    """The curves at their positions (trials without one after them); None where the
    index holds a trial with no readable folder."""
    placed: dict[int, _Curve] = {}
    loose = []
    for curve in curves:
        if curve.position is None or curve.position in placed or curve.position < 0:
            loose.append(curve)
        else:
            placed[curve.position] = curve
    size = max(placed, default=-1) + 1
    return [placed.get(i) for i in range(size)] + loose


def _sibling_curves(study_dirs: list[Path], metric: str, exclude: str) -> list[_Curve]:
    """Every other trial of the study folders that has evaluated the objective; a trial
    in several (a node's scratch and the driver's folder) as the furthest along."""
    curves: dict[str, _Curve] = {}
    for study_dir in study_dirs:
        for folder in sorted(p.parent for p in study_dir.glob(f"*/{STATUS}")):
            status = TrialStatus.load(folder)
            if folder.name == exclude or status is None:
                continue
            values = _read_curve(folder, metric)
            position = (status.study or {}).get("position")
            seen = curves.get(folder.name)
            if values and (seen is None or len(values) > len(seen.values)):
                curves[folder.name] = _Curve(position if isinstance(position, int) else None,
                                             status.state, values)
    return [curves[name] for name in sorted(curves)]


def _read_curve(folder: Path, metric: str) -> dict[int, float]:
    """Epoch -> value of `metric` (`val_loss`: `loss` of the val rows) in metrics.jsonl."""
    curve = {}
    for row in training_rows(read_rows(folder / METRICS)):
        value = named_metrics(row).get(metric)
        if (isinstance(value, int | float) and math.isfinite(value)
                and isinstance(row.get("epoch"), int)):
            curve[row["epoch"]] = float(value)
    return curve
