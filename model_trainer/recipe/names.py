"""Names of the built-in optimizers, schedulers and metrics (pure Python, no torch).

The recipe checks these names; the training package implements them.
"""

from __future__ import annotations

import re

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step", "onecycle", "plateau")
METRICS = ("accuracy", "mse", "mae")
# Schedulers whose shape is sized from train.epochs unless one of these args fixes it.
SIZED_BY_EPOCHS = {"cosine": ("T_max",), "onecycle": ("total_steps", "epochs"),
                   "step": ("step_size",)}
STEP_WISE = ("cosine", "onecycle")  # step after each optimizer step unless interval says
_TOP_K = re.compile(r"^top(\d+)_accuracy$")


def scheduler_interval(scheduler: object) -> str:
    """How often `train.scheduler` steps: its `interval`, else per step for STEP_WISE."""
    name, interval = scheduler.name, scheduler.interval  # type: ignore[attr-defined]
    return interval or ("step" if name in STEP_WISE else "epoch")


def top_k(name: str) -> int | None:
    """k for 'top5_accuracy', else None."""
    match = _TOP_K.match(name)
    return int(match.group(1)) if match else None


def is_builtin_metric(name: str) -> bool:
    return name in METRICS or (top_k(name) or 0) >= 1


def is_dotted_path(name: str) -> bool:
    return "." in name
