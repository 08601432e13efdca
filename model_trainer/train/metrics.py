"""Metrics over a whole split, accumulated on the device with one host sync at the end.

Built-ins (names in `model_trainer.recipe.names`): `accuracy` (argmax of the last dim, or
`output > 0` for binary logits shaped like the targets), `topK_accuracy` (e.g.
`top5_accuracy`), `mse`, `mae`. A custom metric is a dotted path to a callable
`(outputs, targets) -> float` called once per evaluation with the outputs and targets
of the whole split concatenated along dim 0; its row name is the path's last part
(`mypkg.metrics.f1` -> `val_f1`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from model_trainer.recipe import names
from model_trainer.recipe.resolve import import_object

SumFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, int]]


def _accuracy(output: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    if output.dim() == targets.dim() + 1:
        predicted = output.argmax(dim=-1)
    else:  # binary logits shaped like the targets
        predicted = (output > 0).to(targets.dtype)
    return (predicted == targets).sum(), targets.numel()


def _top_k(k: int) -> SumFn:
    def top_k_accuracy(output: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        top = output.topk(min(k, output.shape[-1]), dim=-1).indices
        return (top == targets.unsqueeze(-1)).any(dim=-1).sum(), targets.numel()

    return top_k_accuracy


def _error(power: int) -> SumFn:
    def error(output: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        diff = output.float() - targets.float().reshape(output.shape)
        return diff.abs().pow(power).sum(), diff.numel()

    return error


def builtin_metric(name: str) -> SumFn:
    """(sum, count) function of a built-in metric name."""
    k = names.top_k(name)
    if k is not None:
        return _top_k(k)
    return {"accuracy": _accuracy, "mse": _error(2), "mae": _error(1)}[name]


class Means:
    """Running means of scalar tensors: sums stay on the device, counts are host ints."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add_sum(self, key: str, total: torch.Tensor, count: int) -> None:
        """Add a sum over `count` samples: one in-place add on the device, no sync."""
        total = total.detach()
        acc = self.sums.get(key)
        if acc is None:  # a copy in float64 (float32 on mps): never alias the caller's tensor
            dtype = torch.float32 if total.device.type == "mps" else torch.float64
            self.sums[key] = total.to(dtype, copy=True)
        else:
            acc.add_(total)
        self.counts[key] = self.counts.get(key, 0) + count

    def add(self, key: str, mean: torch.Tensor, count: int = 1) -> None:
        """Add a mean over `count` samples."""
        self.add_sum(key, mean if count == 1 else mean.detach() * count, count)

    def compute(self) -> dict[str, float]:
        """The means; one host sync for all of them (the only one)."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] / max(self.counts[k], 1) for k in keys]).tolist()
        return dict(zip(keys, values, strict=True))

    def empty(self) -> bool:
        return not self.sums

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.clone() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        self.sums = {k: v.to(device or v.device, copy=True) for k, v in state["sums"].items()}
        self.counts = dict(state["counts"])


class SplitMetrics:
    """Loss and the recipe's metrics over one pass of a split."""

    def __init__(self, metric_names: list[str]):
        self.builtins = {n: builtin_metric(n) for n in metric_names if names.is_builtin_metric(n)}
        self.custom = {n.rsplit(".", 1)[-1]: import_object(n) for n in metric_names
                       if not names.is_builtin_metric(n)}
        self.means = Means()
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, output: Any, targets: Any, loss: torch.Tensor | None, size: int) -> None:
        if loss is not None:
            self.means.add("loss", loss.float(), size)
        if not (isinstance(output, torch.Tensor) and isinstance(targets, torch.Tensor)):
            return
        output = output.detach()
        for name, fn in self.builtins.items():
            total, count = fn(output, targets)
            self.means.add_sum(name, total, count)
        if self.custom:
            self.outputs.append(output)
            self.targets.append(targets.detach())

    def compute(self) -> dict[str, float]:
        row = self.means.compute()
        if self.custom and self.outputs:
            outputs, targets = torch.cat(self.outputs), torch.cat(self.targets)
            for name, fn in self.custom.items():
                row[name] = float(fn(outputs, targets))
        return row
