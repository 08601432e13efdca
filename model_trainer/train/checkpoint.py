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
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from model_trainer.errors import CheckpointError, first_line
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
FORMAT = 3  # 2: per-rank RNG states, the log window, train metrics; 3: torchmetrics states

log = logging.getLogger("model_trainer.train")


def capture(loop: Loop, rank_rngs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything a resumed run needs: the wrapper's model, optimizers, schedulers and
    scaler, every rank's RNG states and the loop's own state."""
    w = loop.w
    rngs = rank_rngs or [rng_state()]
    return {
        "format": FORMAT,
        "model": unwrap(w.model).state_dict() if w.model is not None else None,
        "optimizers": [o.state_dict() for o in each(w.optimizer)],
        "schedulers": [s.state_dict() for s in each(w.scheduler)],
        "scaler": w.scaler.state_dict() if w.scaler is not None else None,
        "rng": rngs[0],
        "rank_rng": rngs,
        "loop": loop.state.to_dict(),
        "means": {"epoch": loop.epoch_means.state_dict(), "window": loop.window.state_dict(),
                  "train_metrics": loop.train_metrics.state_dict()},
        "extra": w.checkpoint_extra(),
        "callbacks": [c.on_checkpoint_save(w) for c in w.callbacks],
    }


def restore(loop: Loop, state: dict[str, Any], rank: int = 0, world: int = 1) -> None:
    """The mirror of `capture`, strict: every saved optimizer and scheduler must find its
    counterpart and the model's keys and shapes must match (ValueError saying which)."""
    w = loop.w
    loop_state = _loop_state(state.get("loop"))
    _check_count("optimizer", state.get("optimizers", []), list(each(w.optimizer)))
    _check_count("scheduler", state.get("schedulers", []), list(each(w.scheduler)))
    if state.get("model") is not None and w.model is not None:
        try:
            unwrap(w.model).load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(f"the model does not match it: {first_line(exc)}") from None
    for optimizer, saved in zip(each(w.optimizer), state["optimizers"], strict=True):
        optimizer.load_state_dict(saved)
    for scheduler, saved in zip(each(w.scheduler), state.get("schedulers", []), strict=True):
        scheduler.load_state_dict(saved)
    if state.get("scaler") and w.scaler is not None:
        w.scaler.load_state_dict(state["scaler"])
    rngs = state.get("rank_rng") or [state["rng"]]
    mine = rngs[rank] if len(rngs) == world or rank == 0 else None  # a new rank: fresh streams
    if mine is not None:
        set_rng_state(mine)
    loop.resume_rng = mine  # re-applied after a mid-epoch resume skips its batches
    loop.state = loop_state
    means = state["means"] if "epoch" in state.get("means", {}) else {"epoch": state["means"]}
    loop.epoch_means.load_state_dict(means["epoch"], w.device)
    if "window" in means:
        loop.window.load_state_dict(means["window"], w.device)
    if "train_metrics" in means:
        loop.train_metrics = loop.split_metrics(whole_split=False)
        loop.train_metrics.load_state_dict(means["train_metrics"], w.device)
    w.load_checkpoint_extra(state.get("extra"))
    for callback, saved in zip(w.callbacks, state.get("callbacks") or [], strict=False):
        callback.on_checkpoint_load(w, saved)


def _check_count(what: str, saved: list[Any], present: list[Any]) -> None:
    if len(saved) != len(present):
        raise ValueError(f"it holds {len(saved)} {what} state(s) but the wrapper has "
                         f"{len(present)} {what}(s) (make_{what} changed?)")


def _loop_state(data: Any) -> TrainState:
    """The saved loop state, checked: counts are non-negative whole numbers."""
    if not isinstance(data, dict):
        raise ValueError("it holds no loop state")
    state = TrainState.from_dict(data)
    for name in ("epoch", "global_step", "batch_in_epoch", "bad_evals"):
        value = getattr(state, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"its loop state has {name}={value!r}")
    return state


def resume(loop: Loop, folder: Path, rank: int = 0, world: int = 1) -> Path | None:
    """Restore the newest checkpoint that loads and fits; None when there is none.

    A file that does not load, or loads but does not fit the wrapper (other shapes, other
    optimizers, an impossible loop state), is passed over for the previous one with a
    warning; CheckpointError (exit 2) when none is left."""
    candidates = [folder / name for name in (LAST, PREVIOUS) if (folder / name).exists()]
    if not candidates:
        return None
    failures = []
    for path in candidates:
        try:
            restore(loop, load_file(path), rank, world)
        except Exception as exc:  # truncated, corrupt, not ours, or not this experiment's
            failures.append(f"{path.name}: {_problem(exc)}")
            continue
        if failures:
            log.warning("checkpoint %s cannot be used (%s); resuming from the previous one, "
                        "%s (epoch %s, step %s)", candidates[0], failures[0], path.name,
                        loop.state.epoch, loop.state.global_step)
        return path
    raise CheckpointError(f"no checkpoint in {folder} can be used ({'; '.join(failures)}); "
                          "pass --force to restart this experiment from scratch")


def _problem(exc: Exception) -> str:
    """A short, safe reason: never torch's advice to load with weights_only=False."""
    text = str(exc)
    if "weights_only" in text or "eights only load failed" in text:
        return (f"it holds objects other than tensors and plain types, which model_trainer "
                f"does not unpickle (set {TRUST_ENV}=1 only for files you made yourself)")
    if isinstance(exc, ValueError) and not isinstance(exc, pickle.UnpicklingError):
        return text
    return f"{type(exc).__name__}: {first_line(exc, 200)}"


def save_last(folder: Path, data: bytes, weights: bytes | None = None) -> Path:
    """Write `last.pt` (serialized) atomically, keeping the file it replaces as
    `last.prev.pt`; then `weights` (safetensors) as `last.safetensors`."""
    last = folder / LAST
    folder.mkdir(exist_ok=True)  # checkpoints/, in a trial folder that must still exist
    if last.exists():  # a crash right after this leaves last.prev.pt: resume takes it
        os.replace(last, folder / PREVIOUS)
    atomic_write(last, lambda handle: handle.write(data), make_folder=False)
    if weights is not None:
        atomic_write(folder / weights_name(LAST), lambda handle: handle.write(weights))
    return last


def save_best(folder: Path, data: bytes, weights: bytes | None = None) -> Path:
    """Write `best.pt` (serialized) atomically; then `weights` as `best.safetensors`."""
    folder.mkdir(exist_ok=True)
    atomic_write(folder / BEST, lambda handle: handle.write(data), make_folder=False)
    if weights is not None:
        atomic_write(folder / weights_name(BEST), lambda handle: handle.write(weights))
    return folder / BEST


def link_best(folder: Path, weights: bool = False) -> Path:
    """Make `best.pt` (and `best.safetensors`) the file `last.pt` (`last.safetensors`) is."""
    if weights:
        link_last(folder, weights_name(BEST), source=weights_name(LAST))
    return link_last(folder, BEST)


def weights_name(checkpoint_name: str) -> str:
    """`last.pt` -> `last.safetensors`: where train.checkpoint.format writes its weights."""
    return checkpoint_name.removesuffix(".pt") + ".safetensors"


def serialize_weights(state: dict[str, Any]) -> bytes:
    """The checkpoint's model weights in the safetensors format: contiguous, and a copy of
    each name after the first that shares memory with another (tied weights: safetensors
    refuses shared tensors), so every name of the state dict loads back."""
    from safetensors.torch import save

    seen: set[int] = set()
    weights = {}
    for name, tensor in state["model"].items():
        place = tensor.untyped_storage().data_ptr()
        weights[name] = tensor.contiguous() if place not in seen \
            else tensor.clone(memory_format=torch.contiguous_format)
        seen.add(place)
    return save(weights)


def link_last(folder: Path, name: str, source: str = LAST) -> Path:
    """Make `folder/name` the file `source` (last.pt) is now (a hard link, atomically; a
    copy where the file system has no hard links)."""
    target, tmp = folder / name, folder / f".{name}.link{TEMP_SUFFIX}"
    tmp.unlink(missing_ok=True)
    try:
        os.link(folder / source, tmp)
    except OSError:
        data = (folder / source).read_bytes()
        atomic_write(target, lambda handle: handle.write(data))
        return target
    os.replace(tmp, target)
    fsync_dir(folder)
    return target


def snapshot(value: Any, into: Any = None) -> Any:
    """A copy of a captured state whose tensors are on the CPU and no longer shared with
    the live model and optimizer (the next step changes those), so that it can be
    serialized later, off the training thread. A CPU copy, never a GPU one: a checkpoint
    must not cost device memory. `into`: an earlier snapshot of the same state, owned by
    the caller, whose tensors are copied into where shape and dtype match (no new memory)."""
    if isinstance(value, torch.Tensor):
        if (isinstance(into, torch.Tensor) and into.shape == value.shape
                and into.dtype == value.dtype):
            return into.copy_(value.detach())
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        earlier = into if isinstance(into, dict) else {}
        return {k: snapshot(v, earlier.get(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        earlier = into if isinstance(into, list | tuple) and len(into) == len(value) \
            else [None] * len(value)
        return type(value)(snapshot(v, e) for v, e in zip(value, earlier, strict=True))
    return value


def serialize(state: dict[str, Any]) -> bytes:
    """torch.save into memory, to be written in one piece (many times faster than
    torch.save's many small writes to a file)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_file(path: Path) -> dict[str, Any]:
    """One checkpoint file, weights_only unless MTRAIN_TRUST_CHECKPOINTS=1; ValueError
    when it is not a model_trainer checkpoint of a format this version reads."""
    trusted = os.environ.get(TRUST_ENV) == "1"
    state = torch.load(path, map_location="cpu", weights_only=not trusted)
    if not isinstance(state, dict) or "loop" not in state:
        raise ValueError("not a model_trainer checkpoint")
    if state.get("format") not in range(1, FORMAT + 1):
        raise ValueError(f"checkpoint format {state.get('format')!r}; this version reads "
                         f"formats 1 to {FORMAT}")
    return state
