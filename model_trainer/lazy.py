"""Names a package loads on first use (PEP 562): importing one light module of it does not
import the heavy ones (torch, OmegaConf) behind its other names."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str | tuple[str, str]],
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__`: `where` maps each name to the module it
    lives in (absolute), or to (module, attribute) where its name there differs."""
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = where[name] if isinstance(where[name], tuple) else (where[name], name)
        return getattr(importlib.import_module(module), attribute)

    def __dir__() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *where})

    return __getattr__, __dir__
