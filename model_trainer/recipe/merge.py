"""Merge a recipe's layers with OmegaConf, remembering where every value was written.

Layers merge in order: the bases, the recipe file, then each command-line override.
OmegaConf merges mappings key by key and replaces lists and scalars. Two cases it would
merge differently are made to replace here: a search-space entry (`{choice: [...]}` in a
child replaces the base's `{int: [1, 4]}` instead of sitting next to it), and a mapping
meeting a list, which OmegaConf refuses to merge. As OmegaConf does, `???` does not
replace a value that is already set.

`origins` maps each dotted key to the (file or override, line) that wrote it last, so an
error names where its value came from, whichever layer that was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import GrammarParseError, OmegaConfBaseException

from model_trainer import dotted
from model_trainer.errors import RecipeIssue
from model_trainer.recipe.markers import MISSING
from model_trainer.recipe.overrides import SPACE, Override, as_layer, key_path
from model_trainer.recipe.sources import EXTENDS
from model_trainer.recipe.yaml_source import YamlSource

Origin = tuple[str, "int | None"]  # (file name or "override '...'", line)
_SPACE_PREFIX = ".".join(SPACE) + "."


@dataclass
class Merged:
    config: DictConfig  # unresolved: interpolations are still `${...}` text
    origins: dict[str, Origin]
    issues: list[RecipeIssue]

    def origin_of(self, key: str) -> Origin | None:
        """Where `key`, or its nearest written ancestor, came from (None: a default)."""
        return dotted.nearest(self.origins, key)


def merge_layers(files: list[YamlSource], overrides: list[Override],
                 onto: Merged | None = None) -> Merged:
    """Every file, then every override, merged in order (on top of a copy of `onto`:
    a study's trials reuse their recipe's merge)."""
    merged = Merged(copy.deepcopy(onto.config), dict(onto.origins), list(onto.issues)) \
        if onto is not None else Merged(OmegaConf.create({}), {}, [])
    for layer in files:
        _merge(merged, layer)
    for override in overrides:
        problem = _override_problem(override, OmegaConf.to_container(merged.config))
        if problem:
            merged.issues.append(RecipeIssue(override.key, problem, override.source))
        else:
            _merge(merged, YamlSource(as_layer(override), override.source))
    return merged


def _merge(merged: Merged, layer: YamlSource) -> None:
    layer = _checked_grammar(layer, merged.issues)
    before = OmegaConf.to_container(merged.config, resolve=False)
    for path in _replaced(before, layer.data, ()):
        node = merged.config
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    try:
        merged.config.merge_with(layer.data)
    except (OmegaConfBaseException, ValueError, TypeError) as exc:
        merged.issues.append(RecipeIssue("", f"cannot merge: {str(exc).splitlines()[0]}",
                                         layer.name))
        return
    _note_origins(merged.origins, before, layer.data, "", layer)


def _replaced(before: Any, data: dict, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Paths of containers in `before` that `data` replaces instead of merging into."""
    if not isinstance(before, dict):
        return
    for key, value in data.items():
        old = before.get(key, dotted.ABSENT)
        if old is dotted.ABSENT or value == MISSING:
            continue
        here = (*path, key)
        if isinstance(value, dict) and isinstance(old, dict) and path != SPACE:
            yield from _replaced(old, value, here)
        elif isinstance(old, dict | list):
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


def _override_problem(override: Override, before: dict) -> str | None:
    """Overrides set values; they cannot extend, nor reach inside a value that is not a
    mapping."""
    parts = key_path(override.key)
    if parts[0] == EXTENDS:
        return "extends is read from recipe files only; write it in the recipe"
    node: Any = before
    for depth, part in enumerate(parts[:-1]):
        node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, dict):
            return f"cannot set a key inside '{'.'.join(parts[: depth + 1])}': it is not a mapping"
    return None


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
