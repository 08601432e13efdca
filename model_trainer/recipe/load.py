"""Load a recipe: files + overrides -> one validated Recipe, or every problem at once.

Order: read the file and the bases it extends (syntax, duplicate keys, limits) -> merge
them and the overrides with OmegaConf -> resolve interpolations -> type-check against the
schema -> resolve dotted paths and type user args -> cross-field and study checks. Each
problem is located at the file and line that wrote the value, or at the override.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer import dotted
from model_trainer.errors import RecipeError, RecipeIssue, UsageError, UserError
from model_trainer.recipe.checks import check_recipe
from model_trainer.recipe.groups import candidate_keys, read_groups, recipe_folder
from model_trainer.recipe.identity import study_id, trial_id
from model_trainer.recipe.interpolate import ENV_NOTE, resolve
from model_trainer.recipe.merge import Merged, merge_layers
from model_trainer.recipe.overrides import Action, Override, parse_overrides
from model_trainer.recipe.paths import check_paths
from model_trainer.recipe.schema import (
    AdaptiveSeedsConfig,
    Recipe,
    StudyConfig,
    setting_type,
)
from model_trainer.recipe.sources import RecipeSources, read_sources, sources_from_text, sources_of
from model_trainer.recipe.sweep import as_study_settings, refuse_sweeps
from model_trainer.recipe.typecheck import INVALID, UNFILLED, build_dataclass, keep_free_text
from model_trainer.recipe.yaml_source import YamlSource


@dataclass
class LoadedRecipe:
    """A validated recipe with where it came from and the warnings it raised."""

    recipe: Recipe
    source: RecipeSources
    merged: Merged = field(repr=False)  # files and overrides merged, before interpolation
    overrides: list[Override] = field(default_factory=list)
    warnings: list[RecipeIssue] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # dotted key -> its interpolation

    @functools.cached_property
    def trial_id(self) -> str:
        """Computed once: the recipe of a run is frozen, and its id must not drift."""
        return trial_id(self.recipe)

    @functools.cached_property
    def study_id(self) -> str:
        return study_id(self.recipe)

    def as_written(self) -> Recipe:
        """This recipe checked without the user's code (see `peek_recipe`)."""
        return _validate(self.source, self.overrides, code=False).recipe

    def variant(self, params: dict[str, Any]) -> LoadedRecipe:
        """The recipe of one study trial: `params` set, the study section removed. Every
        check runs again (a trial's values can break any of them) on the merge already
        made: a few ms, as a study makes one per trial."""
        extra = [Override(k, v, f"{k}={v!r}") for k, v in params.items()]
        extra.append(Override("study", None, "study=null"))
        if self.recipe.hypothesis is not None:  # a trial is a plain experiment
            extra.append(Override("hypothesis", None, "hypothesis=null"))
        return _validate(self.source, self.overrides + extra, onto=self)

    def origin(self, key: str) -> str:
        """Where the value of `key` was written: `file:line`, an override, or `default`;
        an interpolated value also says what it came from."""
        parts = key.split(".")
        ancestors = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
        # an interpolated value covers what is below it; else only the key itself counts
        written = next((k for k in ancestors if k in self.notes), key)
        name, line = self.merged.origins.get(written, ("default", None))
        where = f"{name}:{line}" if line is not None else name
        note = self.notes.get(written)
        return f"{where} (from {note})" if note else where


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                multirun: bool = False) -> LoadedRecipe:
    """Read, override and validate a recipe file; raises RecipeError listing every issue.

    With `multirun`, an override with several values (`model.args.hidden=32,64`,
    `seed=0,1`) becomes a grid search-space entry (seeds: `study.seeds`), as Hydra's -m.
    """
    return _load(lambda: read_sources(path), list(overrides), multirun, recipe_folder(path))


def may_run_a_study(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                    multirun: bool = False) -> bool:
    """Whether the recipe at `path` may run a study: with -m, an override of `study` or
    `hypothesis`, or either section in the recipe or a base. Reads the files only (a
    quarter of a load): a single run is not validated twice before it starts."""
    sections = ("study", "hypothesis")
    if multirun or any(o.lstrip("+~").partition("=")[0].partition(".")[0] in sections
                       for o in overrides):
        return True
    try:
        layers = read_sources(path).layers
    except UserError:
        return True  # the full load reports it
    return any(isinstance(layer.data, dict) and any(k in layer.data for k in sections)
               for layer in layers)


def peek_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                multirun: bool = False) -> Recipe | None:
    """The recipe with every check that needs none of the user's code (no module named by
    a dotted path is imported, so no torch); None where any check fails, which the full
    `load_recipe` then reports. For answers that need no code: a finished study's rerun."""
    try:
        return _load(lambda: read_sources(path), list(overrides), multirun, recipe_folder(path),
                     code=False).recipe
    except UserError:
        return None


def load_recipe_text(text: str, overrides: list[str] | tuple[str, ...] = (),
                     name: str = "<recipe>", multirun: bool = False) -> LoadedRecipe:
    """The same as `load_recipe` for YAML text (tests, notebooks)."""
    return _load(lambda: sources_from_text(text, name), list(overrides), multirun,
                 recipe_folder(None))


def load_recipe_source(source: YamlSource, overrides: list[str] | tuple[str, ...] = (),
                       ) -> LoadedRecipe:
    """The same for a parsed YAML document (a trial's recipe.yaml, edited after reading)."""
    return _load(lambda: sources_of(source), list(overrides), False, recipe_folder(None))


def rebuild_recipe(source: RecipeSources, overrides: list[Override]) -> LoadedRecipe:
    """Validate again from a recipe's parts (plain data: safe to send to another process)."""
    return _validate(source, overrides)


def _load(read: Any, override_texts: list[str], multirun: bool, folder: str,
          code: bool = True) -> LoadedRecipe:
    items, issues = parse_overrides(override_texts)
    try:
        sources = read()
    except RecipeError as exc:
        raise RecipeError(exc.issues + issues) from None
    sources.groups, problems = read_groups(folder, candidate_keys(sources.layers, items))
    issues += problems
    if multirun:
        groups = sources.groups
        overrides, swept, problems = as_study_settings(
            items, lambda key: list(groups[key]) if key in groups else None)
        if not swept and not problems:
            raise UsageError("-m/--multirun sweeps overrides with several values, like "
                             "model.args.hidden=32,64 or seed=0,1; none was given")
    else:
        overrides, problems = refuse_sweeps(items)
    issues += problems
    overrides, problems = _checked_overrides(overrides, sources.groups)
    issues += problems
    sources.read_environment([o.value for o in overrides])
    sources.read_environment([layer.data for options in sources.groups.values()
                              for layers in options.values() for layer in layers])
    return _validate(sources, overrides, issues, code=code)


def _checked_overrides(overrides: list[Override], groups: dict,
                     ) -> tuple[list[Override], list[RecipeIssue]]:
    """The overrides that can be merged, and what is wrong with the others: `+KEY` on a
    recipe setting (always there), or text set on a section that has no config group."""
    kept, issues = [], []
    for o in overrides:
        tp = setting_type(o.key)
        if o.action is Action.ADD and tp is not None:
            issues.append(RecipeIssue(o.key, f"{o.key} is a recipe setting, always there (its "
                                      f"default where not written): write {o.key}=VALUE",
                                      o.source))
        elif isinstance(o.value, str) and dataclasses.is_dataclass(tp) and o.key not in groups:
            folder = o.key.replace(".", "/")
            issues.append(RecipeIssue(o.key, f"{o.key} is a section, not a value: to pick one of "
                                      f"several, make a config group (a folder {folder}/ next "
                                      f"to the recipe with {o.value}.yaml in it)", o.source))
        else:
            kept.append(o)
    return kept, issues


def _validate(sources: RecipeSources, overrides: list[Override],
              issues: list[RecipeIssue] | None = None,
              onto: LoadedRecipe | None = None, code: bool = True) -> LoadedRecipe:
    """Validate `overrides` on top of `sources` (or on top of the already merged `onto`,
    whose own overrides start the list); without `code`, the dotted paths are neither
    imported nor checked."""
    issues = [*(i for layer in sources.layers for i in layer.issues), *(issues or [])]
    warnings: list[RecipeIssue] = []
    if onto is not None:
        merged = merge_layers(sources, overrides[len(onto.overrides):], onto.merged)
    else:
        merged = merge_layers(sources, overrides)
    resolved = resolve(merged, sources.env)
    issues += merged.issues + resolved.issues
    quiet = [i.key for i in issues] + resolved.unresolved  # later checks stay quiet on these

    def locate(key: str, message: str) -> RecipeIssue:
        name, line = merged.origin_of(key) or (sources.layers[-1].name, None)
        note = dotted.nearest(resolved.notes, key)
        return RecipeIssue(key, f"{message} (from {note})" if note else message, name, line)

    space = dotted.get(resolved.data, "study.space")
    filled = set(space) if isinstance(space, dict) else set()  # a study's trials fill these

    def report(key: str, message: str) -> None:
        if message == UNFILLED and key in filled:
            return
        if not any(_related(key, bad) for bad in quiet):
            issues.append(locate(key, message))

    def report_untyped(key: str, message: str) -> None:
        """The recipe's own types: `???` in args that a config class types is that class's
        to report (check_paths builds them), knowing which of its fields are Derived."""
        if not (message == UNFILLED and _typed_later(key, resolved.data)):
            report(key, message)

    def warn(key: str, message: str) -> None:
        warnings.append(locate(key, message))

    recipe = build_dataclass(resolved.data, Recipe, "", report_untyped)
    if recipe is not INVALID and recipe.hypothesis is not None and "study" not in resolved.data:
        recipe.study = StudyConfig(seeds=AdaptiveSeedsConfig())  # the claims design it
    if recipe is not INVALID:
        recipe._from_environment = from_environment(resolved.notes)
    quiet.extend(i.key for i in issues)
    if recipe is not INVALID:
        if code:
            check_paths(recipe, report, warn)
        keep_free_text(recipe)
        check_recipe(recipe, report, warn, code, sources.groups)
    order = {layer.name: i for i, layer in enumerate(sources.layers)}
    if issues:
        raise RecipeError(_sorted_unique(issues, order))
    return LoadedRecipe(recipe, sources, merged, overrides, _sorted_unique(warnings, order),
                        resolved.notes)


def from_environment(notes: dict[str, str]) -> dict[str, str]:
    """Key -> the interpolation its value was read from the environment through (`notes`
    say which)."""
    return {key: note.removesuffix(ENV_NOTE) for key, note in notes.items()
            if note.endswith(ENV_NOTE)}


def _typed_later(key: str, data: dict) -> bool:
    """Whether `key` is in args that the user's config class types (and checks for `???`,
    knowing which fields are Derived)."""
    section, _, rest = key.partition(".")
    return section in ("model", "data") and rest.startswith("args.") and \
        dotted.get(data, f"{section}.config") is not None


def _related(key: str, other: str) -> bool:
    return key == other or key.startswith(other + ".") or other.startswith(key + ".")


def _sorted_unique(issues: list[RecipeIssue], order: dict[str, int]) -> list[RecipeIssue]:
    """By file (bases first) and line, then override issues, each reported once."""
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (order.get(i.source, len(order)), i.line is None,
                                         i.line or 0))
