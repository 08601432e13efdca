"""`mtrain show`: the resolved recipe, each attribute marked stateful/stateless/derived."""

from __future__ import annotations

from model_trainer import dotted
from model_trainer.cli.boundary import boundary, print_warnings, stdout
from model_trainer.cli.options import OverridesArg, RecipeArg

_STYLE = {"stateful": "bold", "stateless": "dim", "derived": "cyan"}


@boundary
def show(recipe: RecipeArg, overrides: OverridesArg = None) -> None:
    """Print the resolved recipe with every attribute's kind, and the trial id."""
    from rich.table import Table

    from model_trainer.recipe import MISSING, attribute_kinds, load_recipe, to_plain

    loaded = load_recipe(recipe, overrides or [])
    print_warnings(loaded.warnings)
    plain = to_plain(loaded.recipe)
    table = Table(title=f"{recipe}", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("kind")
    for key, kind in attribute_kinds(loaded.recipe).items():
        value = dotted.get(plain, key)
        text = "(filled at run time)" if value == MISSING else repr(value)
        if isinstance(value, str) and value != MISSING:
            text = value
        table.add_row(key, text, kind.value, style=_STYLE[kind.value])
    stdout.print(table)
    label = "study" if loaded.recipe.study is not None else "trial"
    ident = loaded.study_id if label == "study" else loaded.trial_id
    stdout.print(f"{label} id: [bold]{ident}[/]")
