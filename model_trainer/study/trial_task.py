"""What runs for one trial, in a Ray worker or in the driver's own process.

The payload is plain data (the recipe's YAML source and overrides, never user objects),
so a worker can unpickle it before it can import the user's modules. The outcome is
plain data too: errors travel as text, so a user exception never has to be pickled.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from model_trainer.recipe.overrides import Override
from model_trainer.recipe.yaml_source import YamlSource


@dataclass
class TrialPayload:
    source: YamlSource
    overrides: list[Override]
    params: dict[str, Any]  # sampled values and the seed
    trial_dir: str
    objective: dict[str, str]  # {"metric": ..., "mode": ...}
    threads: int = 1
    cwd: str = field(default_factory=os.getcwd)
    study_info: dict[str, Any] = field(default_factory=dict)
    pruning: bool = False  # median pruning: the worker builds its on_eval callback


def execute_trial(payload: TrialPayload) -> dict[str, Any]:
    """Run one trial to its end; return its outcome as plain data, never raise for it."""
    from model_trainer.errors import Interrupted, MTrainError, TrainingError
    from model_trainer.experiment import Diverged, run_experiment
    from model_trainer.recipe.load import rebuild_recipe
    from model_trainer.study.pruning import make_pruning_callback

    if os.getcwd() != payload.cwd and os.path.isdir(payload.cwd):
        os.chdir(payload.cwd)  # user modules and relative paths resolve as in the driver
    if payload.cwd not in sys.path:
        sys.path.insert(0, payload.cwd)
    try:
        loaded = rebuild_recipe(payload.source, payload.overrides).variant(payload.params)
        on_eval = make_pruning_callback(payload) if payload.pruning else None
        result = run_experiment(loaded, trial_dir=payload.trial_dir, progress="off",
                                on_eval=on_eval, study_info=payload.study_info,
                                threads=payload.threads)
    except Diverged as exc:
        return {"state": "failed", "stop_reason": "diverged", "error": str(exc), "retry": False}
    except Interrupted:
        return {"state": "interrupted", "retry": True}
    except TrainingError as exc:
        cause = exc.__cause__ or exc
        return {"state": "failed", "error": f"{type(cause).__name__}: {cause}",
                "retry": exc.exit_code != 2}  # a rank of a ddp trial can fail by user mistake
    except MTrainError as exc:  # a mistake in the user's code or recipe: retrying cannot help
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}", "retry": False}
    return {"state": result.state, "stop_reason": result.stop_reason,
            "value": objective_value(result, payload.objective), "retry": False}


def objective_value(result: Any, objective: dict[str, str]) -> float | None:
    """The trial's best value of the objective metric (else its final value)."""
    best = result.best or {}
    if best.get("metric") == objective["metric"] and best.get("value") is not None:
        return float(best["value"])
    value = (result.final_metrics or {}).get(objective["metric"])
    return None if value is None else float(value)
