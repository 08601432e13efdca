"""The environment a recipe reads through `${oc.env:NAME}`: which variables, and their
values at load time set again wherever the recipe is rebuilt (a study's workers, other
machines of a Ray cluster), so a recipe means the same everywhere."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

from model_trainer import dotted

# the first argument of oc.env: enough to snapshot the variables, not a parser of the grammar
_ENV_NAME = re.compile(r"\$\{oc\.env:\s*['\"]?([^,}'\"\s]+)")


def environment_names(data: Any) -> set[str]:
    """The variables that `${oc.env:NAME}` interpolations in `data` (a mapping or a list)
    read."""
    return {name for _, value in dotted.walk(data) if isinstance(value, str)
            for name in _ENV_NAME.findall(value)}


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
