"""What `mtrain run` does before it imports the recipe's code or the study runner: answer
a finished study from its files (study/finished.py), or start the local pool's server at
once, so that its torch import runs beside this process's validation of the recipe.
Kept apart from the runner, whose imports would come first otherwise (~0.1 s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from model_trainer.recipe.load import may_run_a_study, peek_recipe
from model_trainer.study.executors import start_workers_early
from model_trainer.study.finished import finished_study

if TYPE_CHECKING:
    from model_trainer.study.result import StudyResult


def before_loading(path: str | Path, overrides: list[str] | tuple[str, ...],
                   multirun: bool) -> StudyResult | None:
    """The result of a finished study from its files alone; otherwise None, and a study
    that will run on the local pool has its workers' server start now."""
    if not may_run_a_study(path, overrides, multirun):
        return None
    recipe = peek_recipe(path, overrides, multirun)
    found = finished_study(recipe)
    if found is not None:
        from model_trainer.study.runner import result_of

        return result_of(*found)
    if recipe is not None and recipe.study is not None:
        start_workers_early(recipe)
    return None
