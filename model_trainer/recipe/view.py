"""What `mtrain show` prints: each attribute with its value, kind and origin, or the
whole resolved recipe as YAML that loads back as the same experiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from model_trainer import dotted
from model_trainer.recipe.identity import attributes, to_plain
from model_trainer.recipe.load import LoadedRecipe
from model_trainer.recipe.markers import MISSING
from model_trainer.recipe.yaml_rules import dump_yaml


@dataclass(frozen=True)
class Row:
    key: str
    value: str
    kind: str
    origin: str  # file:line, an override, or "default"


def attribute_rows(loaded: LoadedRecipe) -> list[Row]:
    """One row per leaf attribute, in schema order."""
    return [Row(key, value_text(value), kind.value, loaded.origin(key))
            for key, kind, value in attributes(loaded.recipe)]


def value_text(value: Any) -> str:
    """A value as a reader of the recipe would write it: `null`, `true`, `[64, 128]`."""
    if value == MISSING:
        return "(filled at run time)"
    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"))
    return text.removesuffix("\n").removesuffix("\n...")


def recipe_yaml(loaded: LoadedRecipe) -> str:
    """The resolved, flat recipe: no `extends`, no interpolation left (a literal `${` is
    escaped), no Derived placeholders; loading it gives the same trial and study ids."""
    plain = to_plain(loaded.recipe)
    for path, value in reversed(list(dotted.walk(plain))):  # children first: safe to delete
        if value == MISSING:
            parent = dotted.at(plain, path[:-1]) if len(path) > 1 else plain
            del parent[path[-1]]
        elif isinstance(value, str) and "${" in value:
            dotted.set_at(plain, path, value.replace("${", "\\${"))
    return dump_yaml(plain)
