"""`train.compile`: the model through torch.compile, with failures that say so.

torch.compile compiles at the first call, so a backend that cannot handle the model fails
inside the first train step; that failure is re-raised as one naming the model and the
way out (run without train.compile), instead of a long compiler traceback. Checkpoints
hold the user's module (distributed.unwrap), so compiled and plain runs share them.
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.errors import TrainingError, UsageError, first_line


class CompiledModel(torch.nn.Module):
    """torch.compile's module, whose compile errors name the model."""

    def __init__(self, module: torch.nn.Module, compiled_module: Any, name: str):
        super().__init__()
        self._orig_mod = module  # what distributed.unwrap returns: the user's module
        self.compiled, self.name = compiled_module, name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.compiled(*args, **kwargs)
        except Exception as exc:
            if not type(exc).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise  # the model's own error
            line = first_line(exc)
            raise TrainingError(f"train.compile: torch.compile failed on {self.name}: "
                                f"{line} (run without train.compile to train it uncompiled)"
                                ) from None


def compiled(module: torch.nn.Module, recipe: Any) -> torch.nn.Module:
    """`module` through torch.compile with the recipe's options."""
    spec = recipe.train.compile
    options = {} if spec is True else {"mode": spec.mode, "fullgraph": spec.fullgraph,
                                       "backend": _backend(spec.backend)}
    try:
        fast = torch.compile(module, **{k: v for k, v in options.items() if v is not None})
    except Exception as exc:  # an unknown backend or mode is refused here
        raise UsageError(f"train.compile: {type(exc).__name__}: {exc}") from None
    return CompiledModel(module, fast, recipe.model.target)


def _backend(name: str) -> Any:
    if "." not in name:
        return name  # one of torch's
    from model_trainer.recipe.resolve import import_object

    return import_object(name)
