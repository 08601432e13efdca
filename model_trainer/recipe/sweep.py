"""Sweeps from the command line (`mtrain run recipe.yaml -m KEY=V1,V2 ...`), as Hydra's
multirun: each override with several values becomes a dimension of the study's space, so
a sweep is exactly the study one would write in YAML (the same trial ids).

    model.args.hidden=32,64            study.space.model.args.hidden: {choice: [32, 64]}
    model.args.layers=range(1,4)       ... {choice: [1, 2, 3]}
    train.optimizer.lr=tag(log,interval(1e-4,1e-1))    ... {loguniform: [1.0e-4, 0.1]}
    model.args.dropout=interval(0,0.5) ... {uniform: [0.0, 0.5]}
    model.args.width=tag(int,interval(8,64))           ... {int: [8, 64]}
    model=glob(*)                      every option of the config group model/
    seed=0,1,2 (or range(0,3))         study.seeds: [0, 1, 2]

A recipe without a study section gets the default one (the grid sampler; an interval
needs a sampler that draws, as in YAML); one with a study section gets these dimensions
added to its space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from model_trainer.errors import RecipeIssue
from model_trainer.recipe.overrides import Override, Sweep, plain

Options = Callable[[str], "list[str] | None"]  # config group key -> its options, or None


def as_study_settings(items: list[Override | Sweep], options: Options,
                      ) -> tuple[list[Override], bool, list[RecipeIssue]]:
    """The overrides with each sweep turned into its study setting; whether there was
    one; the problems."""
    result, issues, swept = [], [], False
    for item in items:
        if isinstance(item, Override):
            result.append(item)
            continue
        swept = True
        entry, problem = _dimension(item, options)
        if problem:
            issues.append(RecipeIssue(item.key, problem, item.source))
        elif item.key == "seed":
            if "choice" not in entry:
                issues.append(RecipeIssue(item.key, "seeds are a list of values: seed=0,1,2 or "
                                          "seed=range(0,3)", item.source))
            else:
                result.append(Override("study.seeds", entry["choice"], item.text))
        else:
            result.append(Override(f"study.space.{item.key}", entry, item.text))
    return result, swept, issues


def refuse_sweeps(items: list[Override | Sweep]) -> tuple[list[Override], list[RecipeIssue]]:
    """Without -m: a sweep is an error that says how to run it, or how to set the text."""
    kept, issues = [], []
    for item in items:
        if isinstance(item, Override):
            kept.append(item)
            continue
        value = item.text.partition("=")[2]
        issues.append(RecipeIssue(item.key, f"several values are a sweep: run them with -m; to "
                                  f"set the text itself, quote it: {item.key}='{value}'",
                                  item.source))
    return kept, issues


def _dimension(item: Sweep, options: Options) -> tuple[dict[str, Any], str | None]:
    """The search-space entry of one sweep, or the problem with it."""
    from hydra.core.override_parser.types import Glob

    parsed = item.parsed
    sweep = parsed.value()
    tags = set(getattr(sweep, "tags", ()) or ())
    if getattr(sweep, "shuffle", False):
        return {}, "shuffle() changes no trial of a study: drop it"
    if parsed.is_interval_sweep():
        return _interval(sweep.start, sweep.end, tags)
    if tags:
        return {}, "tag() is read on interval() only: tag(log, interval(A,B)), tag(int, ...)"
    if not isinstance(sweep, Glob):  # choice(...), range(...), A,B
        return {"choice": [plain(v) for v in parsed.sweep_iterator()]}, None
    names = options(item.key)
    if names is None:
        return {}, (f"glob() picks options of a config group (a folder {item.key.replace('.', '/')}"
                    "/ of YAML files next to the recipe); there is none")
    chosen = sweep.filter(names)
    if not chosen:
        return {}, f"glob() matches none of the options ({', '.join(names)})"
    return {"choice": chosen}, None


def _interval(start: float, end: float, tags: set[str]) -> tuple[dict[str, Any], str | None]:
    unknown = tags - {"log", "int"}
    if unknown:
        return {}, (f"unknown tag {sorted(unknown)[0]!r}: interval() takes tag(log, ...) or "
                    "tag(int, ...)")
    if tags == {"log", "int"}:
        return {}, "an int range is not drawn on a log scale here: tag(int, ...) or tag(log, ...)"
    if "int" in tags:
        if start != int(start) or end != int(end):
            return {}, "tag(int, interval(A,B)) needs whole numbers A and B"
        return {"int": [int(start), int(end)]}, None
    return {"loguniform" if "log" in tags else "uniform": [float(start), float(end)]}, None
