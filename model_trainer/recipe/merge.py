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

from omegaconf import Container, DictConfig, OmegaConf
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
        _merge(merged, layer, _seen_by(merged.config, layer.data))
    for override in overrides:
        layer = YamlSource(as_layer(override), override.source)
        before = _seen_by(merged.config, layer.data)
        problem = _override_problem(override, before)
        if problem:
            merged.issues.append(RecipeIssue(override.key, problem, override.source))
        else:
            _merge(merged, layer, before)
    return merged


def _seen_by(config: DictConfig, data: dict) -> dict:
    """The part of `config` that merging `data` into it reads, as plain unresolved data:
    the keys `data` names, followed down where both are mappings. (Converting the whole
    recipe for each override was most of the cost of a study trial's recipe.)"""
    seen = {}
    for key, value in data.items():
        node = config._get_node(key, validate_access=False)
        if node is None:
            continue
        if _is_mapping(node) and isinstance(value, dict):
            seen[key] = _seen_by(node, value)
        elif isinstance(node, Container):
            seen[key] = OmegaConf.to_container(node, resolve=False)
        else:
            seen[key] = node._value()
    return seen


def _merge(merged: Merged, layer: YamlSource, before: dict) -> None:
    """Merge `layer`; `before`: what of the merged config the layer's keys name."""
    layer = _checked_grammar(layer, merged.issues)
    for path in _replaced(before, layer.data, ()):
        node = merged.config
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    try:
        _merge_into(merged.config, layer.data)
    except (OmegaConfBaseException, ValueError, TypeError) as exc:
        merged.issues.append(RecipeIssue("", f"cannot merge: {str(exc).splitlines()[0]}",
                                         layer.name))
        return
    _note_origins(merged.origins, before, layer.data, "", layer)


def _merge_into(config: DictConfig, data: dict) -> None:
    """`config.merge_with(data)`. One plain value under mappings that exist (an override,
    a study trial's parameter) is set directly instead: that is what the merge does with
    it, at a twentieth of the cost."""
    node, key, value = config, None, data
    while isinstance(value, dict) and len(value) == 1 and _is_mapping(node):
        if key is not None:
            node = node._get_node(key, validate_access=False)
        ((key, value),) = value.items()
    plain = not isinstance(value, dict) and value != MISSING and \
        next(interpolated_strings([value]), None) is None
    if key is not None and plain and _is_mapping(node):
        node[key] = value
    else:
        config.merge_with(data)


def _is_mapping(node: Any) -> bool:
    """A mapping node, not one standing for null, `???` or an interpolation."""
    return isinstance(node, DictConfig) and not (
        node._is_none() or node._is_missing() or node._is_interpolation())


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
