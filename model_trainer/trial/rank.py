"""One rank of a trial: build the wrapper, resume it, fit it, and say how it ended.

`train_rank` runs in the trial's own process (world size 1) or in each rank's process
(DDP); either way it returns a `RankOutcome` and never raises, so the trial handles one
shape of result. Rank 0 alone writes files and shows progress.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_trainer.layout import CHECKPOINTS, METRICS, RECIPE
from model_trainer.metrics_file import truncate_rows
from model_trainer.recipe.resolve import import_object
from model_trainer.train import checkpoint, distributed
from model_trainer.train.device import resolve_device
from model_trainer.train.hooks import check_hooks
from model_trainer.train.loop import Loop
from model_trainer.train.session import OnEval, Session
from model_trainer.train.stopping import stop_reason
from model_trainer.trial.launch import RankOutcome
from model_trainer.trial.progress import make_display
from model_trainer.trial.rerun import write_recipe
from model_trainer.trial.session import TrialSession
from model_trainer.trial.status import ErrorRecord, TrialStatus
from model_trainer.vocabulary import StopReason

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
    recipe, main = job.recipe, rank == 0
    if world > 1:
        distributed.init(rank, world, port, resolve_device(recipe.device).type)
    session = _session(job, main)
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
        wrapper.fit()
        if wrapper.state.stop_reason is None:  # a custom fit() that did not name one
            wrapper.state.stop_reason = stop_reason(wrapper.state, recipe, job.smoke) or \
                StopReason.EPOCHS_REACHED
        return RankOutcome(rank, wrapper.state.to_dict())
    except KeyboardInterrupt:
        saved = wrapper is not None and wrapper.model is not None
        if saved:
            wrapper.loop.save_checkpoint()  # rank 0 only: the others have no folder
        return RankOutcome(rank, _state(wrapper), interrupted=True, saved=saved and main)
    except BaseException as exc:  # SystemExit too: a hook calling sys.exit() is a failure
        return RankOutcome(rank, _state(wrapper), error=ErrorRecord.of(exc))
    finally:
        session.close()
        distributed.shutdown()


def _session(job: RankJob, main: bool) -> Session:
    if not main:
        session = Session()
        session.smoke = job.smoke
        return session
    recipe = job.recipe
    return TrialSession(job.folder, job.status, display=make_display(job.display),
                        on_eval=job.on_eval, smoke=job.smoke,
                        tensorboard=recipe.train.tensorboard and not job.smoke)


def _state(wrapper: Any) -> dict[str, Any] | None:
    return wrapper.state.to_dict() if wrapper is not None else None


def resume(loop: Loop, folder: Path, main: bool = True) -> None:
    """Continue from the newest loadable checkpoint; metrics rows after it are dropped.

    Every rank loads the same file (rank 0's state, unwrapped); only rank 0 edits files."""
    state = checkpoint.load_latest(folder / CHECKPOINTS)
    if state is None:
        if main:
            truncate_rows(folder / METRICS, -1)  # nothing was saved: start over, cleanly
            log.warning("%s: no checkpoint to resume from; training from the start", folder)
        return
    checkpoint.restore(loop, state)
    loop.state.stop_reason = None
    if not main:
        return
    dropped = truncate_rows(folder / METRICS, loop.state.global_step)
    log.info("resuming %s at epoch %s, step %s (%s metric rows after the checkpoint dropped)",
             folder.name, loop.state.epoch, loop.state.global_step, dropped)
