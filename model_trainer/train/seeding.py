"""Seeds and RNG states, so that a run is reproducible and a resumed run is identical.

Every epoch starts from a seed derived from (seed, epoch): the data order, dropout masks
and worker seeds of epoch k therefore do not depend on what ran before it, which is what
makes a resume from an epoch-boundary checkpoint match an uninterrupted run. Under DDP
each rank adds its rank to the streams it owns (dropout, augmentation in its loader
workers), so ranks do not repeat each other's masks; the data order stays one global
order that the ranks share out, and rank 0's streams are a single process's. RNG states
are stored as tensors and plain types so checkpoints load with `weights_only=True`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 63-bit seed for one epoch of one rank; distinct triples give distinct streams."""
    return (seed * 1_000_003 + epoch * 7_919 + 17 + rank * 104_729) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_epoch(loader: Any, seed: int, epoch: int, rank: int = 0) -> None:
    """Re-seed this rank's global RNGs and the loader's own generator(s) (the data order,
    the same on every rank) for `epoch`."""
    value = epoch_seed(seed, epoch, rank)
    random.seed(value)
    np.random.seed(value % 2**32)
    # the device the run uses has started by now: seed it directly (torch.manual_seed
    # also queues a call for CUDA that has not started, with a traceback: ~0.1 ms)
    torch.default_generator.manual_seed(value)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(value)
    order = epoch_seed(seed, epoch)
    for owner in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(order)
        set_epoch = getattr(owner, "set_epoch", None)
        if callable(set_epoch):  # DistributedSampler and friends
            set_epoch(epoch)


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn` for DataLoaders: seed numpy and python from torch's worker seed."""
    del worker_id
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


class RankWorkerSeed:
    """A `worker_init_fn` for rank > 0 of a DDP trial: the workers' torch, numpy and
    python streams move by the rank (torch derives them from the loader's generator,
    which every rank shares), then the user's own init function runs."""

    def __init__(self, rank: int, user_init: Any):
        self.rank, self.user_init = rank, user_init

    def __call__(self, worker_id: int) -> None:
        torch.manual_seed((torch.initial_seed() + self.rank * 104_729) % 2**63)
        seed_worker(worker_id)
        if self.user_init is not None and self.user_init is not seed_worker:
            self.user_init(worker_id)


def loader_generator(seed: int) -> torch.Generator:
    """A seeded generator for a DataLoader (re-seeded per epoch by `seed_epoch`)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA RNG states as tensors and plain types."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """The mirror of `rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
