"""Callbacks: small objects listed in the recipe that the loop calls at fixed moments.

    train:
      callbacks:
        - my_callbacks.PrintLR                                  # a class, built with no args
        - {target: my_callbacks.StopBelow, args: {loss: 0.05}}  # built with these args

A callback subclasses `model_trainer.Callback` and overrides the moments it needs; each
gets the wrapper (the model, optimizers, `wrapper.state`...) and may log a value
(`wrapper.log_value(name, value)`: it appears in the train rows of metrics.jsonl and the
trackers like any other) or ask the loop to stop (`wrapper.request_stop(why)`: the run
ends normally at the end of the epoch, stop reason `callback`). What
`on_checkpoint_save` returns is saved in the checkpoint and given back to
`on_checkpoint_load` on resume, so a resumed run continues exactly. The loop calls only
the moments a callback overrides, so a run without callbacks pays nothing.
"""

from __future__ import annotations

from typing import Any

# moment -> the arguments the loop passes after the wrapper
MOMENTS: dict[str, tuple[str, ...]] = {
    "on_train_start": (),
    "on_epoch_start": ("epoch",),
    "on_before_optimizer_step": ("optimizers",),
    "on_after_optimizer_step": ("optimizers",),
    "on_train_epoch_end": ("epoch",),
    "on_evaluation_start": ("flag",),
    "on_evaluation_done": ("flag",),
    "on_evaluation_end": ("epoch", "metrics"),
    "on_epoch_end": ("epoch", "metrics"),
    "on_checkpoint_save": (),
    "on_checkpoint_load": ("state",),
    "on_train_end": ("reason",),
}


class Callback:
    """Override the moments you need; every one is optional."""

    def on_train_start(self, wrapper: Any) -> None:
        """Before the first epoch (or the first epoch after a resume)."""

    def on_epoch_start(self, wrapper: Any, epoch: int) -> None:
        """Before the train batches of `epoch` (1-based)."""

    def on_before_optimizer_step(self, wrapper: Any, optimizers: list) -> None:
        """After backward, gradients unscaled (their norm is the real one), before the step."""

    def on_after_optimizer_step(self, wrapper: Any, optimizers: list) -> None:
        """After the optimizer step (the weights just changed; gradients zeroed)."""

    def on_train_epoch_end(self, wrapper: Any, epoch: int) -> None:
        """After the epoch's last train batch (its train row written), before its
        evaluation."""

    def on_evaluation_start(self, wrapper: Any, flag: str) -> None:
        """Before the batches of an evaluation of split `flag` (val or test)."""

    def on_evaluation_done(self, wrapper: Any, flag: str) -> None:
        """Right after them (and custom_evaluation), before training goes on."""

    def on_evaluation_end(self, wrapper: Any, epoch: int, metrics: dict[str, float]) -> None:
        """After an evaluation on val, with its metrics (full names: val_loss...)."""

    def on_epoch_end(self, wrapper: Any, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch's train figures and evaluation (train_loss, val_loss...)."""

    def on_checkpoint_save(self, wrapper: Any) -> Any:
        """What to save with the checkpoint (tensors and plain data), or None."""
        return None

    def on_checkpoint_load(self, wrapper: Any, state: Any) -> None:
        """What `on_checkpoint_save` returned, on resume."""

    def on_train_end(self, wrapper: Any, reason: str) -> None:
        """After the last epoch (and the test split); `reason` is the stop reason."""


def overriding(callbacks: list[Any], moment: str) -> list[Any]:
    """The callbacks that override `moment` (the loop calls only those)."""
    base = getattr(Callback, moment)
    return [c for c in callbacks if getattr(type(c), moment, base) is not base]


def callback_problems(target: Any, args: dict[str, Any]) -> list[str]:
    """Why `target(**args)` is not a usable callback (its moments with the wrong
    signature, args its constructor does not take); [] when it is."""
    import inspect

    if not callable(target):
        return [f"is not a class or function (got {type(target).__name__})"]
    problems = []
    try:
        inspect.signature(target).bind(**args)
    except TypeError as exc:
        problems.append(f"cannot be built with {args or 'no args'}: {exc}")
    except ValueError:
        pass  # a builtin without a signature: let it be
    for moment, params in MOMENTS.items():
        method = getattr(target, moment, None)
        if method is None or method is getattr(Callback, moment):
            continue
        try:
            inspect.signature(method).bind(None, None, *params)  # self, wrapper, ...
        except TypeError:
            expected = ", ".join(("self", "wrapper", *params))
            problems.append(f"{moment} must take ({expected})")
    if not any(callable(getattr(target, m, None)) for m in MOMENTS):
        problems.append("has none of the callback moments (subclass model_trainer.Callback)")
    return problems
