"""Load a recipe: YAML + overrides -> one validated Recipe, or every problem at once.

Order: parse YAML (syntax, duplicate keys) -> apply overrides -> type-check against the
schema -> resolve dotted paths and type user args -> cross-field and study checks. Each
problem is located at its file line or at the override that caused it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.errors import RecipeError, RecipeIssue
from model_trainer.recipe.checks import check_recipe
from model_trainer.recipe.identity import study_id, trial_id
from model_trainer.recipe.overrides import Override, apply_overrides, parse_overrides
from model_trainer.recipe.paths import check_paths
from model_trainer.recipe.schema import Recipe
from model_trainer.recipe.typecheck import INVALID, build_dataclass
from model_trainer.recipe.yaml_source import YamlSource, parse_yaml_text, read_yaml_file


@dataclass
class LoadedRecipe:
    """A validated recipe with where it came from and the warnings it raised."""

    recipe: Recipe
    source: YamlSource
    overrides: list[Override] = field(default_factory=list)
    warnings: list[RecipeIssue] = field(default_factory=list)

    @functools.cached_property
    def trial_id(self) -> str:
        """Computed once: the recipe of a run is frozen, and its id must not drift."""
        return trial_id(self.recipe)

    @functools.cached_property
    def study_id(self) -> str:
        return study_id(self.recipe)

    def variant(self, params: dict[str, Any]) -> LoadedRecipe:
        """The recipe of one study trial: `params` set, the study section removed."""
        extra = [Override(k, v, f"{k}={v!r}") for k, v in params.items()]
        extra.append(Override("study", None, "study=null"))
        return _validate(self.source, self.overrides + extra)


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """Read, override and validate a recipe file; raises RecipeError listing every issue."""
    return _load(read_yaml_file(path), list(overrides))


def load_recipe_text(text: str, overrides: list[str] | tuple[str, ...] = (),
                     name: str = "<recipe>") -> LoadedRecipe:
    """The same as `load_recipe` for YAML text (tests, notebooks)."""
    return _load(parse_yaml_text(text, name), list(overrides))


def rebuild_recipe(source: YamlSource, overrides: list[Override]) -> LoadedRecipe:
    """Validate again from a recipe's parts (plain data: safe to send to another process)."""
    return _validate(source, overrides)


def _load(source: YamlSource, override_texts: list[str]) -> LoadedRecipe:
    overrides, issues = parse_overrides(override_texts)
    if source.issues:  # without a parsed document there is nothing more to check
        raise RecipeError(source.issues + issues)
    return _validate(source, overrides, issues)


def _validate(source: YamlSource, overrides: list[Override],
              issues: list[RecipeIssue] | None = None) -> LoadedRecipe:
    issues = list(issues or [])
    warnings: list[RecipeIssue] = []

    def locate(key: str) -> tuple[str, int | None]:
        for override in reversed(overrides):
            if key == override.key or key.startswith(override.key + "."):
                return override.source, None
        return source.name, source.line_of(key)

    def report(key: str, message: str) -> None:
        if not any(_related(key, bad.key) for bad in type_issues):
            issues.append(RecipeIssue(key, message, *locate(key)))

    def warn(key: str, message: str) -> None:
        warnings.append(RecipeIssue(key, message, *locate(key)))

    if not isinstance(source.data, dict):
        raise RecipeError([RecipeIssue("", "a recipe must be a YAML mapping of keys to values",
                                       source.name, 1)])
    data, problems = apply_overrides(source.data, overrides)
    issues.extend(problems)
    type_issues: list[RecipeIssue] = []
    recipe = build_dataclass(data, Recipe, "", report)
    type_issues.extend(issues)  # later checks stay quiet about keys already reported
    if recipe is not INVALID:
        check_paths(recipe, report, warn)
        check_recipe(recipe, report, warn)
    if issues:
        raise RecipeError(_sorted_unique(issues))
    return LoadedRecipe(recipe, source, overrides, _sorted_unique(warnings))


def _related(key: str, other: str) -> bool:
    return key == other or key.startswith(other + ".") or other.startswith(key + ".")


def _sorted_unique(issues: list[RecipeIssue]) -> list[RecipeIssue]:
    """File issues by line, then override issues, each reported once."""
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.line is None, i.line or 0))
