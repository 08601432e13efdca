"""Resolve the dotted paths a recipe names (model, data, wrapper, optimizer...).

A recipe runs user code by design; these helpers only make the failure modes clear:
which module is missing, which attribute, or what kind of object was found instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from model_trainer.recipe.typecheck import closest


class ResolveError(Exception):
    """A dotted path could not be turned into an object; the message says why."""


def import_object(path: str) -> Any:
    """`package.module.Name` -> the object, importing the longest module prefix."""
    if not isinstance(path, str) or not path or any(not p.isidentifier() for p in path.split(".")):
        raise ResolveError(f"'{path}' is not a dotted path like 'package.module.Name'")
    parts = path.split(".")
    missing_module = None
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # the module itself or a package above it is missing, or something it imports
            if exc.name is not None and not (module_name == exc.name
                                             or module_name.startswith(exc.name + ".")):
                raise ResolveError(
                    f"importing '{module_name}' failed: No module named '{exc.name}'"
                ) from exc
            missing_module = missing_module or module_name
            continue
        except Exception as exc:  # user code failing at import time
            raise ResolveError(
                f"importing '{module_name}' raised {type(exc).__name__}: {exc}"
            ) from exc
        obj: Any = module
        for i, attr in enumerate(parts[cut:]):
            if not hasattr(obj, attr):
                if i == 0 and missing_module:
                    names = [n for n in dir(obj) if not n.startswith("_")]
                    raise ResolveError(f"no module named '{missing_module}'{closest(attr, names)}")
                owner = ".".join(parts[: cut + i])
                names = [n for n in dir(obj) if not n.startswith("_")]
                raise ResolveError(f"'{owner}' has no attribute '{attr}'{closest(attr, names)}")
            obj = getattr(obj, attr)
        return obj
    raise ResolveError(f"no module named '{parts[0]}' (is it installed or in the working directory?)")


def add_working_directory_to_path() -> None:
    """Put the working directory on sys.path, as `python script.py` does: console scripts
    (`mtrain`) do not, and a recipe's dotted paths name the user's modules there."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
