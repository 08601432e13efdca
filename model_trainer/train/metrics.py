"""Metrics over a whole split, accumulated on the device with one host sync at the end.

What a model's predictions mean is decided from their shape and dtype, never guessed
from their values:
- class scores shaped `(N, C)` (logits or probabilities: the argmax is the same);
- integer class indices shaped like the targets;
- binary outputs shaped like the targets (or `(N, 1)`): floats are logits or
  probabilities as `train.binary_output` says (there is no way to tell from the numbers);
  without that setting an accuracy on them is refused.
A metric that cannot be computed from what the model returns is a `ContractError`
(exit 2) at the first evaluation, naming the metric, the output and the fix.

Built-ins (names in `model_trainer.recipe.names`): `accuracy`, `topK_accuracy` (e.g.
`top5_accuracy`), `mse`, `mae`. A dotted path names either a torchmetrics `Metric` (a
class made with no arguments, or a factory `(recipe) -> Metric`), updated per batch and
synced over DDP ranks by torchmetrics, or a plain callable `(outputs, targets) -> float`
called once with the whole split's outputs and targets (val and test only: keeping a
train epoch's outputs would cost its memory). The row name is the path's last part.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import torch

from model_trainer.errors import ContractError
from model_trainer.recipe import names
from model_trainer.recipe.resolve import import_object

# a built-in metric: (output, targets, binary_output) -> (per-sample values, sample count);
# the metric is the values' sum over the split divided by the count
SumFn = Callable[[torch.Tensor, torch.Tensor, str | None], tuple[torch.Tensor, int]]
BINARY_FIX = ("set train.binary_output to logits (a positive output predicts 1) or to "
              "probabilities (an output above 0.5 predicts 1)")


def _describe(tensor: torch.Tensor) -> str:
    return f"{str(tensor.dtype).removeprefix('torch.')} shaped {list(tensor.shape)}"


def _labels(name: str, output: torch.Tensor, targets: torch.Tensor,
            binary: str | None) -> torch.Tensor:
    """Predicted class indices, shaped like the targets."""
    if output.dim() == targets.dim() + 1 and output.shape[:-1] == targets.shape:
        if output.shape[-1] > 1:
            return output.argmax(dim=-1)  # class scores
        output = output.squeeze(-1)  # (N, 1): one binary output per sample
    if output.shape != targets.shape:
        raise ContractError(f"metric '{name}': the model's output ({_describe(output)}) does "
                            f"not fit the targets ({_describe(targets)}); return class "
                            "scores shaped (N, C), class indices shaped like the targets, "
                            "or override ModelWrapper.metric_inputs")
    if not output.is_floating_point():
        return output  # class indices (or booleans)
    if binary == "logits":
        return (output > 0).long()
    if binary == "probabilities":
        return (output > 0.5).long()
    raise ContractError(f"metric '{name}': the model returns floats shaped like the targets "
                        f"({_describe(output)}): binary logits or probabilities? {BINARY_FIX}; "
                        "or return class indices (an integer tensor)")


def _accuracy(name: str) -> SumFn:
    def accuracy(output: torch.Tensor, targets: torch.Tensor,
                 binary: str | None) -> tuple[torch.Tensor, int]:
        predicted = _labels(name, output, targets, binary)
        return predicted == targets, targets.numel()

    return accuracy


def _top_k(name: str, k: int) -> SumFn:
    def top_k_accuracy(output: torch.Tensor, targets: torch.Tensor,
                       binary: str | None) -> tuple[torch.Tensor, int]:
        if not (output.is_floating_point() and output.dim() == targets.dim() + 1
                and output.shape[:-1] == targets.shape and output.shape[-1] > 1):
            raise ContractError(f"metric '{name}': needs class scores shaped (N, C) for "
                                f"targets {_describe(targets)}, got {_describe(output)}; "
                                "remove it from train.metrics or return the scores")
        top = output.topk(min(k, output.shape[-1]), dim=-1).indices
        return (top == targets.unsqueeze(-1)).any(dim=-1), targets.numel()

    return top_k_accuracy


def _error(name: str, power: int) -> SumFn:
    def error(output: torch.Tensor, targets: torch.Tensor,
              binary: str | None) -> tuple[torch.Tensor, int]:
        if output.numel() != targets.numel():
            raise ContractError(f"metric '{name}': the output ({_describe(output)}) and the "
                                f"targets ({_describe(targets)}) hold different numbers of "
                                "values")
        diff = output.float() - targets.float().reshape(output.shape)
        return diff.abs().pow(power), diff.numel()

    return error


def builtin_metric(name: str) -> SumFn:
    """The (per-sample values, count) function of a built-in metric name."""
    k = names.top_k(name)
    if k is not None:
        return _top_k(name, k)
    return {"accuracy": _accuracy, "mse": lambda n: _error(n, 2),
            "mae": lambda n: _error(n, 1)}[name](name)


def check_metrics(recipe: Any) -> None:
    """Make every torchmetrics class or instance of `train.metrics` once, as the run will
    (ContractError, exit 2, naming the one that cannot be made): what `mtrain validate`
    checks. A factory `(recipe) -> Metric` is made by the run only: it may read values
    the run derives (`num_classes` from the data)."""
    for path in recipe.train.metrics:
        if not names.is_builtin_metric(path) and is_torchmetric(import_object(path)):
            custom_metric(path, recipe)


def is_torchmetric(obj: Any) -> bool:
    """A torchmetrics Metric (or its class)? Asked without importing torchmetrics, which
    only user code that names one loads (its import costs a second)."""
    torchmetrics = sys.modules.get("torchmetrics")
    if torchmetrics is None:
        return False
    return (isinstance(obj, torchmetrics.Metric)
            or (isinstance(obj, type) and issubclass(obj, torchmetrics.Metric)))


def custom_metric(path: str, recipe: Any = None) -> Any:
    """A dotted path -> a torchmetrics Metric (made from its class or factory) or a plain
    `(outputs, targets) -> float` callable."""
    target = import_object(path)
    if is_torchmetric(target):
        try:
            return target() if isinstance(target, type) else target.clone()
        except Exception as exc:  # noqa: BLE001 - whatever its constructor raises, said
            raise ContractError(f"train.metrics: '{path}' cannot be made with no arguments "
                                f"({type(exc).__name__}: {exc}); name a factory (recipe) -> "
                                "Metric that passes them") from None
    try:
        required = [p for p in inspect.signature(target).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                             p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return target
    if len(required) == 1:  # a factory (recipe) -> Metric
        try:
            made = target(recipe)
        except Exception as exc:  # noqa: BLE001 - the user's factory: said, not a traceback
            raise ContractError(f"train.metrics: '{path}' cannot be made: the factory raised "
                                f"{type(exc).__name__}: {exc}") from None
        if not is_torchmetric(made) or isinstance(made, type):
            raise ContractError(f"train.metrics: '{path}' takes one argument, so it is a "
                                f"factory (recipe) -> torchmetrics.Metric, but it returned "
                                f"{type(made).__name__}")
        return made
    return target


class Means:
    """Running means of tensors: sums stay on the device, counts are host ints.

    Per-sample values (`add_values`: a built-in metric's hits or errors) wait in a list
    and are summed FOLD_EVERY batches at a time (sooner once they hold FOLD_SIZE values:
    dense outputs, like a segmentation's, are summed every batch), or when read: one
    reduction for many batches instead of two small kernels a batch (15 us a step of a
    small model on CPU).
    """

    FOLD_EVERY = 64
    FOLD_SIZE = 1 << 16

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self._waiting: dict[str, list[torch.Tensor]] = {}
        self._waiting_size: dict[str, int] = {}

    @property
    def sums(self) -> dict[str, torch.Tensor]:
        for key in list(self._waiting):
            self._fold(key)
        return self._sums

    def add_sum(self, key: str, total: torch.Tensor, count: int) -> None:
        """Add a sum over `count` samples: one in-place add on the device, no sync."""
        total = total.detach()
        acc = self._sums.get(key)
        if acc is None:  # a copy: never alias the caller's tensor
            self._sums[key] = total.to(_sum_dtype(total.device), copy=True)
        else:
            acc.add_(total)
        self.counts[key] = self.counts.get(key, 0) + count

    def add(self, key: str, mean: torch.Tensor, count: int = 1) -> None:
        """Add a mean over `count` samples."""
        self.add_sum(key, mean if count == 1 else mean.detach() * count, count)

    def add_values(self, key: str, values: torch.Tensor, count: int) -> None:
        """Add values whose sum is a sum over `count` samples, summed later: the caller
        made them and never changes them (they are not copied)."""
        waiting = self._waiting.setdefault(key, [])
        waiting.append(values)
        self.counts[key] = self.counts.get(key, 0) + count
        size = self._waiting_size[key] = self._waiting_size.get(key, 0) + values.numel()
        if len(waiting) >= self.FOLD_EVERY or size >= self.FOLD_SIZE:
            self._fold(key)

    def _fold(self, key: str) -> None:
        waiting = self._waiting.pop(key)
        del self._waiting_size[key]
        total = torch.cat([v.reshape(-1) for v in waiting]).sum(
            dtype=_sum_dtype(waiting[0].device))
        acc = self._sums.get(key)
        if acc is None:
            self._sums[key] = total
        else:
            acc.add_(total)

    def compute(self) -> dict[str, float]:
        """The means; one host sync for all of them (the only one)."""
        sums = self.sums
        if not sums:
            return {}
        keys = list(sums)
        values = torch.stack([sums[k] / max(self.counts[k], 1) for k in keys]).tolist()
        return dict(zip(keys, values, strict=True))

    def empty(self) -> bool:
        return not self._sums and not self._waiting

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.clone() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        self._sums = {k: v.to(device or v.device, copy=True) for k, v in state["sums"].items()}
        self.counts = dict(state["counts"])
        self._waiting, self._waiting_size = {}, {}


def _sum_dtype(device: torch.device) -> torch.dtype:
    """float64 sums (exact counts, no drift over long epochs); float32 on mps (no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64


class SplitMetrics:
    """Loss and the recipe's metrics over one pass of a split (or one train epoch)."""

    def __init__(self, metric_names: list[str], *, binary_output: str | None = None,
                 recipe: Any = None, whole_split: bool = True):
        self.binary_output = binary_output
        self.builtins = {n: builtin_metric(n) for n in metric_names if names.is_builtin_metric(n)}
        custom = {n.rsplit(".", 1)[-1]: custom_metric(n, recipe) for n in metric_names
                  if not names.is_builtin_metric(n)}
        self.metrics = {k: m for k, m in custom.items() if is_torchmetric(m)}
        # plain callables need the whole split's outputs: kept for val and test only
        self.callables = {k: f for k, f in custom.items()
                          if not is_torchmetric(f) and whole_split}
        self.means = Means()
        self.updates = dict.fromkeys(self.metrics, 0)  # batches each torchmetric has seen
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    @property
    def wants_predictions(self) -> bool:
        return bool(self.builtins or self.metrics or self.callables)

    def update(self, output: Any, targets: Any, loss: torch.Tensor | None, size: int) -> None:
        if loss is not None:
            self.means.add("loss", loss.float(), size)
        if not self.wants_predictions:
            return
        self._check(output, targets)
        output = output.detach()
        for name, fn in self.builtins.items():
            values, count = fn(output, targets, self.binary_output)
            self.means.add_values(name, values, count)
        for name, metric in self.metrics.items():
            if metric.device != output.device:
                metric.to(output.device)
            try:
                metric.update(output, targets)
                self.updates[name] += 1
            except (RuntimeError, ValueError, TypeError) as exc:
                raise ContractError(f"metric '{name}' cannot use the model's output "
                                    f"({_describe(output)}) and the targets "
                                    f"({_describe(targets)}): {exc}") from exc
        if self.callables:
            self.outputs.append(output)
            self.targets.append(targets.detach())

    def _check(self, output: Any, targets: Any) -> None:
        if isinstance(output, torch.Tensor) and isinstance(targets, torch.Tensor):
            return
        wanted = ", ".join([*self.builtins, *self.metrics, *self.callables])
        if not isinstance(output, torch.Tensor):
            kind = (f"a dict with keys {', '.join(map(str, output))}"
                    if isinstance(output, dict) else type(output).__name__)
            raise ContractError(f"train.metrics ({wanted}): the predictions are {kind}, not a "
                                "tensor; return a tensor from evaluation_step, name the dict "
                                "entry preds/logits/y_pred, or override "
                                "ModelWrapper.metric_inputs(output, batch)")
        if not isinstance(targets, torch.Tensor):
            raise ContractError(f"train.metrics ({wanted}): the batch has no targets (a dict "
                                "batch names them labels, targets, target or y; a tuple batch "
                                "ends with them), or override ModelWrapper.metric_inputs")

    def state_dict(self) -> dict[str, Any]:
        """The sums so far (a train epoch's, for a checkpoint): the built-ins' and every
        torchmetrics Metric's own state, so a resumed epoch ends with the same values."""
        return {"means": self.means.state_dict(),
                "metrics": {name: {"state": {k: _copied(v) for k, v in m.metric_state.items()},
                                   "updates": self.updates[name]}
                            for name, m in self.metrics.items()}}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        """The mirror of `state_dict` (a checkpoint of format 2 holds only the means)."""
        self.means.load_state_dict(state["means"] if "means" in state else state, device)
        for name, saved in state.get("metrics", {}).items():
            metric = self.metrics.get(name)
            if metric is None:
                continue
            for key, value in saved["state"].items():
                setattr(metric, key, _copied(value, device))
            self.updates[name] = int(saved["updates"])

    def compute(self) -> dict[str, float]:
        row = self.means.compute()
        for name, metric in self.metrics.items():
            if self.updates[name]:
                row[name] = _scalar(name, metric.compute())
        if self.callables and self.outputs:
            outputs, targets = torch.cat(self.outputs), torch.cat(self.targets)
            for name, fn in self.callables.items():
                row[name] = _scalar(name, fn(outputs, targets))
        return row


def _copied(value: Any, device: torch.device | None = None) -> Any:
    """A torchmetrics state (a tensor, or a list of them) copied, on `device` if given."""
    if isinstance(value, list):
        return [_copied(v, device) for v in value]
    return value.detach().to(device or value.device, copy=True)


def _scalar(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise ContractError(f"metric '{name}' returned a tensor shaped {list(value.shape)}, "
                            "not one number; configure it to reduce (e.g. average='macro')")
    return float(value)
