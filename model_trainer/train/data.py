"""Batches: device copies, calling the model, finding the targets; a seeded DataLoader.

Batch conventions (the model's `forward` returns `(output, loss)`):
- a dict batch is passed as keyword arguments: `model(**batch)`; its targets are the
  first of the keys `labels`, `targets`, `target`, `y` that it has;
- a tuple or list batch is passed positionally: `model(*batch)` (so `(x, y)` calls
  `forward(x, y)`); its targets are its last element;
- anything else (one tensor) is passed as `model(batch)` and has no targets.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.utils.data import DataLoader

from model_trainer.errors import BatchError
from model_trainer.train.seeding import loader_generator, seed_worker

TARGET_KEYS = ("labels", "targets", "target", "y")


def to_device(batch: Any, device: torch.device, non_blocking: bool = False,
              channels_last: bool = False) -> Any:
    """Move every tensor in a (nested) batch to `device` (4-d ones, images, in the
    channels_last memory format when asked)."""
    if isinstance(batch, torch.Tensor):
        if channels_last and batch.dim() == 4:
            return batch.to(device, non_blocking=non_blocking,
                            memory_format=torch.channels_last)
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking, channels_last) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device, non_blocking, channels_last) for v in batch)
    return batch


def call_model(model: torch.nn.Module, batch: Any) -> Any:
    """Run the model on a batch (what it returns is checked by the caller, once)."""
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, list | tuple):
        return model(*batch)
    return model(batch)


def batch_targets(batch: Any) -> Any:
    """The targets of a batch by the conventions above, or None."""
    if isinstance(batch, dict):
        return next((batch[k] for k in TARGET_KEYS if k in batch), None)
    if isinstance(batch, list | tuple) and len(batch) >= 2:
        return batch[-1]
    return None


def batch_size(batch: Any) -> int:
    """Samples in a batch: the length of its first tensor (1 when it has none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    values = batch.values() if isinstance(batch, dict) else batch
    if isinstance(values, list | tuple) or isinstance(batch, dict):
        for value in values:
            if isinstance(value, torch.Tensor) and value.dim():
                return int(value.shape[0])
    return 1


def check_batch_keys(model: torch.nn.Module, batch: Any) -> None:
    """A dict batch's keys must be the parameters of `model.forward`; else name both sets."""
    if not isinstance(batch, dict):
        return
    module = getattr(model, "module", model)  # DDP / DataParallel
    module = getattr(module, "_orig_mod", module)  # torch.compile
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [n for n in accepted if params[n].default is inspect.Parameter.empty]
    unexpected = [k for k in batch if k not in accepted]
    missing = [n for n in required if n not in batch]
    if unexpected or missing:
        problems = []
        if unexpected:
            problems.append(f"forward has no parameter {', '.join(map(repr, unexpected))}")
        if missing:
            problems.append(f"the batch lacks {', '.join(map(repr, missing))}")
        raise BatchError(
            f"the batch's keys ({', '.join(batch)}) do not match "
            f"{type(module).__name__}.forward's parameters ({', '.join(accepted)}): "
            f"{'; '.join(problems)}")


def make_loader(dataset: Any, config: Any, flag: str, *, batch_size: int | None = None,
                shuffle: bool | None = None, **kwargs: Any) -> DataLoader:
    """A DataLoader that follows the recipe: batch size, workers, seeded order, pinned memory.

    `shuffle` defaults to True for the train split only. The generator is re-seeded per
    epoch by the loop, and `seed_worker` seeds numpy/python inside worker processes.
    """
    cuda = config.device != "cpu" and torch.cuda.is_available()
    options: dict[str, Any] = {
        "batch_size": batch_size or config.train.batch_size,
        "shuffle": flag == "train" if shuffle is None else shuffle,
        "num_workers": config.data.num_workers,
        "worker_init_fn": seed_worker,
        "generator": loader_generator(config.seed),
        "pin_memory": cuda,
    }
    options.update(kwargs)
    loader = DataLoader(dataset, **options)
    # the recipe alone decided it: data_cache.py may make it again around the same dataset
    loader.made_from_recipe = batch_size is None and shuffle is None and not kwargs
    return loader
