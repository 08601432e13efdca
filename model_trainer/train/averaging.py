"""What the weight averages (train.ema, train.swa) share: an average of the model's
floating-point parameters that evaluations run with. Before an evaluation (val or test)
the average is swapped into the model and the trained weights are put back after, so the
monitor, early stopping and best.pt judge the average; it is saved in the checkpoint
(`callbacks`), so a resumed run continues it exactly, and the test split and
`model_trainer.load_trial` use the average of the best evaluation. When the average is
taken, and how, is each subclass's (ema.py every optimizer step, swa.py at epoch ends).
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.callbacks import Callback
from model_trainer.train.distributed import unwrap


class WeightAverage(Callback):
    def __init__(self) -> None:
        self.average: list[torch.Tensor] | None = None
        self.kept: list[torch.Tensor] | None = None  # the trained weights during evaluations

    def on_evaluation_start(self, wrapper: Any, flag: str) -> None:
        if self.average is not None:
            live = params(wrapper.model)
            self.kept = [p.detach().clone() for p in live]
            copy_into(live, self.average)

    def on_evaluation_done(self, wrapper: Any, flag: str) -> None:
        if self.kept is not None:
            copy_into(params(wrapper.model), self.kept)
            self.kept = None

    def on_checkpoint_load(self, wrapper: Any, state: Any) -> None:
        """The average as saved, none included (a best.pt from before SWA's first epoch:
        the test split rewound there evaluates the weights, not the last average)."""
        if isinstance(state, dict) and "average" in state:
            device = next(iter(params(wrapper.model)), torch.empty(0)).device
            saved = state["average"]
            self.average = None if saved is None else [t.to(device) for t in saved]


def params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in unwrap(model).parameters() if p.dtype.is_floating_point]


def norms(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's batch-norm layers (their running statistics belong to its weights)."""
    return [m for m in unwrap(model).modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def copy_into(targets: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        torch._foreach_copy_(targets, values)


def averaged_weights(module: torch.nn.Module, saved: dict[str, Any]) -> bool:
    """Put the average a checkpoint holds into `module` (what load_trial gives when the
    trial used train.ema or train.swa), with the batch-norm statistics recomputed for it
    where train.swa saved them; whether there was one."""
    for state in saved.get("callbacks") or []:
        if isinstance(state, dict) and state.get("average") is not None and (
                "decay" in state or "swa_count" in state):
            copy_into(params(module), [t.to(p.device) for t, p in
                                       zip(state["average"], params(module), strict=True)])
            load_norms(module, state.get("norms"))
            return True
    return False


def load_norms(module: torch.nn.Module, saved: list[dict[str, torch.Tensor]] | None) -> None:
    """Running statistics saved by `norm_buffers` into the model's batch-norm layers."""
    if not saved:
        return
    with torch.no_grad():
        for norm, buffers in zip(norms(module), saved, strict=True):
            for name, value in buffers.items():
                getattr(norm, name).copy_(value)


def norm_buffers(module: torch.nn.Module) -> list[dict[str, torch.Tensor]]:
    """A copy of every batch-norm layer's running statistics."""
    return [{name: buffer.clone() for name, buffer in norm.named_buffers(recurse=False)}
            for norm in norms(module)]
