"""Base class of every recipe section: attribute and item access, and freezing.

The wrapper reads `config.train.batch_size` or `config["train"]["batch_size"]`; once
`config_parser` has filled the derived values every section is frozen (its attributes
cannot be set), so the experiment cannot change behind its identity's back.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class ConfigNode:
    """Mixin for recipe dataclasses: `node["key"]`, `"key" in node`, `freeze()`."""

    _frozen: bool = False
    # dotted key -> the ${oc.env:...} text a value was read through (the top node only):
    # what every written form shows instead of the value (recipe/view.py)
    _from_environment: dict[str, str] = {}  # noqa: RUF012 (replaced, never mutated)

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in self._field_names():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._field_names()

    def keys(self) -> list[str]:
        return list(self._field_names())

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self._field_names() else default

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise dataclasses.FrozenInstanceError(
                f"recipe is frozen: cannot set {type(self).__name__}.{name} "
                "(derived values are filled in config_parser, before the recipe is frozen)"
            )
        super().__setattr__(name, value)

    def freeze(self) -> None:
        """Make this node and everything below it read-only: attributes, and the lists and
        mappings they hold (replaced by read-only copies)."""
        for name in self._field_names():
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "_frozen", True)

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def _refuse(self: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError("recipe is frozen: its lists and mappings cannot change (derived values "
                    "are filled in config_parser, before the recipe is frozen)")


class FrozenDict(dict):
    """A mapping of a frozen recipe: reads like a dict, refuses every change."""

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple:
        return FrozenDict, (dict(self),)


class FrozenList(list):
    """A list of a frozen recipe: reads like a list, refuses every change."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple:
        return FrozenList, (list(self),)


def _frozen(value: Any) -> Any:
    if isinstance(value, ConfigNode):
        value.freeze()
        return value
    if isinstance(value, dict):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(_frozen(v) for v in value)
    return value
