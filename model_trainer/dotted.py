"""Dotted keys (`train.optimizer.lr`) and key paths into nested plain data: read, set, walk,
flatten."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

ABSENT: Any = object()  # 'no such key', where None is a value


def get(plain: Any, key: str, default: Any = None) -> Any:
    """The value at dotted `key` in nested dicts, or `default` when a part is missing."""
    for part in key.split("."):
        if not isinstance(plain, dict) or part not in plain:
            return default
        plain = plain[part]
    return plain


def flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists become JSON text so values stay hashable, and
    an empty mapping is the leaf `"{}"`."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        elif isinstance(value, dict):
            flat[dotted] = "{}"
        elif isinstance(value, list | tuple):
            flat[dotted] = json.dumps(value, default=str)
        else:
            flat[dotted] = value
    return flat


def walk(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every value below `data` (mappings and lists included) with its path of keys and
    list indices, parents before children."""
    items = data.items() if isinstance(data, dict) else enumerate(data) \
        if isinstance(data, list) else ()
    for key, value in items:
        yield (*path, key), value
        yield from walk(value, (*path, key))


def at(data: Any, path: tuple, default: Any = None) -> Any:
    """The value at a path of keys and list indices, or `default`."""
    for part in path:
        if isinstance(data, dict) and (part in data or str(part) in data):
            data = data[part if part in data else str(part)]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return default
    return data


def set_at(data: Any, path: tuple, value: Any) -> None:
    """Set the value at a path that exists."""
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def join(path: tuple) -> str:
    """('model', 'args', 0) -> 'model.args.0'."""
    return ".".join(str(part) for part in path)


def matches(choice: Any, value: Any) -> bool:
    """Whether setting `choice` where a recipe holds `value` gives that value back (a
    mapping choice is merged key by key, so it may name only some of the keys)."""
    if isinstance(choice, dict):
        return isinstance(value, dict) and all(
            k in value and matches(v, value[k]) for k, v in choice.items())
    if isinstance(choice, bool) or isinstance(value, bool):
        return choice is value
    if isinstance(choice, int | float) and isinstance(value, int | float):
        return choice == value  # 1 and 1.0: a float field holds the int choice as a float
    return type(choice) is type(value) and choice == value


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key shares (`lr` for
    `train.optimizer.lr`, unless another key also ends in `lr`)."""
    keys = list(keys)
    out = {}
    for key in keys:
        parts = key.split(".")
        for size in range(1, len(parts) + 1):
            tail = ".".join(parts[-size:])
            if not any(o != key and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[key] = tail
    return out


def nearest(mapping: dict[str, Any], key: str) -> Any:
    """The entry of dotted `key` in a flat mapping, or of its nearest ancestor, or None."""
    parts = key.split(".")
    while parts:
        found = mapping.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None
