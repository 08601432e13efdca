"""`mtrain show`: the resolved recipe, each attribute's kind and origin, or as YAML; for a
trial folder, first what ran it (its reproducibility record), then its recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from model_trainer.cli.boundary import boundary, print_warnings, stdout
from model_trainer.cli.options import MultirunOpt, OverridesArg

_STYLE = {"stateful": "bold", "stateless": "dim", "derived": "cyan"}
TABLE_WIDTH = 100  # narrower (or piped: 80 columns) gets one line per attribute


@boundary
def show(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file, or a trial folder "
                                           "(its reproducibility record and recipe).",
                                           show_default=False)],
    overrides: OverridesArg = None,
    multirun: MultirunOpt = False,
    fmt: Annotated[Literal["table", "yaml"], typer.Option(
        "--format", help="table: each attribute's value, kind and origin; yaml: the "
        "resolved recipe, loadable as a recipe.")] = "table",
) -> None:
    """Print the resolved recipe with every attribute's kind and origin, and its id; for
    a trial folder, what ran it first (git, command, packages, machine)."""
    from model_trainer.recipe import load_recipe
    from model_trainer.recipe.view import attribute_rows, recipe_yaml, value_text

    derived: dict = {}
    if recipe.is_dir():
        loaded, derived = _trial(recipe, overrides, multirun, fmt)
    else:
        loaded = load_recipe(recipe, overrides or [], multirun=multirun)
    print_warnings(loaded.warnings)
    if fmt == "yaml":
        typer.echo(recipe_yaml(loaded.recipe), nl=False)
        return
    rows = [row if row.key not in derived else
            dataclasses.replace(row, value=value_text(derived[row.key]), origin="the run")
            for row in attribute_rows(loaded)]
    if stdout.width < TABLE_WIDTH:
        for row in rows:
            stdout.print(f"{row.key} = {row.value}  ({row.kind}; {row.origin})", markup=False,
                         soft_wrap=True)
    else:
        _table(str(recipe), rows)
    label = "study" if loaded.recipe.study is not None else "trial"
    ident = loaded.study_id if label == "study" else loaded.trial_id
    stdout.print(f"{label} id: [bold]{ident}[/]")


def _trial(folder: Path, overrides: list[str] | None, multirun: bool, fmt: str) -> tuple:
    """A trial folder: its record printed (tables only), its recipe and Derived values."""
    from model_trainer.errors import UsageError
    from model_trainer.recipe.trial_file import load_trial_recipe
    from model_trainer.watch.provenance_view import provenance_renderable

    if overrides or multirun:
        raise UsageError(f"{folder} is a trial folder: overrides and -m apply to a recipe file")
    if fmt == "table":
        stdout.print(provenance_renderable(folder))
        stdout.print()
    return load_trial_recipe(folder)


def _table(title: str, rows: list) -> None:
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("key", overflow="fold")
    table.add_column("value", overflow="fold", ratio=2)
    table.add_column("kind", no_wrap=True)
    table.add_column("from", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(escape(row.key), escape(row.value), row.kind, escape(row.origin),
                      style=_STYLE[row.kind])
    stdout.print(table)
