"""Checks of the dotted paths a recipe names, and typing of `model.args` / `data.args`.

These import user code (by design: the recipe points at it), so they run in `validate`,
`show` and `run`, never at CLI import time.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from model_trainer.callbacks import callback_problems
from model_trainer.recipe import names
from model_trainer.recipe.resolve import ResolveError, import_object
from model_trainer.recipe.schema import Recipe
from model_trainer.recipe.typecheck import INVALID, Report, build_dataclass, closest


def check_paths(recipe: Recipe, report: Report, warn: Report) -> None:
    """Resolve every dotted path and type the user's args; report what fails."""
    _type_args(recipe.model, "model", report)
    _type_args(recipe.data, "data", report)
    target = _resolve(recipe.data.target, "data.target", report)
    if target is not None and not callable(target):
        report("data.target", f"'{recipe.data.target}' is not callable "
               "(expected a function (config, flag) -> DataLoader)")
    _check_wrapper(recipe.wrapper, report)
    _check_named(recipe.train.optimizer.name, "train.optimizer.name", names.OPTIMIZERS, report)
    _check_named(recipe.train.scheduler.name, "train.scheduler.name", names.SCHEDULERS, report)
    for i, spec in enumerate(recipe.train.callbacks):
        target_path, args = (spec, {}) if isinstance(spec, str) else (spec.target, spec.args)
        found = _resolve(target_path, f"train.callbacks.{i}", report)
        for problem in callback_problems(found, args) if found is not None else ():
            report(f"train.callbacks.{i}", f"'{target_path}' {problem}")
    for i, metric in enumerate(recipe.train.metrics):
        if not names.is_builtin_metric(metric):
            _check_named(metric, f"train.metrics.{i}",
                         (*names.METRICS, "top5_accuracy"), report)


def _resolve(path: str, key: str, report: Report) -> Any:
    try:
        return import_object(path)
    except ResolveError as exc:
        report(key, f"cannot resolve '{path}': {exc}")
        return None


def _type_args(section: Any, key: str, report: Report) -> None:
    """With `<key>.config`, build args as that dataclass; else check them against the target."""
    target = _resolve(section.target, f"{key}.target", report) if key == "model" else None
    if key == "model" and target is not None and not callable(target):
        report("model.target", f"'{section.target}' is not a class or function "
               f"(got {type(target).__name__})")
        return
    if section.config is None:
        if not isinstance(section.args, dict):
            report(f"{key}.args", f"expected a mapping of keyword arguments, got "
                   f"{type(section.args).__name__}")
        elif target is not None:
            _check_signature(target, section.args, f"{key}.args", report)
        return
    config_cls = _resolve(section.config, f"{key}.config", report)
    if config_cls is None:
        return
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        report(f"{key}.config", f"'{section.config}' is not a dataclass "
               f"(got {type(config_cls).__name__}); decorate it with @dataclass")
        return
    built = build_dataclass({} if section.args is None else section.args, config_cls, f"{key}.args", report)
    if built is not INVALID:
        section.args = built


def keyword_parameters(target: Any) -> list[str] | None:
    """The keyword arguments `target` accepts, or None when it takes any (**kwargs) or
    its signature cannot be read."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _check_signature(target: Any, args: dict, key: str, report: Report) -> None:
    """Model args without a config class must match the constructor's parameters."""
    accepted = keyword_parameters(target)
    if accepted is None:
        return
    params = inspect.signature(target).parameters
    for name in args:
        if name not in accepted:
            report(f"{key}.{name}", f"{_name(target)} has no parameter '{name}'"
                   f"{closest(name, accepted)}; it takes: {', '.join(accepted) or 'nothing'}")
    for name, p in params.items():
        if (p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and name not in args):
            report(f"{key}.{name}", f"missing required argument of {_name(target)}")


def _check_wrapper(path: str, report: Report) -> None:
    wrapper = _resolve(path, "wrapper", report)
    if wrapper is None:
        return
    # Named, not imported: recipe/ stays below the training code (and free of torch).
    bases = {f"{c.__module__}.{c.__qualname__}" for c in getattr(wrapper, "__mro__", ())}
    if not (isinstance(wrapper, type) and "model_trainer.wrapper.ModelWrapper" in bases):
        report("wrapper", f"'{path}' is not a subclass of model_trainer.ModelWrapper")


def _check_named(name: str, key: str, builtins: tuple[str, ...], report: Report) -> None:
    """A built-in name, or a dotted path to something callable."""
    if name in builtins:
        return
    if not names.is_dotted_path(name):
        report(key, f"unknown name '{name}'{closest(name, builtins)}; "
               f"built-ins: {', '.join(builtins)}, or a dotted path")
        return
    obj = _resolve(name, key, report)
    if obj is not None and not callable(obj):
        report(key, f"'{name}' is not callable (got {type(obj).__name__})")


def _name(target: Any) -> str:
    return getattr(target, "__qualname__", repr(target))
