"""Ablation studies: search spaces, samplers, parallel trials on Ray, resumable index.

The names below load on first use: a study's workers import this package for their trial
task only, and the driver starts its workers' server before it imports the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model_trainer.lazy import lazy_names

if TYPE_CHECKING:
    from model_trainer.study.result import StudyResult
    from model_trainer.study.runner import run_study, study_folder

__all__ = ["StudyResult", "run_study", "study_folder"]
_LAZY = {"StudyResult": "model_trainer.study.result", "run_study": "model_trainer.study.runner",
         "study_folder": "model_trainer.study.runner"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
