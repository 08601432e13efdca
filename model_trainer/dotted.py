"""Dotted keys (`train.optimizer.lr`) into nested plain mappings: read one, or flatten all."""

from __future__ import annotations

import json
from typing import Any

_ABSENT: Any = object()


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
