"""Data parallelism inside one trial: the process group, the DDP model, reductions over ranks.

Every helper is the identity (or a no-op) when no process group is initialized, so the
loop has one code path: a single process is world size 1. Under `train.strategy: ddp`
each rank trains on its share of every global batch; gradients are averaged over the
ranks (by DDP's backward hooks when the step called the wrapped model, else by
`average_gradients` in `optimizer_step`), so all ranks hold the same parameters.
Evaluation sums and counts, train-metric windows and the loop's stop decisions are
reduced or broadcast, so every rank logs the same numbers and stops at the same step.
Collectives run only at log points, evaluations and epoch ends, never per step.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from model_trainer.train.metrics import Means, SplitMetrics
from model_trainer.train.state import TrainState

TIMEOUT_ENV = "MTRAIN_DDP_TIMEOUT_S"  # collectives that wait longer than this fail, never hang
DEFAULT_TIMEOUT_S = 600.0


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def init(rank_: int, world: int, port: int, device_type: str) -> None:
    """Join the trial's process group on 127.0.0.1 (NCCL on CUDA, gloo on CPU)."""
    if device_type == "cuda":
        torch.cuda.set_device(rank_)  # ranks see the trial's GPUs (CUDA_VISIBLE_DEVICES)
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo",
                            init_method=f"tcp://127.0.0.1:{port}", rank=rank_, world_size=world,
                            timeout=timeout)


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """Rank r trains on cuda:r (of the GPUs it sees); CPU ranks share the CPU."""
    return torch.device("cuda", rank()) if active() and device.type == "cuda" else device


class DataParallelModel(DistributedDataParallel):
    """DDP that passes other attributes to the user's module (`self.model.generator`).

    It records whether a forward will reduce gradients in the next backward, so that
    `average_gradients` averages only the steps that bypassed the wrapper's forward.
    """

    reduces_grads = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if torch.is_grad_enabled() and self.require_backward_grad_sync:
            self.__dict__["reduces_grads"] = True
        return super().forward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            module = self.__dict__.get("_modules", {}).get("module")
            if module is None:
                raise
            return getattr(module, name)


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around `model` under a process group (broadcasts rank 0's weights); else `model`."""
    if not active():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DataParallelModel(model, device_ids=ids)


def unwrap(model: Any) -> Any:
    """The user's own module, inside DDP and torch.compile (what checkpoints save and load:
    plain state_dict keys, no `module.` or `_orig_mod.`)."""
    model = without_ddp(model)
    return getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule


def without_ddp(model: Any) -> Any:
    return model.module if isinstance(model, DistributedDataParallel) else model


_NO_CONTEXT = contextlib.nullcontext()


def step_context(model: Any, sync: bool) -> contextlib.AbstractContextManager:
    """One train batch: DDP skips the gradient all-reduce on non-update micro-batches;
    in a single process a shared no-op context (this runs on every step)."""
    if not isinstance(model, DataParallelModel):
        return _NO_CONTEXT
    model.__dict__["reduces_grads"] = False
    return _NO_CONTEXT if sync else model.no_sync()


@contextlib.contextmanager
def unwrapped(wrapper: Any) -> Iterator[None]:
    """Evaluate with the plain module: no DDP collectives, so ranks may see unequal batches."""
    model = wrapper.model
    wrapper.model = without_ddp(model)  # compiled, when train.compile
    try:
        yield
    finally:
        wrapper.model = model


def average_gradients(model: Any, optimizers: Iterable[Any]) -> None:
    """Average the optimizers' gradients over ranks unless DDP's backward already did.

    A custom `train_step` that calls submodules (a GAN's `self.model.discriminator(x)`)
    bypasses DDP's forward; its gradients are averaged here, one all-reduce per call.
    Every rank must run the same code, so the same parameters have gradients.
    """
    if not active() or getattr(model, "reduces_grads", False):
        return
    grads = [p.grad for opt in optimizers for group in opt.param_groups for p in group["params"]
             if p.grad is not None]
    by_kind: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for grad in grads:
        by_kind.setdefault((grad.dtype, grad.device), []).append(grad)
    world = world_size()
    for group in by_kind.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for grad in group:
            grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
            offset += grad.numel()


def reduced_means(means: Means) -> Means:
    """A copy of `means` with sums and counts added over ranks (the global means)."""
    if not active():
        return means
    keys = _union_keys(means.sums)
    if not keys:
        return means
    device = next(iter(means.sums.values())).device if means.sums else _comm_device()
    table = torch.zeros(len(keys), 2, dtype=torch.float64, device=device)
    for i, key in enumerate(keys):
        if key in means.sums:
            table[i, 0] = means.sums[key].to(device)
            table[i, 1] = float(means.counts[key])
    dist.all_reduce(table)
    out = Means()
    counts = table[:, 1].tolist()  # the host sync the caller's compute() would make anyway
    for i, key in enumerate(keys):
        out.sums[key], out.counts[key] = table[i, 0], int(counts[i])
    return out


def merge_split(metrics: SplitMetrics) -> None:
    """Make a rank's SplitMetrics the whole split's: sums reduced, custom outputs gathered.

    Each rank evaluated every `world`-th sample (unpadded), so no sample counts twice;
    custom-metric outputs are re-interleaved into the loader's order.
    """
    if not active():
        return
    metrics.means = reduced_means(metrics.means)  # torchmetrics Metrics sync themselves
    if not metrics.callables:
        return
    mine = ((torch.cat(metrics.outputs).cpu(), torch.cat(metrics.targets).cpu())
            if metrics.outputs else None)
    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, mine)
    present = [p for p in parts if p is not None]
    if not present:
        return
    metrics.outputs = [_interleave([p[0] for p in present])]
    metrics.targets = [_interleave([p[1] for p in present])]


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is True on any (one small all-reduce)."""
    if not active():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=_comm_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier() -> None:
    """Wait for every rank (a no-op in one process)."""
    if active():
        dist.barrier()


def gather(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (one collective; `[obj]` in one process)."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def sync_state(state: TrainState) -> None:
    """Rank 0's loop state (best, early-stopping count, pruned) on every rank, in place."""
    if not active():
        return
    box = [state.to_dict() if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    for key, value in box[0].items():
        setattr(state, key, value)


def _union_keys(sums: dict[str, Any]) -> list[str]:
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, sorted(sums))
    return sorted({k for keys in gathered for k in keys})


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")


def _interleave(parts: list[torch.Tensor]) -> torch.Tensor:
    """Rank r held samples r, r+W, r+2W...: put them back in that order."""
    total = sum(len(p) for p in parts)
    out = parts[0].new_empty((total, *parts[0].shape[1:]))
    for offset, part in enumerate(parts):
        out[offset::len(parts)] = part
    return out
