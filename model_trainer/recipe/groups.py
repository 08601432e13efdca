"""Config groups, as Hydra's: a folder of alternatives next to the recipe.

    recipe.yaml
    model/gru.yaml      # target: my_models.GRU, args: {layers: 2}
    model/cnn.yaml

`model=gru` (an override, a study trial's parameter, or a search-space choice such as
`-m model=gru,cnn` or `model=glob(*)`) replaces the whole `model` section with
`model/gru.yaml`, read as a recipe file is (located errors, its own `extends`). The option
files are read when the recipe is loaded and travel with it, so a study's workers on other
machines compose the same trials.
"""

from __future__ import annotations

import os
from pathlib import Path

from model_trainer import dotted
from model_trainer.errors import RecipeError, RecipeIssue, UsageError
from model_trainer.recipe.overrides import SPACE, Action, Override, Sweep
from model_trainer.recipe.yaml_source import YamlSource

Groups = dict[str, dict[str, list[YamlSource]]]  # group key -> option -> its files' layers


def group_options(folder: str | Path, key: str) -> list[str] | None:
    """The options of the config group `key` (`model.encoder` -> folder model/encoder/),
    or None where there is no such folder."""
    path = Path(folder, *key.split("."))
    if not path.is_dir():
        return None
    return sorted(p.stem for p in path.glob("*.yaml") if p.is_file())


def read_groups(folder: str | Path, keys: set[str]) -> tuple[Groups, list[RecipeIssue]]:
    """Every option of each of `keys` that is a config group next to the recipe."""
    from model_trainer.recipe.sources import read_sources

    groups: Groups = {}
    issues: list[RecipeIssue] = []
    for key in sorted(keys):
        options = group_options(folder, key)
        if options is None:
            continue
        groups[key] = {}
        for option in options:
            path = Path(folder, *key.split("."), f"{option}.yaml")
            try:
                layers = read_sources(path).layers
                groups[key][option] = layers
                issues.extend(i for layer in layers for i in layer.issues)
            except RecipeError as exc:
                issues.extend(exc.issues)
            except UsageError as exc:
                issues.append(RecipeIssue(key, str(exc), str(path)))
    return groups, issues


def candidate_keys(layers: list[YamlSource], items: list[Override | Sweep]) -> set[str]:
    """Keys that may name a config group: those an override sets to a text, those swept,
    and the search-space keys the recipe's files write."""
    keys = {i.key for i in items if isinstance(i, Sweep)}
    keys |= {i.key for i in items if isinstance(i, Override) and i.action is not Action.DELETE
             and isinstance(i.value, str)}
    for layer in layers:
        space = dotted.at(layer.data, SPACE)
        keys |= set(space) if isinstance(space, dict) else set()
    return keys


def recipe_folder(path: str | Path | None) -> str:
    """The folder a recipe's groups are looked for in: the file's, else the working one."""
    return os.path.dirname(os.path.abspath(path)) if path is not None else os.getcwd()
