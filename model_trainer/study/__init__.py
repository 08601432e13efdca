"""Ablation studies: search spaces, samplers, parallel trials on Ray, resumable index."""

from model_trainer.study.result import StudyResult
from model_trainer.study.runner import run_study, study_folder

__all__ = ["StudyResult", "run_study", "study_folder"]
