"""One rank of a trial: build the wrapper, resume it, fit it, and say how it ended.

`train_rank` runs in the trial's own process (world size 1) or in each rank's process
(DDP); either way it returns a `RankOutcome` and never raises, so the trial handles one
shape of result. Rank 0 alone writes files and shows progress.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.layout import CHECKPOINTS, METRICS, RECIPE
from model_trainer.metrics_file import truncate_rows
from model_trainer.recipe.resolve import import_object
from model_trainer.train import checkpoint, determinism, distributed
from model_trainer.train.device import resolve_device
from model_trainer.train.hook_checks import check_hooks
from model_trainer.train.loop import Loop
from model_trainer.train.reporting import OnEval, Session
from model_trainer.train.stopping import stop_reason
from model_trainer.trial.launch import RankOutcome
from model_trainer.trial.progress import make_display
from model_trainer.trial.rerun import write_recipe
from model_trainer.trial.session import TrialSession
from model_trainer.trial.signals import graceful_stop, reason_of
from model_trainer.trial.status_record import ErrorRecord, TrialStatus
from model_trainer.trial.trackers import make_trackers
from model_trainer.vocabulary import StopReason, TrialState
from model_trainer.wrapper import ModelWrapper

log = logging.getLogger("model_trainer.train")


@dataclass
class RankJob:
    """What every rank needs to train the trial (plain data, plus rank 0's on_eval)."""

    recipe: Any
    folder: Path
    display: str
    smoke: bool
    resume: bool
    status: TrialStatus
    on_eval: OnEval | None


def train_rank(rank: int, world: int, port: int | None, job: RankJob) -> RankOutcome:
    """Build, resume and fit the wrapper on one rank; see the module docstring."""
    if world > 1:
        distributed.init(rank, world, port, resolve_device(job.recipe.device).type)
    session = _session(job, rank == 0)
    outcome = None
    try:
        outcome = _fit(rank, job, session)
        return outcome
    finally:
        session.close(end_state(outcome))
        distributed.shutdown()


def _fit(rank: int, job: RankJob, session: Session) -> RankOutcome:
    recipe, main = job.recipe, rank == 0
    wrapper: Any = None
    try:
        wrapper = import_object(recipe.wrapper)(recipe)
        check_hooks(wrapper)  # before any data is loaded or any batch runs
        wrapper.loop.session = session
        wrapper.setup()
        if main:
            write_recipe(job.folder / RECIPE, recipe)
        if job.resume:
            resume(wrapper.loop, job.folder, main)
        session.display.start(recipe.name, recipe.train.epochs, wrapper.steps_per_epoch(),
                              wrapper.state.epoch)
        builtin_loop = type(wrapper).fit is ModelWrapper.fit  # a custom fit() cannot pause
        with graceful_stop(wrapper.loop) if builtin_loop else contextlib.nullcontext():
            wrapper.fit()
        session.flush()  # every checkpoint on disk before the outcome is reported
        reason = wrapper.state.stop_reason
        if reason in (StopReason.INTERRUPTED, StopReason.TERMINATED):
            return RankOutcome(rank, wrapper.state.to_dict(), interrupted=reason, saved=main)
        if reason is None:  # a custom fit() that did not name one
            wrapper.state.stop_reason = stop_reason(wrapper.state, recipe, job.smoke) or \
                StopReason.EPOCHS_REACHED
        return RankOutcome(rank, wrapper.state.to_dict())
    except KeyboardInterrupt as interrupt:  # at once: the last checkpoint stands
        return RankOutcome(rank, _state(wrapper), interrupted=reason_of(interrupt))
    except BaseException as exc:  # SystemExit too: a hook calling sys.exit() is a failure
        error = determinism.explain(exc, recipe.train.deterministic)
        return RankOutcome(rank, _state(wrapper), error=ErrorRecord.of(error))


def end_state(outcome: RankOutcome | None) -> TrialState:
    """How this rank's part of the trial ended, in the trial's words."""
    if outcome is None or outcome.error is not None:
        return TrialState.FAILED
    if outcome.interrupted:
        return TrialState.INTERRUPTED
    reason = (outcome.state or {}).get("stop_reason")
    if reason == StopReason.DIVERGED:
        return TrialState.FAILED
    return TrialState.PRUNED if reason == StopReason.PRUNED else TrialState.COMPLETED


def _session(job: RankJob, main: bool) -> Session:
    if not main:
        session = Session(job.folder / CHECKPOINTS)
        session.smoke = job.smoke
        return session
    recipe = job.recipe
    trackers = [] if job.smoke else make_trackers(recipe.train.loggers, job.folder, recipe,
                                                  job.status)
    session = TrialSession(job.folder, job.status, display=make_display(job.display, job.smoke),
                           on_eval=job.on_eval, smoke=job.smoke, trackers=trackers)
    session.weights_format = recipe.train.checkpoint.format
    return session


def _state(wrapper: Any) -> dict[str, Any] | None:
    return wrapper.state.to_dict() if wrapper is not None else None


def resume(loop: Loop, folder: Path, main: bool = True) -> None:
    """Continue from the newest loadable checkpoint; metrics rows after it are dropped.

    Every rank loads the same file (rank 0's state, unwrapped); only rank 0 edits files."""
    restored = checkpoint.resume(loop, folder / CHECKPOINTS, distributed.rank(),
                                 distributed.world_size())
    if restored is None:
        if main:
            truncate_rows(folder / METRICS, -1)  # nothing was saved: start over, cleanly
            log.warning("%s: no checkpoint to resume from; training from the start", folder)
        return
    loop.state.stop_reason = None
    if not main:
        return
    dropped = truncate_rows(folder / METRICS, loop.state.global_step)
    log.info("resuming %s at epoch %s, step %s (%s metric rows after the checkpoint dropped)",
             folder.name, loop.state.epoch, loop.state.global_step, dropped)
