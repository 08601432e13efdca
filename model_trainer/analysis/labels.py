"""Short readable labels for mapping- and list-valued attribute values.

A search dimension may choose whole mappings (`train.optimizer: {choice: [{name: sgd, lr:
0.1}, {name: adamw, lr: 0.001}]}`) or lists. Tables, plots and statistics need one hashable
value per level: `sgd (lr=0.1)`, `adamw (lr=0.001)`. A list reads as the JSON text the
recipe flattener writes (`[64, 64]`), so the same list read from a recipe or from a
study's params is the same level.
"""

from __future__ import annotations

import json
import math
from typing import Any

NAME_KEYS = ("name", "target", "type", "kind")  # the part of a mapping that names what it is


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # true / false / null, as YAML writes them
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list, tuple)):
        return label(value)
    return str(value)


def _pairs(mapping: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(mapping, key=str):
        value = mapping[key]
        if isinstance(value, dict) and value:
            out += _pairs(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={_scalar(value)}")
    return out


def label(value: Any) -> Any:
    """`value` itself when it is a plain scalar, else its readable text (keys sorted, so
    equal mappings get equal labels whatever their key order)."""
    if isinstance(value, dict):
        name = next((k for k in NAME_KEYS if isinstance(value.get(k), str)), None)
        rest = _pairs({k: v for k, v in value.items() if k != name})
        if name is None:
            return ", ".join(rest) if rest else "{}"
        return f"{value[name]} ({', '.join(rest)})" if rest else str(value[name])
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), default=str)
    return value


def level_key(value: Any) -> Any:
    """One hashable value per level: NaN is missing (None), and anything but a plain
    scalar reads as its repr."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def unflatten(flat: dict[str, Any], key: str) -> dict | None:
    """The mapping under dotted `key` rebuilt from a flattened recipe; None when absent."""
    prefix = key + "."
    found: dict = {}
    for name, value in flat.items():
        if name.startswith(prefix):
            node = found
            *parents, leaf = name[len(prefix):].split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return found or None
