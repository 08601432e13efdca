"""Checks of the user's side of the contract: hook signatures and filled Derived values.

A hook that cannot be called the way the loop will call it is reported when the wrapper
is created, with every mismatch at once, instead of as a TypeError deep inside epoch 3. Derived values must all be filled by
`config_parser` before the recipe is frozen and the model is built.
"""

from __future__ import annotations

import inspect
from typing import Any

from model_trainer import dotted
from model_trainer.errors import DerivedError, HookSignatureError
from model_trainer.recipe.identity import attribute_kinds, to_plain
from model_trainer.recipe.markers import MISSING

# hook -> the arguments the loop passes (after self)
HOOKS: dict[str, tuple[str, ...]] = {
    "make_dataloader": ("flag",),
    "config_parser": ("recipe",),
    "make_model": (),
    "make_optimizer": ("model",),
    "make_scheduler": ("optimizer", "steps_per_epoch"),
    "train_step": ("batch",),
    "evaluation_step": ("batch",),
    "metric_inputs": ("output", "batch"),
    "custom_evaluation": ("flag",),
    "fit": (),
}


def check_hooks(wrapper: Any) -> None:
    """Raise HookSignatureError naming every hook whose override has the wrong signature."""
    problems = []
    cls = type(wrapper).__name__
    for name, args in HOOKS.items():
        hook = getattr(wrapper, name, None)
        expected = f"{name}(self{''.join(', ' + a for a in args)})"
        if not callable(hook):
            problems.append(f"{cls}.{name} is not callable; expected a method {expected}")
            continue
        try:
            signature = inspect.signature(hook)
        except (TypeError, ValueError):
            continue
        try:
            signature.bind(*args)
        except TypeError as exc:
            problems.append(f"{cls}.{name}{_self(signature)} does not match the hook's "
                            f"signature {expected}: {exc}")
    if problems:
        raise HookSignatureError("; ".join(problems))


def _self(signature: inspect.Signature) -> str:
    return "(" + ", ".join(["self", *signature.parameters]) + ")"


def check_derived(recipe: Any) -> None:
    """Raise DerivedError naming every value still MISSING after config_parser."""
    plain = to_plain(recipe)
    missing = [key for key in attribute_kinds(recipe) if dotted.get(plain, key) == MISSING]
    if missing:
        raise DerivedError(
            f"{', '.join(missing)}: derived value{'s' if len(missing) > 1 else ''} not filled; "
            f"set {'them' if len(missing) > 1 else 'it'} in the wrapper's config_parser "
            f"(e.g. recipe.{missing[0]} = ...), which runs after the data loaders are made")
