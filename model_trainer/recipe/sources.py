"""The files a recipe is made of: the recipe and the bases it `extends`, in merge order.

`extends: base.yaml` (or a list of paths) names recipes to merge first, relative to the
file that names them; a base may extend others. Each file is merged once, after its own
bases (a file reached twice is merged at its first place), and a cycle is an error
located at the `extends` line that closes it. `extends` is not an attribute: it is removed
here and never reaches the schema or the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.errors import RecipeError, RecipeIssue, UsageError
from model_trainer.recipe.environment import environment_names
from model_trainer.recipe.yaml_source import MAX_VALUES, YamlSource, parse_yaml_text, read_yaml_file

EXTENDS = "extends"
MAX_FILES = 32


@dataclass
class RecipeSources:
    """A recipe's files as plain data (bases first, the recipe last) and the environment
    values its `${oc.env:...}` read when it was loaded. Plain and picklable: a study
    worker rebuilds the very same recipe from it, whatever its own environment holds."""

    layers: list[YamlSource]
    env: dict[str, str | None] = field(default_factory=dict)
    # config groups next to the recipe: key -> option -> its files (recipe/groups.py)
    groups: dict[str, dict[str, list[YamlSource]]] = field(default_factory=dict)

    def read_environment(self, data: Any) -> None:
        """Add the environment values that `data` (overrides' values, config group
        options) reads, as they are now; names already read keep their values."""
        for name in environment_names(data) - set(self.env):
            self.env[name] = os.environ.get(name)

    @property
    def files(self) -> list[str]:
        """The absolute paths of the files, in merge order."""
        return [os.path.abspath(layer.name) for layer in self.layers
                if not layer.name.startswith("<")]


def read_sources(path: str | Path) -> RecipeSources:
    """The recipe at `path` and its bases. RecipeError lists every problem in any of them
    when one cannot be read or merged; the problems of a file that could be read (a
    duplicate key, a bad tag) stay in its layer's `issues`, reported with the checks."""
    reader = _Reader()
    reader.follow(read_yaml_file(path), (os.path.realpath(path),))
    return reader.result()


def sources_from_text(text: str, name: str) -> RecipeSources:
    """The same for YAML text; its `extends` paths are relative to the working directory."""
    return sources_of(parse_yaml_text(text, name))


def sources_of(source: YamlSource) -> RecipeSources:
    """The same for a parsed YAML document (its data perhaps edited since)."""
    reader = _Reader()
    reader.follow(source, ())
    return reader.result()


class _Reader:
    def __init__(self) -> None:
        self.layers: list[YamlSource] = []
        self.issues: list[RecipeIssue] = []
        self.merged: set[str] = set()
        self.values = 0  # read so far, over all files: MAX_VALUES bounds their sum

    def result(self) -> RecipeSources:
        if self.issues:
            raise RecipeError([*self.issues, *(i for layer in self.layers for i in layer.issues)])
        names = set().union(*(environment_names(layer.data) for layer in self.layers))
        return RecipeSources(self.layers, {n: os.environ.get(n) for n in sorted(names)})

    def follow(self, source: YamlSource, chain: tuple[str, ...]) -> None:
        """Add the bases of `source` (recursively), then `source` itself."""
        self.values += source.values
        if source.data is None and source.issues:  # not parsed: there is nothing more to read
            self.issues.extend(source.issues)
            return
        if not isinstance(source.data, dict):
            self.issues.append(RecipeIssue("", "a recipe must be a YAML mapping of keys to "
                                           "values", source.name, 1))
            return
        bases = source.data.pop(EXTENDS, None)
        lines = {k: source.lines.pop(k) for k in list(source.lines)
                 if k == EXTENDS or k.startswith(EXTENDS + ".")}
        for i, base in enumerate(self._base_list(bases, source, lines)):
            line = lines.get(f"{EXTENDS}.{i}", lines.get(EXTENDS))
            self._add_base(base, source, chain, line)
        self.layers.append(source)
        self.merged.add(chain[-1] if chain else source.name)

    def _base_list(self, bases: Any, source: YamlSource, lines: dict) -> list[str]:
        if bases is None:
            return []
        items = [bases] if isinstance(bases, str) else bases
        if not isinstance(items, list) or not all(isinstance(b, str) and b for b in items):
            self.issues.append(RecipeIssue(EXTENDS, f"expected a path or a list of paths, got "
                                           f"{bases!r}"[:200], source.name, lines.get(EXTENDS)))
            return []
        return items

    def _add_base(self, base: str, child: YamlSource, chain: tuple[str, ...],
                  line: int | None) -> None:
        folder = os.path.dirname(child.name) if chain else ""
        name = os.path.normpath(os.path.join(folder, os.path.expanduser(base)))
        real = os.path.realpath(name)
        if real in chain:
            loop = " -> ".join([*(os.path.basename(c) for c in chain), os.path.basename(real)])
            self.issues.append(RecipeIssue(EXTENDS, f"forms a cycle: {loop}",
                                           child.name, line))
            return
        if real in self.merged:
            return  # already merged at its first place
        if len(self.merged) + len(chain) >= MAX_FILES:
            self.issues.append(RecipeIssue(EXTENDS, f"more than {MAX_FILES} files in the "
                                           "extends chain", child.name, line))
            return
        try:
            source = read_yaml_file(name, MAX_VALUES - self.values)
        except UsageError as exc:
            self.issues.append(RecipeIssue(EXTENDS, f"cannot read base recipe '{base}': {exc}",
                                           child.name, line))
            return
        self.follow(source, (*chain, real))
