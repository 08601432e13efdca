"""Ablation studies: search spaces, samplers, parallel trials on Ray, resumable index.

The names below load on first use: a study's workers import this package for their trial
task only, and the driver starts its workers' server before it imports the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_trainer.study.result import StudyResult
    from model_trainer.study.runner import run_study, study_folder

__all__ = ["StudyResult", "run_study", "study_folder"]
_LAZY = {"StudyResult": "model_trainer.study.result", "run_study": "model_trainer.study.runner",
         "study_folder": "model_trainer.study.runner"}


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'model_trainer.study' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
