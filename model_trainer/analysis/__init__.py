"""Analysis of trial folders: tables, statistics, plots and reports (`mtrain analyze`).

`analyze(directory, ...)` does the whole job; `load(directory)` gives the trials and
metrics DataFrames for a notebook. Importing this package loads pandas and PyYAML only:
scipy, matplotlib and optuna are imported by the steps that use them.
"""

from model_trainer.analysis.loaded import Loaded
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.pipeline import AnalysisResult, analyze, load

__all__ = ["AnalysisResult", "Loaded", "Objective", "analyze", "load"]
