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
        """Make this node and every node below it read-only."""
        for value in (getattr(self, n) for n in self._field_names()):
            _freeze_value(value)
        object.__setattr__(self, "_frozen", True)

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def _freeze_value(value: Any) -> None:
    if isinstance(value, ConfigNode):
        value.freeze()
    elif isinstance(value, dict):
        for v in value.values():
            _freeze_value(v)
    elif isinstance(value, list):
        for v in value:
            _freeze_value(v)
