"""Resolve `${...}` interpolations with OmegaConf; each failure is a located issue.

`${train.batch_size}` (absolute), `${..hidden}` (relative), `${oc.env:NAME,default}` and
text around them (`run-${seed}`) are OmegaConf's own, resolved on the merged recipe so a
reference sees the final value. A whole-value reference keeps the type of what it points
at; text made by a resolver or by concatenation comes back as `InterpolatedText`, which
the type check reads by the field's type (`${oc.env:N}` with N=5 fills an int field).

Resolution is bounded: OmegaConf does not memoize, so `b: ${a}${a}`, `c: ${b}${b}`, ...
doubles the work at every line. The expansion is estimated first, without resolving.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from model_trainer import dotted
from model_trainer.errors import RecipeIssue
from model_trainer.recipe.merge import Merged, interpolated_strings
from model_trainer.recipe.typecheck import InterpolatedText
from model_trainer.recipe.yaml_source import MAX_DEPTH

MAX_SUBSTITUTIONS = 2_000  # references resolved, with repeats; OmegaConf takes ~0.3 ms each
MAX_CHARS = 1_000_000  # characters of text the interpolations produce

_KEY = r"(\.*)((?:[\w\-]+|\[[\w\-]+\])(?:\.[\w\-]+|\[[\w\-]+\])*)"  # dots, then a key path
_SINGLE = re.compile(rf"^\$\{{{_KEY}\}}$")  # the whole value is one reference
_REFS = re.compile(rf"\$\{{(?:[\w.\-]+:\s*)?{_KEY}")  # references, and resolvers' first args
_PART = re.compile(r"[\w\-]+")

KeyPath = tuple[Any, ...]  # keys and list indices from the recipe's root


@dataclass
class Resolved:
    data: dict  # plain data, no interpolation left
    notes: dict[str, str]  # dotted key -> where its interpolated value came from
    issues: list[RecipeIssue]
    unresolved: list[str] = field(default_factory=list)  # keys left as `${...}` text


ENV_NOTE = ", read from the environment"  # the end of a note on a value from oc.env


def resolve(merged: Merged, env: dict[str, str | None]) -> Resolved:
    """The merged recipe with every interpolation resolved (failures: issues, value kept)."""
    plain = OmegaConf.to_container(merged.config, resolve=False)
    found = list(interpolated_strings(plain))
    resolved = Resolved(plain, {}, [])
    if not found:
        return resolved
    problem = _too_costly(plain, found)
    if problem:
        key, message = problem
        resolved.issues.append(RecipeIssue(key, message, *_where(merged, key)))
        resolved.unresolved = [dotted.join(path) for path, _ in found]
        return resolved
    targets = [_final_target(plain, text, path) for path, text in found]  # before any is set
    with environment(env):
        for (path, text), target in zip(found, targets, strict=True):
            key = dotted.join(path)
            try:
                value = _resolve_at(merged.config, path, target)
            except (OmegaConfBaseException, RecursionError) as exc:
                resolved.issues.append(RecipeIssue(key, f"cannot resolve {text}: {_reason(exc)}",
                                                   *_where(merged, key)))
                resolved.unresolved.append(key)
                continue
            dotted.set_at(plain, path, value)
            resolved.notes[key] = _note(merged, text, target)
    return resolved


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """os.environ with `values` set (None: unset) for the duration, then as it was; in
    the process that loaded the recipe this changes nothing."""
    saved = {name: os.environ.get(name) for name in values}
    _apply({n: v for n, v in values.items() if saved[n] != v})
    try:
        yield
    finally:
        _apply({n: v for n, v in saved.items() if values[n] != v})


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _resolve_at(config: DictConfig, path: KeyPath, target: tuple[str, Any] | None) -> Any:
    node: Any = config
    for part in path[:-1]:
        node = node[part]
    value = node[path[-1]]  # OmegaConf resolves here
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    # Text copied by a plain reference from a string keeps its type; resolver output and
    # concatenations are text to read by the field's type.
    copied = target is not None and not _is_computed(target[1])
    return InterpolatedText(value) if isinstance(value, str) and not copied else value


def _is_computed(raw: Any) -> bool:
    return isinstance(raw, str) and "${" in raw


def _final_target(plain: dict, text: str, path: KeyPath) -> tuple[str, Any] | None:
    """(dotted key, raw value) that a chain of whole-value references ends at, or None
    when `text` is not a whole-value reference."""
    for _ in range(MAX_DEPTH):
        match = _SINGLE.match(text)
        if match is None:
            return None
        target = _absolute(match.group(1), match.group(2), path)
        raw = dotted.at(plain, target, dotted.ABSENT) if target is not None else dotted.ABSENT
        if target is None or raw is dotted.ABSENT:
            return None
        if not (isinstance(raw, str) and _SINGLE.match(raw)):
            return dotted.join(target), raw
        text, path = raw, target
    return None


def _note(merged: Merged, text: str, target: tuple[str, Any] | None) -> str:
    if target is not None and not _is_computed(target[1]):
        origin = merged.origin_of(target[0])
        return f"{text}, written at {_format(origin)}" if origin else text
    if "oc.env:" in text or (target is not None and "oc.env:" in target[1]):
        return f"{text}{ENV_NOTE}"
    return text


def _where(merged: Merged, key: str) -> tuple[str | None, int | None]:
    return merged.origin_of(key) or (None, None)


def _format(origin: tuple[str, int | None]) -> str:
    name, line = origin
    return f"{name}:{line}" if line is not None else name


def _reason(exc: BaseException) -> str:
    message = str(exc).splitlines()[0]
    if "Recursive interpolation" in message or isinstance(exc, RecursionError):
        return "the interpolations form a cycle"
    env = re.search(r"Environment variable '([^']+)' not found", message)
    if env:
        return (f"environment variable {env.group(1)} is not set (give a default: "
                f"${{oc.env:{env.group(1)},VALUE}})")
    missing = re.search(r"Missing mandatory value: (\S+)", message)
    if missing:
        return f"{missing.group(1)} is ??? (a value still to fill)"
    return message.removeprefix("KeyError raised while resolving interpolation: ")


def _too_costly(plain: dict, found: list[tuple[KeyPath, str]]) -> tuple[str, str] | None:
    """(dotted key, message) when resolving would be too much work, else None."""
    cost = _Cost(plain)
    subs = chars = 0
    for path, _ in found:
        try:
            s, c = cost.of(path, 0)
        except _TooDeep:
            return dotted.join(path), (f"interpolations refer through more than {MAX_DEPTH} "
                                   "levels")
        subs, chars = subs + s, chars + c
        if subs > MAX_SUBSTITUTIONS or chars > MAX_CHARS:
            return dotted.join(path), (
                f"the interpolations would expand to more than {MAX_SUBSTITUTIONS} references "
                f"or {MAX_CHARS} characters (the limits of a recipe)")
    return None


class _TooDeep(Exception):
    pass


class _Cost:
    """(references resolved, characters produced) to resolve one value, memoized: the
    estimate is linear where the resolution would be exponential."""

    def __init__(self, plain: dict):
        self.plain, self.memo = plain, {}

    def of(self, path: KeyPath, depth: int) -> tuple[int, int]:
        if path in self.memo:
            return self.memo[path]
        if depth > MAX_DEPTH:
            raise _TooDeep
        self.memo[path] = (0, 0)  # a cycle adds nothing: OmegaConf reports it
        raw = dotted.at(self.plain, path, dotted.ABSENT)
        subs, chars = 0, 0 if raw is dotted.ABSENT else len(str(raw))
        if isinstance(raw, dict | list):
            chars = 0
            for key in (raw if isinstance(raw, dict) else range(len(raw))):
                s, c = self.of((*path, key), depth + 1)
                subs, chars = subs + s, chars + c
        elif _is_computed(raw):
            for dots, ref in _REFS.findall(raw):
                target = _absolute(dots, ref, path)
                s, c = self.of(target, depth + 1) if target is not None else (0, 0)
                subs, chars = subs + 1 + s, chars + c
        self.memo[path] = (subs, chars)
        return subs, chars


def _absolute(dots: str, ref: str, path: KeyPath) -> KeyPath | None:
    """The path a reference names from the value at `path` (`.x`: a sibling, `..x`: a
    sibling of the parent...)."""
    parts = tuple(int(p) if p.isdigit() else p for p in _PART.findall(ref))
    if not dots:
        return parts
    base = path[:-1][: len(path) - len(dots)]
    return None if len(dots) > len(path) else (*base, *parts)
