"""What `mtrain show` prints: each attribute with its value, kind and origin, or the
whole resolved recipe as YAML that loads back as the same experiment.

`recipe_yaml` is the one writer of recipe files: `show --format yaml`, each trial's
recipe.yaml and a study's study.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from model_trainer import dotted
from model_trainer.recipe.identity import attributes, to_plain
from model_trainer.recipe.interpolate import escape_interpolations
from model_trainer.recipe.load import LoadedRecipe
from model_trainer.recipe.markers import MISSING, Kind
from model_trainer.recipe.schema import Recipe
from model_trainer.yaml_rules import dump_yaml

KEEP_ENV = "MTRAIN_KEEP_ENV_VALUES"  # =1: write values read from the environment as they are


@dataclass(frozen=True)
class Row:
    key: str
    value: str
    kind: str
    origin: str  # file:line, an override, or "default"


def attribute_rows(loaded: LoadedRecipe) -> list[Row]:
    """One row per leaf attribute, in schema order (a value read from the environment as
    the variable, not its value: see `shown_attributes`)."""
    return [Row(key, value if hidden else value_text(value), kind.value, loaded.origin(key))
            for key, kind, value, hidden in shown_attributes(loaded.recipe)]


def shown_attributes(recipe: Recipe) -> list[tuple[str, Kind, Any, bool]]:
    """(key, kind, value, hidden) per leaf attribute: a value read from the environment,
    or inside a mapping read from it (`${oc.decode:${oc.env:...}}`), as that text."""
    hidden = hidden_values(recipe)
    shown = []
    for key, kind, value in attributes(recipe):
        text = dotted.nearest(hidden, key)
        shown.append((key, kind, value if text is None else text, text is not None))
    return shown


def hidden_values(recipe: Recipe) -> dict[str, str]:
    """Key -> what every output shows for a value read from the environment (its
    `${oc.env:NAME}` text, never the value: a token, a password); {} when the user opts in
    to writing the values (MTRAIN_KEEP_ENV_VALUES=1)."""
    if os.environ.get(KEEP_ENV) == "1":
        return {}
    return dict(recipe._from_environment)


def value_text(value: Any) -> str:
    """A value as a reader of the recipe would write it: `null`, `true`, `[64, 128]`."""
    if value == MISSING:
        return "(filled at run time)"
    if isinstance(value, str):
        return value
    return dump_yaml(value, flow=True)


def recipe_yaml(recipe: Recipe) -> str:
    """The resolved, flat recipe: no `extends`, no interpolation left, no Derived
    placeholders; loading it gives the same values, trial and study ids."""
    return dump_yaml(written_form(recipe))


def written_form(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain data the way recipe_yaml writes it: Derived placeholders left
    out, and every literal `${` escaped, so that loading it does not interpolate again."""
    plain = to_plain(recipe)
    hidden = hidden_values(recipe)
    for key, text in hidden.items():
        if dotted.get(plain, key) is not None:
            dotted.set_at(plain, tuple(key.split(".")), text)  # loads back reading it again
    for path, value in reversed(list(dotted.walk(plain))):  # children first: safe to delete
        if value == MISSING:
            parent = dotted.at(plain, path[:-1]) if len(path) > 1 else plain
            del parent[path[-1]]
        elif isinstance(value, str) and "${" in value and ".".join(map(str, path)) not in hidden:
            dotted.set_at(plain, path, escape_interpolations(value))
    return plain
