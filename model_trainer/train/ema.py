"""An exponential moving average of the weights (`train.ema: {decay: 0.999}`).

After every optimizer step, each floating-point parameter's average moves towards it:
ema = decay * ema + (1 - decay) * weight (one fused `torch._foreach` update on the
device). Evaluations (val and test) run with the averaged weights swapped in and the
trained ones put back after, so the monitor, early stopping and best.pt judge the
average; the average is saved in the checkpoint (`callbacks`), so a resumed run
continues it exactly, and the test split and `model_trainer.load_trial` use the average
of the best epoch. Buffers (batch-norm statistics) are the model's own.
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.callbacks import Callback
from model_trainer.train.distributed import unwrap


class EMA(Callback):
    def __init__(self, decay: float):
        self.decay = decay
        self.average: list[torch.Tensor] | None = None
        self.kept: list[torch.Tensor] | None = None  # the trained weights during evaluations
        self.weights: list[torch.Tensor] | None = None

    def on_train_start(self, wrapper: Any) -> None:
        if self.average is None:  # not restored from a checkpoint
            self.average = [p.detach().clone() for p in params(wrapper.model)]

    def on_after_optimizer_step(self, wrapper: Any, optimizers: list) -> None:
        if self.average is None:
            self.on_train_start(wrapper)
        if self.weights is None:  # the live parameters (the list is made once)
            self.weights = [p.detach() for p in params(wrapper.model)]
        torch._foreach_lerp_(self.average, self.weights, 1.0 - self.decay)

    def on_evaluation_start(self, wrapper: Any, flag: str) -> None:
        if self.average is not None:
            live = params(wrapper.model)
            self.kept = [p.detach().clone() for p in live]
            copy_into(live, self.average)

    def on_evaluation_done(self, wrapper: Any, flag: str) -> None:
        if self.kept is not None:
            copy_into(params(wrapper.model), self.kept)
            self.kept = None

    def on_checkpoint_save(self, wrapper: Any) -> Any:
        return {"decay": self.decay, "average": self.average}

    def on_checkpoint_load(self, wrapper: Any, state: Any) -> None:
        if isinstance(state, dict) and state.get("average") is not None:
            device = next(iter(params(wrapper.model)), torch.empty(0)).device
            self.average = [t.to(device) for t in state["average"]]


def params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in unwrap(model).parameters() if p.dtype.is_floating_point]


def copy_into(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        torch._foreach_copy_(params, values)


def averaged_weights(module: torch.nn.Module, saved: dict[str, Any]) -> bool:
    """Put the average a checkpoint holds into `module` (what load_trial gives when the
    trial used train.ema or train.swa); whether there was one."""
    for state in saved.get("callbacks") or []:
        if isinstance(state, dict) and state.get("average") is not None and (
                "decay" in state or "swa_count" in state):  # train.ema's or train.swa's
            copy_into(params(module), [t.to(p.device) for t, p in
                                        zip(state["average"], params(module), strict=True)])
            return True
    return False
