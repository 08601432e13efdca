"""Merge a recipe's layers with OmegaConf, remembering where every value was written.

Layers merge in order: the bases, the recipe file, then each command-line override, each
with `OmegaConf.merge`, so a recipe merges as OmegaConf does: mappings key by key, lists
and scalars replace, `???` does not replace a value that is set, a mapping merged into a
reference to a mapping merges into what it refers to. Two deliberate deviations replace
instead (docs/recipes.md, "Where recipes differ"): a search-space entry (`{choice: [...]}`
in a child replaces the base's `{int: [1, 4]}` instead of sitting next to it), and a list
meeting a mapping, which OmegaConf refuses to merge.

The merged recipe is kept as plain, unresolved data (interpolations are still `${...}`
text); `origins` maps each dotted key to the (file or override, line) that wrote it last,
so an error names where its value came from, whichever layer that was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import GrammarParseError, OmegaConfBaseException

from model_trainer import dotted
from model_trainer.errors import RecipeIssue
from model_trainer.recipe.environment import environment
from model_trainer.recipe.markers import MISSING
from model_trainer.recipe.overrides import ANY_VALUE, SPACE, Action, Override, as_layer, key_path
from model_trainer.recipe.sources import EXTENDS, RecipeSources
from model_trainer.recipe.yaml_source import YamlSource

Origin = tuple[str, "int | None"]  # (file name or "override '...'", line)
_SPACE_PREFIX = ".".join(SPACE) + "."


@dataclass
class Merged:
    data: dict  # plain and unresolved: interpolations are still `${...}` text
    origins: dict[str, Origin]
    issues: list[RecipeIssue]

    def origin_of(self, key: str) -> Origin | None:
        """Where `key`, or its nearest written ancestor, came from (None: a default)."""
        return dotted.nearest(self.origins, key)


def merge_layers(sources: RecipeSources, overrides: list[Override],
                 onto: Merged | None = None) -> Merged:
    """Every file, then every override, merged in order (only the overrides on top of a
    copy of `onto`: a study's trials reuse their recipe's merge). The environment the
    recipe was loaded with is set (a merge into a reference resolves it)."""
    merged = Merged(copy.deepcopy(onto.data), dict(onto.origins), list(onto.issues)) \
        if onto is not None else Merged({}, {}, [])
    with environment(sources.env):
        for layer in sources.layers if onto is None else ():
            _merge(merged, layer)
        for override in overrides:
            problem = _apply(merged, override, sources.groups)
            if problem:
                merged.issues.append(RecipeIssue(override.key, problem, override.source))
    return merged


def _apply(merged: Merged, override: Override, groups: dict) -> str | None:
    """Merge one override (set, add, delete, or choose a config group's option); the
    problem with it, if any."""
    path = tuple(key_path(override.key))
    current = dotted.at(merged.data, path, dotted.ABSENT)
    where = merged.origins.get(override.key)
    if path[0] == EXTENDS:
        return "extends is read from recipe files only; write it in the recipe"
    if override.action is Action.DELETE:
        if current is dotted.ABSENT:
            return (f"nothing to delete: {override.key} is not in the recipe (where a key is "
                    "not written, its default stands)")
        if override.value is not ANY_VALUE and current != override.value:
            return f"{override.key} is {current!r}, not {override.value!r}: nothing deleted"
        _remove(merged, path)
        return None
    if override.action is Action.ADD and current is not dotted.ABSENT:
        at = f" at {where[0]}:{where[1]}" if where and where[1] else ""
        return (f"is already set{at}: write {override.key}=VALUE to change it (or "
                f"++{override.key}=VALUE to set it whether or not it is there)")
    options = groups.get(override.key)
    if options is not None and isinstance(override.value, str):
        if override.value not in options:
            folder = override.key.replace(".", "/")
            return (f"no {folder}/{override.value}.yaml next to the recipe (options: "
                    f"{', '.join(options) or 'none'})")
        if current is not dotted.ABSENT:
            _remove(merged, path)  # an option replaces the whole section
        for layer in options[override.value]:
            lines = {f"{override.key}.{k}": line for k, line in layer.lines.items()}
            _merge(merged, YamlSource(as_layer(override.key, layer.data), layer.name, lines))
        return None
    _merge(merged, YamlSource(as_layer(override.key, override.value), override.source))
    return None


def _remove(merged: Merged, path: tuple) -> None:
    parent = dotted.at(merged.data, path[:-1]) if len(path) > 1 else merged.data
    del parent[path[-1]]
    key = dotted.join(path)
    merged.origins = {k: v for k, v in merged.origins.items()
                      if k != key and not k.startswith(key + ".")}


def _merge(merged: Merged, layer: YamlSource) -> None:
    layer = _checked_grammar(layer, merged.issues)
    before = merged.data
    origins = dict(merged.origins)
    _note_origins(origins, before, layer.data, "", layer)
    if not _set_in_place(before, layer.data):
        for path in _replaced(before, layer.data, ()):
            del (dotted.at(before, path[:-1]) if len(path) > 1 else before)[path[-1]]
        try:
            result = OmegaConf.merge(OmegaConf.create(before), OmegaConf.create(layer.data))
            merged.data = OmegaConf.to_container(result, resolve=False)
        except (OmegaConfBaseException, ValueError, TypeError) as exc:
            merged.issues.append(RecipeIssue("", f"cannot merge: {str(exc).splitlines()[0]}",
                                             layer.name))
            return
    merged.origins = origins


def _set_in_place(data: dict, layer: dict) -> bool:
    """Merge a layer that sets one plain value under mappings that exist (an override, a
    study trial's parameter) by setting it: that is all OmegaConf's merge does with it,
    at a small part of the cost of converting the recipe. False: merge it the full way."""
    path, value = [], layer
    while isinstance(value, dict) and len(value) == 1:
        ((key, value),) = value.items()
        path.append(key)
    if not path or tuple(path[:2]) == SPACE or isinstance(value, dict) or value == MISSING or \
            any(True for _ in interpolated_strings([value])):
        return False
    parent = dotted.at(data, tuple(path[:-1])) if len(path) > 1 else data
    if not isinstance(parent, dict):
        return False
    parent[path[-1]] = copy.deepcopy(value)
    return True


def _replaced(before: Any, data: dict, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Paths of values in `before` that `data` replaces where OmegaConf would merge or
    refuse: a search-space entry, a list meeting a mapping."""
    if not isinstance(before, dict):
        return
    for key, value in data.items():
        old = before.get(key, dotted.ABSENT)
        here = (*path, key)
        if isinstance(value, dict) and isinstance(old, dict):
            if path == SPACE:
                yield here
            else:
                yield from _replaced(old, value, here)
        elif isinstance(value, dict | list) and isinstance(old, dict | list) and \
                type(value) is not type(old):
            yield here


def _note_origins(origins: dict[str, Origin], before: Any, data: dict, prefix: str,
                  layer: YamlSource) -> None:
    """A mapping merged into a mapping keeps its first origin; anything else replaces what
    was there, with every key below it."""
    for key, value in data.items():
        full = f"{prefix}{key}"
        old = before.get(key, dotted.ABSENT) if isinstance(before, dict) else dotted.ABSENT
        if value == MISSING and old is not dotted.ABSENT:
            continue
        where = (layer.name, layer.lines.get(full))
        if isinstance(value, dict) and isinstance(old, dict) and prefix != _SPACE_PREFIX:
            origins.setdefault(full, where)
            _note_origins(origins, old, value, full + ".", layer)
            continue
        if isinstance(old, dict | list):
            for stale in [k for k in origins if k.startswith(full + ".")]:
                del origins[stale]
        origins[full] = where
        for path, _ in dotted.walk(value):
            sub = f"{full}.{dotted.join(path)}"
            origins[sub] = (layer.name, layer.lines.get(sub))


def _checked_grammar(layer: YamlSource, issues: list[RecipeIssue]) -> YamlSource:
    """The layer with each malformed `${...}` reported and set to null (OmegaConf would
    refuse the whole recipe for one)."""
    data = layer.data
    for path, text in interpolated_strings(layer.data):
        try:
            OmegaConf.create({"value": text})
        except GrammarParseError as exc:
            key = dotted.join(path)
            issues.append(RecipeIssue(key, f"malformed interpolation {text!r}: "
                                      f"{str(exc).splitlines()[0]}", layer.name,
                                      layer.lines.get(key)))
            data = copy.deepcopy(data) if data is layer.data else data
            dotted.set_at(data, path, None)
    return layer if data is layer.data else YamlSource(data, layer.name, layer.lines)


def interpolated_strings(data: Any) -> Iterator[tuple[tuple, str]]:
    """(path, text) of every string in `data` that holds an interpolation."""
    return ((path, v) for path, v in dotted.walk(data) if isinstance(v, str) and "${" in v)
