"""Each rank's share of a DataLoader under `train.strategy: ddp`.

The user's `make_dataloader` (or `data.target`) returns an ordinary DataLoader whose
`batch_size` is the GLOBAL batch. `shard_loader` re-makes it on every rank: the same
dataset, collate_fn, workers and generator, and a `ShardSampler` over the loader's own
sampler, so the ranks draw the same global order (the same seeded permutation a single
process draws) and rank r takes items r, r+W, r+2W... in per-rank batches of
batch_size / W. One global step therefore sees the same samples as in a single process.

- train: the order is padded with its first items to a multiple of W (as
  DistributedSampler does), so every rank takes the same number of steps;
- val/test: no padding, so no sample is counted twice; ranks may get one batch fewer.
- a custom `sampler` is kept and sharded; a custom `batch_sampler` (batch_size None)
  is sharded by whole batches: one global step is then W of the user's batches.
- a loader that already has a DistributedSampler is left alone; an IterableDataset
  cannot be sharded here (it must shard itself) and is an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from torch.utils.data import BatchSampler, DataLoader, IterableDataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from model_trainer.errors import ShardError
from model_trainer.train.seeding import RankWorkerSeed

log = logging.getLogger("model_trainer.train")


class ShardSampler(Sampler):
    """Items rank, rank+W, ... of another sampler's order (padded to a multiple of W if `pad`)."""

    def __init__(self, inner: Any, rank: int, world: int, pad: bool):
        self.inner, self.rank, self.world, self.pad = inner, rank, world, pad

    def __iter__(self) -> Iterator[Any]:
        items = list(self.inner)  # the global order, drawn exactly as one process draws it
        if self.pad and items and len(items) % self.world:
            items += (items * self.world)[: self.world - len(items) % self.world]
        return iter(items[self.rank::self.world])

    def __len__(self) -> int:
        n = len(self.inner)
        return math.ceil(n / self.world) if self.pad else len(range(self.rank, n, self.world))

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.inner, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def shard_loader(loader: Any, flag: str, rank: int, world: int) -> Any:
    """`loader` re-made to yield this rank's share (see the module docstring)."""
    if world == 1 or loader is None:
        return loader
    if not isinstance(loader, DataLoader):
        raise ShardError(f"make_dataloader('{flag}') returned a {type(loader).__name__}; "
                         "train.strategy ddp re-makes the loader per rank and needs a "
                         "torch DataLoader")
    if isinstance(loader.sampler, DistributedSampler | ShardSampler):
        return loader  # already split by the user
    if isinstance(loader.dataset, IterableDataset):
        raise ShardError(f"the '{flag}' loader has an IterableDataset, which train.strategy ddp "
                         "cannot split; use a map-style dataset (__len__ and __getitem__), or "
                         "shard inside the dataset and give every rank the same number of batches")
    pad = flag == "train"
    if loader.batch_size is None:  # the user's own batch_sampler: shard whole batches
        log.warning("the '%s' loader has a custom batch_sampler: each of the %s ranks takes "
                    "whole batches, so one step covers %s of them", flag, world, world)
        batch_sampler: Any = ShardSampler(loader.batch_sampler, rank, world, pad)
    else:
        if pad and loader.batch_size % world:
            raise ShardError(f"the train loader's batch_size {loader.batch_size} (the global "
                             f"batch) is not divisible by train.devices={world}")
        per_rank = loader.batch_size // world if pad else math.ceil(loader.batch_size / world)
        batch_sampler = BatchSampler(ShardSampler(loader.sampler, rank, world, pad), per_rank,
                                     loader.drop_last)
    options: dict[str, Any] = {
        "batch_sampler": batch_sampler, "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn, "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": RankWorkerSeed(rank, loader.worker_init_fn) if rank else
        loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": loader.generator, "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    return DataLoader(loader.dataset, **options)
