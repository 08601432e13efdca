"""One trial: recipe -> trial folder -> wrapper -> loop -> files, safe to run again.

A rerun finds the trial folder by its id. A completed trial is skipped (unless `force`,
which moves the old folder aside and starts from zero, or `train.epochs` was raised,
which trains the extra epochs); an interrupted, failed or killed one continues from its
last checkpoint. Every change of a stateless value between runs is recorded in
status.json's `stateless_changes`.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_trainer.errors import Interrupted, MTrainError, TrainingError
from model_trainer.files import remove_stale_temps
from model_trainer.recipe.load import LoadedRecipe
from model_trainer.recipe.resolve import import_object
from model_trainer.rerun import is_finished, move_aside, stateless_changes, write_recipe
from model_trainer.train import checkpoint, distributed, launch
from model_trainer.train.device import resolve_device
from model_trainer.train.hooks import check_hooks
from model_trainer.train.progress import make_display
from model_trainer.train.records import (
    METRICS,
    RECIPE,
    STATUS,
    git_commit,
    last_row,
    now_iso,
    read_status,
    truncate_rows,
    versions,
    write_status,
)
from model_trainer.train.session import Session
from model_trainer.train.stopping import stop_reason

log = logging.getLogger("model_trainer.train")



class Diverged(TrainingError):
    """The training loss became NaN or infinite (exit 1)."""


@dataclass
class TrialResult:
    trial_id: str
    trial_dir: Path
    state: str  # completed | pruned (failures and interrupts raise)
    stop_reason: str | None
    epochs_done: int
    best: dict[str, Any] | None
    final_metrics: dict[str, float]  # the last evaluation row, full names (val_loss, ...)
    skipped: bool = False  # already finished: nothing was run

    def summary(self) -> str:
        what = "already done, skipped" if self.skipped else f"{self.state} ({self.stop_reason})"
        metrics = " ".join(f"{k}={v:.4g}" for k, v in self.final_metrics.items())
        return (f"{self.trial_id}: {what} after {self.epochs_done} epoch(s) {metrics}\n"
                f"  {self.trial_dir}")


def run_experiment(loaded: LoadedRecipe, *, trial_dir: str | Path | None = None,
                   force: bool = False, smoke: bool = False, progress: str | None = None,
                   on_eval: Callable[[int, dict[str, float]], bool] | None = None,
                   study_info: dict[str, Any] | None = None,
                   threads: int | None = None) -> TrialResult:
    """Train (or continue, or skip) the experiment of `loaded`; see the module docstring.

    Raises TrainingError (training failed; Diverged for a non-finite loss), Interrupted
    (Ctrl-C, after saving a checkpoint) or an MTrainError with exit code 2 for a user
    mistake (no such device, a Derived value not filled, a hook with a wrong signature).
    """
    recipe = copy.deepcopy(loaded.recipe)  # config_parser fills and freezes our copy only
    trial_id = loaded.trial_id
    if threads:
        torch.set_num_threads(threads)
    display = progress or recipe.train.progress
    if smoke:  # a throwaway folder: the whole code path runs, nothing stays
        with tempfile.TemporaryDirectory(prefix="mtrain-smoke-") as tmp:
            return _run(recipe, trial_id, Path(tmp) / trial_id, display, on_eval, study_info,
                        smoke=True)
    folder = Path(trial_dir) if trial_dir is not None else \
        Path(recipe.output_dir) / recipe.name / trial_id
    status = read_status(folder)
    if status is not None and force:
        move_aside(folder)
        status = None
    if status is not None and is_finished(status, recipe, folder):
        log.info("%s is already %s (%s); skipped", trial_id, status["state"],
                 status.get("stop_reason"))
        return TrialResult(trial_id, folder, status["state"], status.get("stop_reason"),
                           int(status.get("epochs_done") or 0), status.get("best"),
                           last_row(folder / METRICS, "val") | last_row(folder / METRICS, "test"),
                           skipped=True)
    return _run(recipe, trial_id, folder, display, on_eval, study_info, smoke=False)


def _run(recipe: Any, trial_id: str, folder: Path, display: str, on_eval: Any,
         study_info: dict[str, Any] | None, smoke: bool) -> TrialResult:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temps(folder) + remove_stale_temps(folder / "checkpoints"):
        log.info("removed %s, left by a writer that was killed", stale)
    old = read_status(folder) or {}
    if not old and (folder / STATUS).exists():
        log.warning("%s is unreadable (not JSON); continuing from the trial's checkpoints and "
                    "writing a new one", folder / STATUS)
    history = list(old.get("stateless_changes") or [])
    changes = stateless_changes(folder / RECIPE, recipe)
    if changes:
        history.append({"at": now_iso(), "changes": changes})
    status: dict[str, Any] = {
        "trial_id": trial_id, "name": recipe.name, "state": "running",
        "attempts": int(old.get("attempts") or 0) + 1, "started_at": now_iso(),
        "ended_at": None, "duration_s": None, "stop_reason": None,
        "epochs_done": int(old.get("epochs_done") or 0),
        "global_step": int(old.get("global_step") or 0), "best": old.get("best"),
        "error": None, "versions": versions(), "git_commit": git_commit(),
        "stateless_changes": history, "study": study_info or old.get("study"),
    }
    write_status(folder, status)
    started = time.perf_counter()
    resuming = bool(old) or (folder / "checkpoints").is_dir()
    job = RankJob(recipe, folder, display, smoke, resuming, status, on_eval)

    def finish(state: str, reason: str | None, error: BaseException | None = None,
               train_state: dict[str, Any] | None = None) -> None:
        if train_state is not None:
            status.update(epochs_done=train_state["epoch"], global_step=train_state["global_step"],
                          best=train_state["best"])
        else:  # a rank died without its state: keep the progress rank 0 saved at checkpoints
            saved = read_status(folder) or {}
            status.update({k: saved.get(k, status[k]) for k in ("epochs_done", "global_step",
                                                                  "best")})
        status.update(state=state, stop_reason=reason, ended_at=now_iso(),
                      duration_s=round(time.perf_counter() - started, 3))
        if error is not None:
            status["error"] = {"type": getattr(error, "rank_type", None) or type(error).__name__,
                               "message": str(error),
                               "traceback": getattr(error, "rank_traceback", None) or
                               "".join(traceback.format_exception(error))}
        write_status(folder, status)

    try:
        world = launch.world_size(recipe)
        if world > 1:
            launch.check_devices(world, resolve_device(recipe.device).type)
        final = launch.run_ranks(train_rank, world, job, threads=torch.get_num_threads())
    except KeyboardInterrupt as exc:
        finish("interrupted", "interrupted", exc, getattr(exc, "mtrain_state", None))
        saved = "; state saved" if getattr(exc, "mtrain_saved", False) else ""
        raise Interrupted(f"interrupted{saved} in {folder}; run the same command again to "
                          "continue") from None
    except MTrainError as exc:
        finish("failed", None, exc, getattr(exc, "mtrain_state", None))
        raise
    except Exception as exc:
        finish("failed", None, exc, getattr(exc, "mtrain_state", None))
        raise TrainingError(f"training failed: {type(exc).__name__}: {exc} (the traceback is "
                            f"in {folder / 'status.json'})") from exc
    reason = final["stop_reason"]
    if reason == "diverged":
        error = Diverged(f"the training loss is not finite at step {final['global_step']} "
                         f"(epoch {final['epoch'] + 1}); lower the learning rate, set "
                         "train.grad_clip, or check the data")
        finish("failed", reason, error, final)
        raise error
    state = "pruned" if reason == "pruned" else "completed"
    finish(state, reason, None, final)
    return TrialResult(trial_id, folder, state, reason, final["epoch"], final["best"],
                       dict(final["last_eval"]), skipped=False)


@dataclass
class RankJob:
    """What every rank needs to train the trial (plain data, plus rank 0's on_eval)."""

    recipe: Any
    folder: Path
    display: str
    smoke: bool
    resume: bool
    status: dict[str, Any]
    on_eval: Any


def train_rank(rank: int, world: int, port: int | None, job: RankJob) -> dict[str, Any]:
    """Build, resume and fit the wrapper on one rank; rank 0 alone writes files and shows
    progress. Returns the final loop state; an exception carries it as `mtrain_state`."""
    recipe, main = job.recipe, rank == 0
    if world > 1:
        distributed.init(rank, world, port, resolve_device(recipe.device).type)
    session = Session(job.folder if main else None, display=make_display(job.display) if main
                      else None, on_eval=job.on_eval if main else None, smoke=job.smoke,
                      tensorboard=recipe.train.tensorboard and not job.smoke, name=recipe.name)
    wrapper: Any = None

    def progress_saved(state: Any) -> None:  # a killed run's status still says how far it got
        job.status.update(epochs_done=state.epoch, global_step=state.global_step, best=state.best)
        write_status(job.folder, job.status)

    session.on_checkpoint = progress_saved if main else None
    try:
        wrapper = import_object(recipe.wrapper)(recipe)
        check_hooks(wrapper)  # before any data is loaded or any batch runs
        wrapper.session = session
        wrapper.setup()
        if main:
            write_recipe(job.folder / RECIPE, recipe)
        if job.resume:
            _resume(wrapper, job.folder, main)
        session.display.start(recipe.name, recipe.train.epochs, wrapper.steps_per_epoch(),
                              wrapper.state.epoch)
        wrapper.fit()
        if wrapper.state.stop_reason is None:  # a custom fit() that did not name one
            wrapper.state.stop_reason = stop_reason(wrapper.state, recipe, job.smoke) or \
                "epochs reached"
        return wrapper.state.to_dict()
    except KeyboardInterrupt as exc:
        if wrapper is not None and wrapper.model is not None:
            wrapper.save_checkpoint()  # rank 0 only: the others have no folder
            exc.mtrain_saved = main  # type: ignore[attr-defined]
        exc.mtrain_state = wrapper.state.to_dict() if wrapper is not None else None  # type: ignore[attr-defined]
        raise
    except BaseException as exc:
        if wrapper is not None:
            exc.mtrain_state = wrapper.state.to_dict()  # type: ignore[attr-defined]
        raise
    finally:
        session.close()
        distributed.shutdown()


def _resume(wrapper: Any, folder: Path, main: bool = True) -> None:
    """Continue from the newest loadable checkpoint; metrics rows after it are dropped.

    Every rank loads the same file (rank 0's state, unwrapped); only rank 0 edits files."""
    state = checkpoint.load_latest(folder / "checkpoints")
    if state is None:
        if main:
            truncate_rows(folder / METRICS, -1)  # nothing was saved: start over, cleanly
            log.warning("%s: no checkpoint to resume from; training from the start", folder)
        return
    checkpoint.restore(wrapper, state)
    wrapper.state.stop_reason = None
    if not main:
        return
    dropped = truncate_rows(folder / METRICS, wrapper.state.global_step)
    log.info("resuming %s at epoch %s, step %s (%s metric rows after the checkpoint dropped)",
             folder.name, wrapper.state.epoch, wrapper.state.global_step, dropped)
