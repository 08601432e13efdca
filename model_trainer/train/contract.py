"""What user code hands the loop is checked where it enters, once, with a clear error.

A factory, `forward` or a hook that returns the wrong kind of thing is a ContractError
(exit 2) naming the function, what it returned and what was expected, at set-up or on
the first batch, instead of a TypeError from deep inside torch later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from model_trainer.errors import BatchError, ContractError


def describe(value: Any) -> str:
    """`int 5`, `str 'fast'`, `Tensor float32 [16, 3]`: a value's kind, short."""
    if isinstance(value, torch.Tensor):
        return f"a tensor ({str(value.dtype).removeprefix('torch.')} {list(value.shape)})"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def check_loader(loader: Any, flag: str) -> Any:
    """make_dataloader(flag) must give an iterable of batches (None: no such split)."""
    if loader is None:
        if flag == "train":
            raise ContractError("make_dataloader('train') returned None: a run needs train "
                                "data (check data.target)")
        return None
    if isinstance(loader, str | bytes | dict) or not isinstance(loader, Iterable):
        raise ContractError(f"make_dataloader('{flag}') (data.target) returned "
                            f"{describe(loader)}; expected an iterable of batches, such as a "
                            "torch DataLoader, or None for no such split")
    try:
        empty = len(loader) == 0
    except TypeError:  # an iterable without a length: found out when it is read
        empty = False
    if empty:
        raise no_batches(flag)
    return loader


def no_batches(flag: str) -> ContractError:
    """A split that yields nothing: a run would end with no figure of it, or none at all."""
    return ContractError(f"the {flag} loader (make_dataloader('{flag}'), data.target) has no "
                         "batches: its dataset is empty, or smaller than a batch with "
                         "drop_last; return None for a split the data does not have")


def check_model(model: Any) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise ContractError(f"make_model() (model.target) returned {describe(model)}; "
                            "expected a torch.nn.Module")
    return model


def check_optimizers(optimizers: list[Any]) -> None:
    bad = [o for o in optimizers if not isinstance(o, torch.optim.Optimizer)]
    if bad or not optimizers:
        what = describe(bad[0]) if bad else "nothing"
        raise ContractError(f"make_optimizer(model) returned {what}; expected a "
                            "torch.optim.Optimizer, or a list/tuple/dict of them")


def check_batch(batch: Any, where: str) -> None:
    if not isinstance(batch, torch.Tensor | dict | list | tuple):
        raise BatchError(f"the {where} loader yielded {describe(batch)}; expected a "
                            "batch: a tensor, a dict of tensors or a tuple of tensors")


def check_forward(model: Any, result: Any) -> tuple[Any, Any]:
    """forward must return (output, loss) with loss a scalar tensor or None."""
    name = f"{type(model).__name__}.forward"
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise BatchError(f"{name} must return (output, loss), where loss may be None; it "
                         f"returned {describe(result)}")
    loss = result[1]
    if loss is not None and not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
        raise BatchError(f"{name} returned {describe(loss)} as the loss; expected a scalar "
                         "tensor (reduce it, e.g. .mean()) or None")
    return result[0], loss


def check_step_outputs(outputs: Any) -> None:
    if outputs is not None and not isinstance(outputs, dict):
        raise ContractError(f"train_step returned {describe(outputs)}; expected a dict of "
                            "tensors to log (such as {'loss': loss.detach()}) or None")


def check_evaluation(result: Any) -> None:
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise ContractError(f"evaluation_step returned {describe(result)}; expected "
                            "(output, loss), where loss may be None")


def check_custom_evaluation(row: Any, flag: str) -> dict[str, float]:
    if row is None:
        return {}
    if not isinstance(row, dict):
        raise ContractError(f"custom_evaluation('{flag}') returned {describe(row)}; "
                            "expected a dict of metric name -> number")
    try:
        return {k: float(v) for k, v in row.items()}
    except (TypeError, ValueError):
        bad = next(k for k, v in row.items() if not _number(v))
        raise ContractError(f"custom_evaluation('{flag}') returned {describe(row[bad])} for "
                            f"'{bad}'; expected a number") from None


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
