"""Strict conversion of plain YAML data into typed recipe dataclasses.

Every problem is collected (never just the first) and located by dotted key. There is
no lossy coercion: 1.5 into an int, '5' into an int and 'yes' into a bool are errors;
the only conversion is the exact int -> float widening. Integers must fit in 64 bits,
as torch and numpy take them.

Text that an interpolation made (`${oc.env:N}`, `run-${seed}`) is read the way an
override's value is, as a YAML 1.2 value (`5` an int, `1e-3` a float, `yes` a string),
and kept as text where the field takes a string and the value does not fit it.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from model_trainer import dotted
from model_trainer.recipe.markers import MISSING, Kind, combine, split_marker
from model_trainer.recipe.yaml_source import parse_yaml_text

Report = Callable[[str, str], None]  # reports a problem: (dotted key, message)
UNFILLED = ("is ??? (a mandatory value that nothing filled: set it in the recipe or with "
            "KEY=VALUE)")
INT64 = (-(2**63), 2**63 - 1)


class InterpolatedText(str):
    """Text produced by resolving an interpolation: read by the type of its field."""

    __slots__ = ()

    def decoded(self) -> Any:
        """The text read as a YAML 1.2 value; the text itself where it is not YAML."""
        parsed = parse_yaml_text(str(self), "<interpolation>")
        return str(self) if parsed.issues else parsed.data


class Invalid:
    """Marks a value that failed to type-check (its issue is already reported)."""


INVALID = Invalid()


def describe(value: Any) -> str:
    """`str 'fast'`, `float 1.5`: the type and a short repr, for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "null"


def type_name(tp: Any) -> str:
    """A readable name of a type annotation, as written in a recipe's terms."""
    tp, _ = split_marker(tp)
    origin = typing.get_origin(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    return getattr(tp, "__name__", str(tp))


def closest(word: str, options: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close option exists, else ''."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


@functools.cache
def field_hints(cls: type) -> dict[str, Any]:
    """Type hints of a dataclass, markers kept (read once per class: a study checks the
    same classes for every trial; do not change the mapping)."""
    return typing.get_type_hints(cls, include_extras=True)


def build(value: Any, tp: Any, key: str, report: Report, kind: Kind = Kind.STATEFUL) -> Any:
    """Convert `value` to `tp`, reporting every mismatch below `key`; INVALID on failure."""
    tp, own = split_marker(tp)
    kind = combine(kind, own)
    origin = typing.get_origin(tp)

    if isinstance(value, InterpolatedText):
        return _build_text(value, tp, key, report, kind)
    if tp is Any:  # free-form: each `???` reported, kept for a study or a config class
        for path, leaf in [((), value), *dotted.walk(value)] if kind is not Kind.DERIVED \
                else ():
            if isinstance(leaf, str) and leaf == MISSING:
                report(f"{key}.{dotted.join(path)}" if path else key, UNFILLED)
        return value
    if isinstance(value, str) and value == MISSING and kind is not Kind.DERIVED:
        report(key, UNFILLED)
        return INVALID
    if origin in (Union, types.UnionType):
        return _build_union(value, tp, key, report, kind)
    if value is None:
        report(key, f"expected {type_name(tp)}, got null")
        return INVALID
    if origin is Literal:
        allowed = typing.get_args(tp)
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        hint = closest(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
        report(key, f"expected {type_name(tp)}, got {describe(value)}{hint}")
        return INVALID
    if origin in (list, tuple):
        return _build_list(value, tp, key, report, kind)
    if origin is dict:
        return _build_dict(value, tp, key, report, kind)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(value, tp, key, report, kind)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or value == member.name:
                return member
        report(key, f"expected {type_name(tp)}, got {describe(value)}")
        return INVALID
    return _build_scalar(value, tp, key, report)


def _build_text(text: InterpolatedText, tp: Any, key: str, report: Report, kind: Kind) -> Any:
    """The decoded value where the field takes it, else the text where it takes that."""
    decoded = text.decoded()
    for candidate in (decoded, str(text)):
        problems: list[tuple[str, str]] = []
        built = build(candidate, tp, key, lambda k, m, p=problems: p.append((k, m)), kind)
        if not problems:
            return built
    return build(decoded, tp, key, report, kind)


def keep_free_text(value: Any) -> Any:
    """Make plain `str`, in place, the interpolated text that no typed field read (untyped
    args, optimizer args): as OmegaConf made it, after the user's config classes have
    typed theirs."""
    if isinstance(value, InterpolatedText):
        return str(value)
    if isinstance(value, dict):
        value.update({k: keep_free_text(v) for k, v in value.items()})
    elif isinstance(value, list):
        value[:] = [keep_free_text(v) for v in value]
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            new = keep_free_text(old)
            if new is not old:
                object.__setattr__(value, f.name, new)  # user dataclasses may be frozen
    return value


def _build_scalar(value: Any, tp: Any, key: str, report: Report) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and not INT64[0] <= value <= INT64[1]:
            report(key, f"expected a 64-bit integer (what torch and numpy take), got {value}")
            return INVALID
    elif tp is float:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > 2**53:
                report(key, f"expected float, got int {value} (too large to be exact)")
                return INVALID
            return float(value)
        ok = isinstance(value, float)
    elif tp is str:
        ok = isinstance(value, str)
    elif isinstance(tp, type):
        ok = isinstance(value, tp)
    else:
        ok = True
    if not ok:
        report(key, f"expected {type_name(tp)}, got {describe(value)}")
        return INVALID
    return value


def _build_union(value: Any, tp: Any, key: str, report: Report, kind: Kind) -> Any:
    options = typing.get_args(tp)
    if value is None:
        if type(None) in options:
            return None
        report(key, f"expected {type_name(tp)}, got null")
        return INVALID
    real = [o for o in options if o is not type(None)]
    shaped = [o for o in real if _shape(o) == _shape(value)]
    if len(real) == 1 or len(shaped) == 1:  # one candidate: its own, precise errors
        return build(value, real[0] if len(real) == 1 else shaped[0], key, report, kind)
    for option in real:  # the first option that accepts the value wins
        problems: list[tuple[str, str]] = []
        result = build(value, option, key, lambda k, m, p=problems: p.append((k, m)), kind)
        if not problems:
            return result
    report(key, f"expected {type_name(tp)}, got {describe(value)}")
    return INVALID


def _shape(tp_or_value: Any) -> str:
    """'mapping', 'list' or 'scalar': what a value is, or what a type takes."""
    if isinstance(tp_or_value, dict):
        return "mapping"
    if isinstance(tp_or_value, list | tuple):
        return "list"
    tp, _ = split_marker(tp_or_value)
    origin = typing.get_origin(tp)
    if origin is dict or dataclasses.is_dataclass(tp):
        return "mapping"
    return "list" if origin in (list, tuple) else "scalar"


def _build_list(value: Any, tp: Any, key: str, report: Report, kind: Kind) -> Any:
    if not isinstance(value, list | tuple):
        report(key, f"expected {type_name(tp)}, got {describe(value)}")
        return INVALID
    args = typing.get_args(tp)
    item_tp = args[0] if args else Any
    items = [build(v, item_tp, f"{key}.{i}", report, kind) for i, v in enumerate(value)]
    if any(i is INVALID for i in items):
        return INVALID
    return tuple(items) if typing.get_origin(tp) is tuple else items


def _build_dict(value: Any, tp: Any, key: str, report: Report, kind: Kind) -> Any:
    if not isinstance(value, dict):
        report(key, f"expected {type_name(tp)}, got {describe(value)}")
        return INVALID
    args = typing.get_args(tp)
    value_tp = args[1] if len(args) == 2 else Any
    result = {}
    for k, v in value.items():
        sub = f"{key}.{k}" if key else str(k)
        if not isinstance(k, str):
            report(sub, f"keys must be strings, got {describe(k)}")
            continue
        result[k] = build(v, value_tp, sub, report, kind)
    if any(v is INVALID for v in result.values()):
        return INVALID
    return result


def build_dataclass(value: Any, cls: type, key: str, report: Report,
                    kind: Kind = Kind.STATEFUL) -> Any:
    """Build dataclass `cls` from a mapping: unknown, missing and derived keys are errors.

    An invalid value is reported and its default stands in, so later checks still run
    on the rest (the caller knows from the reports that the result is not valid).
    """
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        report(key, f"expected {type_name(cls)}, got {describe(value)}")
        return INVALID
    hints = field_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{key}." if key else ""
    ok = True
    renamed = getattr(cls, "renamed_keys", {})
    foreign = getattr(cls, "foreign_keys", {})
    for name in value:
        if name in foreign:
            report(f"{prefix}{name}", foreign[name])
        elif name in renamed:
            report(f"{prefix}{name}", f"was replaced by {renamed[name]}")
        elif name not in fields:
            report(f"{prefix}{name}", f"unknown key{closest(str(name), fields)}; "
                   f"valid keys: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        _, own = split_marker(hints[name])
        field_kind = combine(kind, own)
        if name in value:
            if field_kind is Kind.DERIVED and value[name] != MISSING:
                report(f"{prefix}{name}", "is Derived (filled at run time by the wrapper's "
                       "config_parser); remove it from the recipe")
                continue
            built = build(value[name], hints[name], f"{prefix}{name}", report, field_kind)
            if built is not INVALID:
                kwargs[name] = built
            elif _has_no_default(f):
                ok = False  # no default to stand in; the later checks cannot run
        elif field_kind is Kind.DERIVED:
            kwargs[name] = MISSING if _is_required(f) else f.default
        elif _required_keys(hints[name]):
            needs = ", ".join(f"{prefix}{name}.{k}" for k in _required_keys(hints[name]))
            report(f"{prefix}{name}", f"missing required section (it needs {needs})")
        elif _is_required(f):
            report(f"{prefix}{name}", f"missing required key (expected {type_name(hints[name])})")
            ok = ok and not _has_no_default(f)  # `???` stands in; nothing can for no default
    if not ok:
        return INVALID
    kwargs = {k: v for k, v in kwargs.items() if v is not dataclasses.MISSING}
    try:
        return cls(**kwargs)
    except Exception as exc:  # a user's __post_init__ rejecting the values
        report(key, f"{cls.__name__} rejected these values: {type(exc).__name__}: {exc}")
        return INVALID


def _has_no_default(f: dataclasses.Field) -> bool:
    """Neither a default nor a default factory: the dataclass cannot be built without it."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _required_keys(tp: Any) -> list[str]:
    """The keys a section (a dataclass field) must be given; [] for any other type."""
    tp, _ = split_marker(tp)
    if not dataclasses.is_dataclass(tp):
        return []
    hints = field_hints(tp)
    return [f.name for f in dataclasses.fields(tp) if f.init and _is_required(f)
            and split_marker(hints[f.name])[1] is not Kind.DERIVED]


def _is_required(f: dataclasses.Field) -> bool:
    """The recipe must give it: no default, or the `???` placeholder."""
    return _has_no_default(f) or f.default is MISSING


def kinds_of(cls: type, kind: Kind = Kind.STATEFUL) -> dict[str, tuple[Kind, Any]]:
    """Each field of dataclass `cls` with its effective kind and bare type (fields only:
    annotations of a non-dataclass base, like ConfigNode's `_frozen`, are not attributes)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    result = {}
    for name, hint in field_hints(cls).items():
        if name in fields:
            bare, own = split_marker(hint)
            result[name] = (combine(kind, own), bare)
    return result
