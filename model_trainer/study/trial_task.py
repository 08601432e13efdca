"""What runs for one trial, in a worker or in the driver's own process.

The payload is plain data (the recipe's files and overrides, never user objects),
so a worker can unpickle it before it can import the user's modules. The outcome is
plain data too: errors travel as text, so a user exception never has to be pickled.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.recipe.overrides import Override
from model_trainer.recipe.sources import RecipeSources
from model_trainer.vocabulary import RecordState, StopReason


@dataclass
class TrialPayload:
    source: RecipeSources
    overrides: list[Override]
    params: dict[str, Any]  # sampled values and the seed
    trial_dir: str
    objective: dict[str, str]  # {"metric": ..., "mode": ...}
    threads: int = 1
    cwd: str = field(default_factory=os.getcwd)
    study_info: dict[str, Any] = field(default_factory=dict)
    pruner: dict[str, Any] | None = None  # study.pruner as plain data: the worker's on_eval
    command: list[str] = field(default_factory=lambda: list(sys.argv))  # the driver's
    code: dict[str, Any] | None = None  # its code's fingerprint, taken as the study started
    storage: str | None = None  # study.storage: the trial folder is mirrored there


@dataclass
class TrialOutcome:
    """How one trial ended, as the driver records it in the study index."""

    state: RecordState
    value: float | None = None  # the objective (best by the monitor), when it completed
    stop_reason: str | None = None
    error: str | None = None  # one line
    user_error: bool = False  # a mistake in the recipe or the user's code: a retry cannot help
    past_horizon: bool = False  # it had trained past the study's epochs: valued within them

    @property
    def retryable(self) -> bool:
        """A failure that another attempt may not repeat (never a divergence or a mistake)."""
        return (self.state is RecordState.FAILED and not self.user_error
                and self.stop_reason != StopReason.DIVERGED)


def use_driver_directory(cwd: str) -> None:
    """Work in the driver's directory, with it on sys.path: user modules and relative
    paths resolve in a worker as they do in the driver."""
    if os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def execute_trial(payload: TrialPayload) -> TrialOutcome:
    """Run one trial to its end; return its outcome, never raise for it. With
    study.storage the trial folder is brought back from storage when this machine lacks
    it, mirrored while it runs, and completed only once all of it is in storage."""
    from model_trainer.storage import StorageError

    use_driver_directory(payload.cwd)
    if not payload.storage:
        return _execute(payload, payload.trial_dir)
    from model_trainer.trial.mirror import trial_mirror

    try:
        mirror = trial_mirror(payload.storage, Path(payload.trial_dir))
        mirror.restore()
    except StorageError as exc:
        return TrialOutcome(RecordState.FAILED, error=f"storage: {exc}")
    mirror.start()
    outcome = _execute(payload, str(mirror.folder))
    try:
        mirror.finish()
    except StorageError as exc:
        if outcome.state is RecordState.COMPLETED:  # not done until storage holds it all
            return TrialOutcome(RecordState.FAILED, error=f"storage: the trial finished but "
                                f"its files did not all reach storage: {exc}")
    return outcome


def _execute(payload: TrialPayload, trial_dir: str) -> TrialOutcome:
    from model_trainer.errors import Diverged, Interrupted, MTrainError, Terminated, UserError
    from model_trainer.recipe.fingerprint import Fingerprint
    from model_trainer.recipe.load import rebuild_recipe
    from model_trainer.study.pruning import make_pruning_callback
    from model_trainer.trial.experiment import run_experiment

    try:
        loaded = rebuild_recipe(payload.source, payload.overrides).variant(payload.params)
        on_eval = make_pruning_callback(payload, loaded.recipe.train.epochs, Path(trial_dir)) \
            if payload.pruner and payload.pruner["kind"] != "none" else None
        result = run_experiment(loaded, trial_dir=trial_dir, progress="off",
                                on_eval=on_eval, study_info=payload.study_info,
                                threads=payload.threads, command=payload.command,
                                code=Fingerprint.from_dict(payload.code))
    except Diverged as exc:
        return TrialOutcome(RecordState.FAILED, stop_reason=StopReason.DIVERGED, error=str(exc))
    except Interrupted as exc:
        reason = StopReason.TERMINATED if isinstance(exc, Terminated) else StopReason.INTERRUPTED
        return TrialOutcome(RecordState.INTERRUPTED, stop_reason=reason)
    except UserError as exc:
        return TrialOutcome(RecordState.FAILED, error=f"{type(exc).__name__}: {exc}",
                            user_error=True)
    except MTrainError as exc:  # "training failed: <the error> (the traceback is in ...)"
        return TrialOutcome(RecordState.FAILED, error=str(exc))
    except Exception as exc:  # a disk error, a bug: still an outcome, with its own words
        line = traceback.format_exception_only(exc)[-1].strip()
        return TrialOutcome(RecordState.FAILED, error=f"{line} (in the study's worker)")
    horizon = loaded.recipe.train.epochs
    if result.epochs_done > horizon:  # another run trained it longer: the study's epochs
        return TrialOutcome(RecordState(result.state), stop_reason=result.stop_reason,
                            value=best_logged(Path(result.trial_dir), payload.objective, horizon),
                            past_horizon=True)
    return TrialOutcome(RecordState(result.state), value=objective_value(result, payload.objective),
                        stop_reason=result.stop_reason)


def best_logged(trial_dir: Path, objective: dict[str, str],
                horizon: int | None = None) -> float | None:
    """A trial's best logged value of the objective metric (`val_accuracy`: the `accuracy`
    of its val rows), within the first `horizon` epochs; None when it never logged it."""
    from model_trainer.layout import METRICS
    from model_trainer.metrics_file import named_metrics, read_rows, training_rows

    logged = (named_metrics(row).get(objective["metric"])
              for row in training_rows(read_rows(trial_dir / METRICS))
              if horizon is None or (row.get("epoch") or 0) <= horizon)
    values = [v for v in logged if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return None
    return float(max(values) if objective["mode"] == "max" else min(values))


def objective_value(result: Any, objective: dict[str, str]) -> float | None:
    """The trial's best value of the objective metric (else its final value)."""
    best = result.best or {}
    if best.get("metric") == objective["metric"] and best.get("value") is not None:
        return float(best["value"])
    value = (result.final_metrics or {}).get(objective["metric"])
    return None if value is None else float(value)
