"""`model_trainer.run`: the notebook entry point (the CLI's `mtrain run` calls the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.recipe.load import LoadedRecipe, load_recipe, load_recipe_text
from model_trainer.vocabulary import CodeChange


def run(recipe: str | Path | dict | LoadedRecipe, overrides: list[str] | tuple[str, ...] = (),
        multirun: bool = False, *, force: bool = False, smoke: bool = False,
        progress: str | None = None, trial_dir: str | Path | None = None,
        threads: int | None = None, if_code_changed: CodeChange | str = CodeChange.STOP,
        console: Any = None, live: bool | None = None) -> Any:
    """Run a recipe: a file (with `KEY=VALUE` overrides; with `multirun`, `KEY=V1,V2` sweeps
    as a grid study), a mapping written as a recipe file would be (errors name its keys),
    or a LoadedRecipe.

    Without a `study:` section this trains one experiment and returns its TrialResult
    (`force`, `smoke`, `progress`, `trial_dir`, `threads` apply to it); with one, it runs the
    study and returns its StudyResult (`console`, `live`). `if_code_changed` says what to do
    with trials that ran other code (docs/numbers.md, "Same id, same code").
    """
    if isinstance(recipe, LoadedRecipe):
        if overrides or multirun:
            raise TypeError("overrides apply to a recipe path; a LoadedRecipe is already "
                            "resolved (use load_recipe(path, overrides))")
        loaded = recipe
    elif isinstance(recipe, dict):
        import yaml

        text = yaml.safe_dump(recipe, sort_keys=False)
        loaded = load_recipe_text(text, list(overrides), name="<recipe mapping>",
                                  multirun=multirun)
    else:
        if not force and not smoke:
            from model_trainer.study.early import before_loading

            done = before_loading(recipe, overrides, multirun)
            if done is not None:  # a finished study: answered from its files, no torch
                return done
        loaded = load_recipe(recipe, list(overrides), multirun=multirun)
    if loaded.recipe.study is not None and not smoke:
        from model_trainer.study import run_study

        given = [name for name, value in (("trial_dir", trial_dir), ("progress", progress),
                                          ("threads", threads), ("force", force)) if value]
        if given:
            raise UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                             "one experiment, not to a study (to start a study over, delete or "
                             "rename its folder, or change the recipe's name)")
        return run_study(loaded, console=console, live=live, if_code_changed=if_code_changed)
    if loaded.recipe.study is not None:
        loaded = loaded.variant({})  # a smoke test of a study checks its base recipe's code
    from model_trainer.trial.experiment import run_experiment

    return run_experiment(loaded, force=force, smoke=smoke, progress=progress,
                          trial_dir=trial_dir, threads=threads, if_code_changed=if_code_changed)
