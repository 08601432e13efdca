"""`model_trainer.run`: the notebook entry point (the CLI's `mtrain run` calls the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.recipe.load import LoadedRecipe, load_recipe


def run(recipe_or_path: str | Path | LoadedRecipe, overrides: list[str] | tuple[str, ...] = (),
        multirun: bool = False, **kwargs: Any) -> Any:
    """Run a recipe file (with `KEY=VALUE` overrides; with `multirun`, `KEY=V1,V2` sweeps
    as a grid study) or a LoadedRecipe.

    Without a `study:` section this trains one experiment and returns its TrialResult;
    `kwargs` go to `run_experiment` (force, smoke, progress, trial_dir, ...).
    """
    if isinstance(recipe_or_path, LoadedRecipe):
        if overrides or multirun:
            raise TypeError("overrides apply to a recipe path; a LoadedRecipe is already "
                            "resolved (use load_recipe(path, overrides))")
        loaded = recipe_or_path
    else:
        if not kwargs.get("force") and not kwargs.get("smoke"):
            from model_trainer.study.runner import before_loading

            done = before_loading(recipe_or_path, overrides, multirun)
            if done is not None:  # a finished study: answered from its files, no torch
                return done
        loaded = load_recipe(recipe_or_path, list(overrides), multirun=multirun)
    if loaded.recipe.study is not None:
        from model_trainer.study import run_study

        if kwargs.get("force") and not kwargs.get("smoke"):
            raise UsageError("--force retrains one experiment; to start a study over, delete "
                             "or rename its folder (or change the recipe's name)")
        if not kwargs.get("smoke"):
            return run_study(loaded, **{k: v for k, v in kwargs.items()
                                        if k in ("console", "live", "if_code_changed")})
        loaded = loaded.variant({})  # a smoke test of a study checks its base recipe's code
    from model_trainer.trial.experiment import run_experiment

    return run_experiment(loaded, **kwargs)
