"""`mtrain run`: one experiment, or the whole study when the recipe has one."""

from __future__ import annotations

from typing import Annotated

import typer

from model_trainer.cli.boundary import boundary, print_warnings, stderr, stdout
from model_trainer.cli.options import CodeChangeOpt, MultirunOpt, OverridesArg, RecipeArg
from model_trainer.vocabulary import CodeChange


@boundary
def run(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    multirun: MultirunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Retrain a completed experiment "
                                        "from scratch.")] = False,
    smoke: Annotated[bool, typer.Option("--smoke", help="Run a couple of train and val "
                                        "batches end to end; write nothing.")] = False,
    if_code_changed: CodeChangeOpt = CodeChange.STOP,
    cfg: Annotated[str | None, typer.Option(
        "--cfg", help="Hydra's habit: print the resolved recipe (as `mtrain show RECIPE "
        "--format yaml`) and run nothing.", metavar="job")] = None,
    resolve: Annotated[bool, typer.Option("--resolve", help="With --cfg (recipes are always "
                                          "printed resolved).")] = False,
) -> None:
    """Train the experiment (a rerun continues it), or run the recipe's study."""
    from model_trainer.api import run as run_recipe
    from model_trainer.cli.summary import horizon_note
    from model_trainer.recipe import load_recipe
    from model_trainer.study.early import before_loading

    if cfg is not None or resolve:
        from model_trainer.errors import UsageError
        from model_trainer.recipe.view import recipe_yaml

        if cfg not in ("job", "all"):
            raise UsageError("--cfg job prints the resolved recipe (the recipe is the whole "
                             "config: job and all are the same here)")
        loaded = load_recipe(recipe, overrides or [], multirun=multirun)
        print_warnings(loaded.warnings)
        typer.echo(recipe_yaml(loaded.recipe), nl=False)
        return
    done = None if force or smoke else before_loading(recipe, overrides or [], multirun)
    if done is not None:  # a finished study: answered from its files, without torch
        stdout.print(done.summary(), soft_wrap=True, markup=False)
        return
    loaded = load_recipe(recipe, overrides or [], multirun=multirun)
    print_warnings(loaded.warnings)
    note = horizon_note(loaded.recipe) if loaded.recipe.study is None else None
    if note:
        stderr.print(note, soft_wrap=True, markup=False)
    result = run_recipe(loaded, force=force, smoke=smoke, if_code_changed=if_code_changed)
    stdout.print(result.summary(), soft_wrap=True, markup=False)
