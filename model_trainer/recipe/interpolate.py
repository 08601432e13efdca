"""Resolve `${...}` interpolations with OmegaConf; each failure is a located issue.

OmegaConf resolves every value, so a recipe means what OmegaConf says: a whole-value
reference keeps the type of what it points at, text made by concatenation or by a
resolver (`${oc.env:SHA}`) stays text, `${oc.decode:...}` is the way to a typed value.
Such text comes back as `InterpolatedText`, which a typed field (a config class, the
schema) reads by its type; untyped args keep it as the text OmegaConf made.

Each interpolated value is resolved once, after the interpolated values it refers to,
which are then set as plain values: every other interpolated value waits behind a marker
resolver that says which value it is, so the order is found as OmegaConf walks the
references (no second parser of the grammar), a cycle is seen as one, and the work stays
linear. (OmegaConf does not memoize: `b: ${a}${a}`, `c: ${b}${b}`, ... would double the
work at every line.) Resolution is bounded in evaluations and characters.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    InterpolationKeyError,
    InterpolationResolutionError,
    InterpolationToMissingValueError,
    OmegaConfBaseException,
    UnsupportedInterpolationType,
)

from model_trainer import dotted
from model_trainer.errors import RecipeIssue
from model_trainer.recipe.environment import environment, environment_names
from model_trainer.recipe.merge import Merged, interpolated_strings
from model_trainer.recipe.typecheck import InterpolatedText, closest
from model_trainer.recipe.yaml_source import MAX_DEPTH

MAX_EVALUATIONS = 2_000  # interpolated values evaluated, retries included (~0.1 ms each)
MAX_CHARS = 1_000_000  # characters of text the interpolations produce
ENV_NOTE = ", read from the environment"  # the end of a note on a value from oc.env

_WAIT = "mtrain.waiting_for"  # the marker resolver: `${mtrain.waiting_for:7}`
_VALUE = "mtrain.resolved"  # a resolved text, set back without being read again
_PROBE = "\x00mtrain-probe"  # where a value is evaluated, beside its own (marked) place
_LITERAL = re.compile(r"(\\*)\$\{")  # `${` and the backslashes before it
_OMEGACONF_RESOLVERS = ("oc.env, oc.select, oc.decode, oc.create, oc.deprecated, "
                        "oc.dict.keys, oc.dict.values")


@dataclass
class Resolved:
    data: dict  # plain data, no interpolation left
    notes: dict[str, str]  # dotted key -> where its interpolated value came from
    issues: list[RecipeIssue]
    unresolved: list[str] = field(default_factory=list)  # keys left as `${...}` text


class _Waiting(Exception):
    pass


_state = threading.local()  # the value a marker was asked for, in this thread


def _waiting_for(index: int) -> None:
    if getattr(_state, "waiting", None) is None:
        _state.waiting = index
    raise _Waiting


def _resolved_value(index: int) -> Any:
    return _state.values[index]


for _name, _function in ((_WAIT, _waiting_for), (_VALUE, _resolved_value)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _function)


def resolve(merged: Merged, env: dict[str, str | None]) -> Resolved:
    """The merged recipe with every interpolation resolved (failures: issues, value kept)."""
    found = list(interpolated_strings(merged.data))
    if not found:
        return Resolved(copy.deepcopy(merged.data), {}, [])
    with environment(env):
        return _Resolver(merged, found, env).run()


class _Resolver:
    def __init__(self, merged: Merged, found: list[tuple[tuple, str]],
                 env: dict[str, str | None]):
        self.merged, self.found, self.env = merged, found, env
        self.state: dict[int, str] = {}  # index -> "active" | "done" | "failed"
        self.stack: list[int] = []  # the values being resolved, each waiting for the next
        self.from_env: set[int] = set()
        self.made_text: set[int] = set()  # values that are text a resolver or concatenation made
        self.limited = False  # a limit was crossed: resolve nothing more
        self.evaluations = self.chars = 0
        self.result = Resolved(copy.deepcopy(merged.data), {}, [])
        marked = copy.deepcopy(merged.data)
        for i, (path, _) in enumerate(found):
            dotted.set_at(marked, path, f"${{{_WAIT}:{i}}}")
        self.config = OmegaConf.create(marked)
        self.values: list[Any] = [None] * len(found)

    def run(self) -> Resolved:
        _state.values = self.values
        try:
            for i in range(len(self.found)):
                self._resolve(i, 0)
        finally:
            _state.values = _state.waiting = None
        failed = range(len(self.found)) if self.limited else \
            [i for i, s in self.state.items() if s != "done"]  # later checks stay quiet on these
        self.result.unresolved = [dotted.join(self.found[i][0]) for i in failed]
        return self.result

    def _resolve(self, i: int, depth: int) -> bool:
        """Resolve value `i` after those it refers to; whether it was resolved."""
        state = self.state.get(i)
        if state == "active":
            for member in self.stack[self.stack.index(i):]:
                self._fail(member, "the interpolations form a cycle")
        if state is not None or self.limited:
            self.state.setdefault(i, "failed")
            return state == "done"
        if depth > MAX_DEPTH:
            return self._limit(i, f"interpolations refer through more than {MAX_DEPTH} levels")
        self.state[i] = "active"
        self.stack.append(i)
        try:
            return self._resolve_in_order(i, depth)
        finally:
            self.stack.pop()

    def _resolve_in_order(self, i: int, depth: int) -> bool:
        copied: set[int] = set()  # the values it waited for
        while True:
            self.evaluations += 1
            if self.evaluations > MAX_EVALUATIONS:
                return self._limit(i, f"the interpolations would take more than "
                                   f"{MAX_EVALUATIONS} evaluations (the limit of a recipe)")
            value, error, waited = self._evaluate(i)
            if waited is None:
                break
            if not self._resolve(waited, depth + 1):
                if self.state.get(i) == "active":
                    self.state[i] = "failed"  # its reference's issue is reported
                return False
            copied.add(waited)
        if error is not None:
            return self._fail(i, self._reason(i, error))
        self.chars += sum(len(v) for _, v in dotted.walk([value]) if isinstance(v, str))
        if self.chars > MAX_CHARS:
            return self._limit(i, f"the interpolations would produce more than {MAX_CHARS} "
                               "characters (the limit of a recipe)")
        text = self.found[i][1]
        if isinstance(value, str) and (not _is_reference(text) or copied & self.made_text):
            self.made_text.add(i)  # made, or a copy of made text: read by its field's type
        if "oc.env:" in text or copied & self.from_env:
            self.from_env.add(i)
        self._set(i, value)
        self.state[i] = "done"
        return True

    def _limit(self, i: int, message: str) -> bool:
        """A limit was crossed: report it once and resolve nothing more."""
        self.limited = True
        return self._fail(i, message)

    def _evaluate(self, i: int) -> tuple[Any, BaseException | None, int | None]:
        """(value, error, the marked value it waits for) of value `i`, evaluated beside its
        own place so that relative references mean the same and one to itself is seen."""
        path, text = self.found[i]
        parent = self._node(path[:-1])
        _state.waiting = None
        value = error = None
        if isinstance(parent, ListConfig):
            parent.append(text)
            probe: Any = len(parent) - 1
        else:
            parent[_PROBE] = text
            probe = _PROBE
        try:
            value = parent[probe]
            if isinstance(value, DictConfig | ListConfig):
                value = OmegaConf.to_container(value, resolve=True)
        except (OmegaConfBaseException, RecursionError) as exc:
            error = exc
        finally:
            if isinstance(parent, ListConfig):
                parent.pop()
            else:
                del parent[_PROBE]
        waited, _state.waiting = _state.waiting, None
        return value, error, waited

    def _node(self, path: tuple) -> Any:
        node: Any = self.config
        for part in path:
            node = node[part]
        return node

    def _set(self, i: int, value: Any) -> None:
        """Value `i` resolved: set where it stands, for those that refer to it."""
        path, text = self.found[i]
        parent = self._node(path[:-1])
        if isinstance(value, str):
            self.values[i] = value
            parent[path[-1]] = f"${{{_VALUE}:{i}}}"  # text is never read again as `${...}`
        else:
            parent[path[-1]] = _escaped(value)
        made = i in self.made_text
        dotted.set_at(self.result.data, path, InterpolatedText(value) if made else value)
        self.result.notes[dotted.join(path)] = self._note(text, i)

    def _note(self, text: str, i: int) -> str:
        if i in self.from_env:
            return f"{text}{ENV_NOTE}"
        origin = self.merged.origins.get(_whole_reference(text) or "")
        return f"{text}, written at {_format(origin)}" if origin else text

    def _fail(self, i: int, message: str) -> bool:
        path, text = self.found[i]
        key = dotted.join(path)
        if self.state.get(i) != "failed":
            self.result.issues.append(RecipeIssue(key, f"cannot resolve {text}: {message}",
                                                  *(self.merged.origin_of(key) or (None, None))))
        self.state[i] = "failed"
        return False

    def _reason(self, i: int, error: BaseException) -> str:
        text = self.found[i][1]
        if isinstance(error, InterpolationToMissingValueError):
            return "it refers to a value that is ??? (still to fill)"
        if isinstance(error, InterpolationKeyError):
            return self._missing_key(text)
        if isinstance(error, UnsupportedInterpolationType):
            return f"no such resolver (a recipe may use {_OMEGACONF_RESOLVERS})"
        if isinstance(error, InterpolationResolutionError):
            unset = sorted(n for n in environment_names([text]) if self.env.get(n) is None)
            if unset:
                return (f"environment variable {unset[0]} is not set (give a default: "
                        f"${{oc.env:{unset[0]},VALUE}})")
        if isinstance(error, RecursionError):
            return "the interpolations form a cycle"
        return str(error).splitlines()[0]

    def _missing_key(self, text: str) -> str:
        """Which absolute key does not exist, and the nearest one that does."""
        keys = [dotted.join(p) for p, _ in dotted.walk(self.merged.data)]
        for name in _absolute_references(text):
            if dotted.at(self.merged.data, tuple(name.split(".")), dotted.ABSENT) \
                    is dotted.ABSENT:
                hint = closest(name, keys) or _environment_hint(name)
                return f"no key '{name}' in the recipe{hint}"
        return "a key it refers to is not in the recipe"


def _escaped(value: Any) -> Any:
    """Resolved data set back into the config: its text kept literal (`\\${`)."""
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return escape_interpolations(value)
    return value


def escape_interpolations(text: str) -> str:
    """Text that OmegaConf reads back as `text`: each `${` escaped, with the backslashes
    before it doubled (OmegaConf reads `\\${` as `${` and `\\\\` there as `\\`)."""
    return _LITERAL.sub(lambda m: m[1] * 2 + "\\${", text)


def _is_reference(text: str) -> bool:
    """Whether the value is one plain reference, absolute or relative (`${..hidden}`):
    it copies a value, it makes none."""
    inner = text[2:-1]
    return text.startswith("${") and text.endswith("}") and bool(inner.strip(".")) and \
        all(c.isalnum() or c in "._-[]" for c in inner)


def _whole_reference(text: str) -> str | None:
    """The absolute key of a value that is one plain reference (`${train.batch_size}`)."""
    inner = text[2:-1]
    return inner if _is_reference(text) and not inner.startswith(".") else None


def _absolute_references(text: str) -> list[str]:
    """The plain absolute references in `text`, for a message (`${model.hidden}`)."""
    names, i = [], text.find("${")
    while i >= 0:
        end = text.find("}", i)
        if end < 0:
            break
        name = _whole_reference(text[i:end + 1])
        if name:
            names.append(name)
        i = text.find("${", i + 2)
    return names


def _environment_hint(name: str) -> str:
    if name.isupper() or name.replace("_", "").isupper():
        return (f" (an environment variable? write ${{oc.env:{name}}}; for the text itself "
                f"write \\${{{name}}})")
    return ""


def _format(origin: tuple[str, int | None]) -> str:
    name, line = origin
    return f"{name}:{line}" if line is not None else name
