"""Checkpoints: save and load are mirror functions; files are written atomically.

`checkpoints/last.pt` is the newest state; the one it replaced is kept as `last.prev.pt`,
so a truncated or corrupt newest file falls back to the previous good one with a warning
(never a silent restart from zero). `best.pt` holds the state at the best monitor value.
The model is saved unwrapped (no DDP `module.` prefix), so a checkpoint written under
`train.strategy: ddp` loads in a single process and the other way round.
Files load with `torch.load(weights_only=True)`: RNG states are stored as tensors and
plain types. Set MTRAIN_TRUST_CHECKPOINTS=1 to load with weights_only=False (for a
wrapper that stores other objects) - only for files you trust, since that unpickles code.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from model_trainer.errors import CheckpointError
from model_trainer.files import TEMP_SUFFIX, atomic_write, fsync_dir
from model_trainer.layout import BEST_CHECKPOINT as BEST
from model_trainer.layout import LAST_CHECKPOINT as LAST
from model_trainer.layout import PREVIOUS_CHECKPOINT as PREVIOUS
from model_trainer.train.distributed import unwrap
from model_trainer.train.optim import each
from model_trainer.train.seeding import rng_state, set_rng_state
from model_trainer.train.state import TrainState

if TYPE_CHECKING:
    from model_trainer.train.loop import Loop

TRUST_ENV = "MTRAIN_TRUST_CHECKPOINTS"
FORMAT = 1

log = logging.getLogger("model_trainer.train")


def capture(loop: Loop) -> dict[str, Any]:
    """Everything a resumed run needs: the wrapper's model, optimizers, schedulers and
    scaler, the RNG states and the loop's own state."""
    w = loop.w
    return {
        "format": FORMAT,
        "model": unwrap(w.model).state_dict() if w.model is not None else None,
        "optimizers": [o.state_dict() for o in each(w.optimizer)],
        "schedulers": [s.state_dict() for s in each(w.scheduler)],
        "scaler": w.scaler.state_dict() if w.scaler is not None else None,
        "rng": rng_state(),
        "loop": loop.state.to_dict(),
        "means": loop.epoch_means.state_dict(),
        "extra": w.checkpoint_extra(),
    }


def restore(loop: Loop, state: dict[str, Any]) -> None:
    """The mirror of `capture`."""
    w = loop.w
    if state.get("model") is not None and w.model is not None:
        unwrap(w.model).load_state_dict(state["model"])
    for optimizer, saved in zip(each(w.optimizer), state.get("optimizers", []), strict=False):
        optimizer.load_state_dict(saved)
    for scheduler, saved in zip(each(w.scheduler), state.get("schedulers", []), strict=False):
        scheduler.load_state_dict(saved)
    if state.get("scaler") and w.scaler is not None:
        w.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    loop.resume_rng = state["rng"]  # re-applied after a mid-epoch resume skips its batches
    loop.state = TrainState.from_dict(state["loop"])
    loop.epoch_means.load_state_dict(state["means"], w.device)
    w.load_checkpoint_extra(state.get("extra"))


def save_last(folder: Path, state: dict[str, Any]) -> Path:
    """Write `last.pt` atomically, keeping the file it replaces as `last.prev.pt`."""
    last = folder / LAST
    if last.exists():  # a crash right after this leaves last.prev.pt: load_latest takes it
        os.replace(last, folder / PREVIOUS)
    atomic_write(last, lambda handle: handle.write(_serialize(state)))
    return last


def save_best(folder: Path, state: dict[str, Any]) -> Path:
    """Write `best.pt` atomically."""
    atomic_write(folder / BEST, lambda handle: handle.write(_serialize(state)))
    return folder / BEST


def link_best(folder: Path) -> Path:
    """Make `best.pt` the file `last.pt` is now (a hard link, atomically; a copy where the
    file system has no hard links)."""
    best, tmp = folder / BEST, folder / f".{BEST}.link{TEMP_SUFFIX}"
    tmp.unlink(missing_ok=True)
    try:
        os.link(folder / LAST, tmp)
    except OSError:
        data = (folder / LAST).read_bytes()
        atomic_write(best, lambda handle: handle.write(data))
        return best
    os.replace(tmp, best)
    fsync_dir(folder)
    return best


def _serialize(state: dict[str, Any]) -> bytes:
    """torch.save into memory, then one write: several times faster than its many small
    writes to a file (a checkpoint per epoch is on the training's critical path)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_file(path: Path) -> dict[str, Any]:
    """One checkpoint file, weights_only unless MTRAIN_TRUST_CHECKPOINTS=1."""
    trusted = os.environ.get(TRUST_ENV) == "1"
    state = torch.load(path, map_location="cpu", weights_only=not trusted)
    if not isinstance(state, dict) or "loop" not in state:
        raise ValueError("not a model_trainer checkpoint")
    return state


def load_latest(folder: Path) -> dict[str, Any] | None:
    """The newest loadable checkpoint; None when there is none; CheckpointError when none loads."""
    candidates = [folder / name for name in (LAST, PREVIOUS) if (folder / name).exists()]
    if not candidates:
        return None
    failures = []
    for path in candidates:
        try:
            state = load_file(path)
        except Exception as exc:  # truncated, corrupt, or not ours
            failures.append(f"{path.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        if failures:
            log.warning("checkpoint %s cannot be loaded (%s); resuming from the previous one, "
                        "%s (epoch %s, step %s)", candidates[0], failures[0], path.name,
                        state["loop"].get("epoch"), state["loop"].get("global_step"))
        return state
    raise CheckpointError(f"no checkpoint in {folder} can be loaded ({'; '.join(failures)}); "
                          "pass --force to restart this experiment from scratch")
