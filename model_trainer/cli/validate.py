"""`mtrain validate`: every check that needs no training, all errors at once."""

from __future__ import annotations

from rich.markup import escape

from model_trainer.cli.boundary import boundary, print_warnings, stdout
from model_trainer.cli.options import MultirunOpt, OverridesArg, RecipeArg


@boundary
def validate(recipe: RecipeArg, overrides: OverridesArg = None,
             multirun: MultirunOpt = False) -> None:
    """Check a recipe (types, paths, cross-field rules, study space) and print its trial ids."""
    from model_trainer.cli.summary import horizon_note, planned_trials, summary_line
    from model_trainer.recipe import load_recipe

    loaded = load_recipe(recipe, overrides or [], multirun=multirun)
    print_warnings(loaded.warnings)
    from model_trainer.train.metrics import check_metrics

    check_metrics(loaded.recipe)  # made as the run makes them (a class needing arguments)
    # what `run` would find: trials that ran other code
    if loaded.recipe.study is None:
        from model_trainer.trial.code_check import check_single_run

        check_single_run(loaded)
    else:
        from model_trainer.study.code_versions import check_existing_study

        check_existing_study(loaded)
    stdout.print(f"[green]ok[/] {escape(str(recipe))}: {escape(summary_line(loaded.recipe))}",
                 soft_wrap=True)
    note = horizon_note(loaded.recipe)
    if note:
        stdout.print(note, soft_wrap=True, markup=False)
    for line in planned_trials(loaded):
        stdout.print(line, highlight=False, soft_wrap=True, markup=False)
