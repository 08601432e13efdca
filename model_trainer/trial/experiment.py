"""One trial: recipe -> trial folder -> ranks -> files, safe to run again.

A rerun finds the trial folder by its id. A completed trial is skipped (unless `force`,
which moves the old folder aside and starts from zero, or `train.epochs` was raised,
which trains the extra epochs); an interrupted, failed or killed one continues from its
last checkpoint. Every change of a stateless value between runs is recorded in
status.json's `stateless_changes`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_trainer.errors import (
    CheckpointError,
    Diverged,
    Interrupted,
    MTrainError,
    Terminated,
    TrainingError,
    UserError,
    first_line,
    rebuild,
)
from model_trainer.files import folder_identity, remove_stale_temps
from model_trainer.layout import CHECKPOINTS, LAST_CHECKPOINT, METRICS, RECIPE, STATUS
from model_trainer.locks import FolderLock
from model_trainer.metrics_file import full_names, last_row, read_rows, training_rows
from model_trainer.recipe.fingerprint import Fingerprint, fingerprint
from model_trainer.recipe.identity import stateless_keys
from model_trainer.recipe.load import LoadedRecipe
from model_trainer.train import checkpoint, determinism
from model_trainer.train.device import resolve_device
from model_trainer.train.loop import SMOKE_BATCHES
from model_trainer.train.reporting import OnEval
from model_trainer.trial import code_check, launch, provenance
from model_trainer.trial.rank import RankJob, train_rank
from model_trainer.trial.rerun import is_finished, move_aside, stateless_changes
from model_trainer.trial.status_record import ErrorRecord, TrialStatus
from model_trainer.vocabulary import CodeChange, Split, StopReason, TrialState

log = logging.getLogger("model_trainer.train")


@dataclass
class TrialResult:
    trial_id: str
    trial_dir: Path
    state: TrialState  # completed | pruned (failures and interrupts raise)
    stop_reason: str | None
    epochs_done: int
    best: dict[str, Any] | None
    final_metrics: dict[str, float]  # the last evaluation row, full names (val_loss, ...)
    skipped: bool = False  # already finished: nothing was run
    test_checkpoint: str | None = None  # "best" or "last": the weights the test row saw
    smoke: bool = False  # a smoke test: its folder is gone
    at_best: dict[str, float] = dataclasses.field(default_factory=dict)  # the best epoch's val

    def summary(self) -> str:
        metrics = _shown(self.final_metrics)
        if self.smoke:
            return f"smoke test passed: {self.trial_id} {_smoke_checks(self)}" + \
                (f" ({metrics})" if metrics else "") + "; nothing was kept"
        what = "already done, skipped" if self.skipped else f"{self.state} ({self.stop_reason})"
        line = f"{self.trial_id}: {what} after {self.epochs_done} epoch(s)"
        best_epoch = (self.best or {}).get("epoch")
        if self.test_checkpoint == "best" and self.at_best and best_epoch != self.epochs_done:
            # the test was measured at the best epoch: show that epoch's val beside it
            test = {k: v for k, v in self.final_metrics.items() if k.startswith("test_")}
            last = {k: v for k, v in self.final_metrics.items() if not k.startswith("test_")}
            line += (f"; best epoch {best_epoch}: {_shown(self.at_best)} {_shown(test)} "
                     f"(test at the best checkpoint); last epoch {self.epochs_done}: "
                     f"{_shown(last)}")
        else:
            line += f" {metrics}"
            if self.test_checkpoint:
                line += f" (test at the {self.test_checkpoint} checkpoint)"
        return f"{line}\n  {self.trial_dir}"


def run_experiment(loaded: LoadedRecipe, *, trial_dir: str | Path | None = None,
                   force: bool = False, smoke: bool = False, progress: str | None = None,
                   on_eval: OnEval | None = None, study_info: dict[str, Any] | None = None,
                   threads: int | None = None, command: list[str] | None = None,
                   if_code_changed: CodeChange | str = CodeChange.STOP,
                   code: Fingerprint | None = None) -> TrialResult:
    """Train (or continue, or skip) the experiment of `loaded`; see the module docstring.

    `command`: the command line that asked for it, for the trial's provenance record
    (default: this process's; a study's worker passes the driver's).
    `if_code_changed`: what to do when the trial ran other code (trial/code_check.py);
    CodeChanged (exit 2) by default. `code`: the fingerprint of the code it runs, when the
    caller took it (a study, as it started); else it is taken here.

    Raises TrainingError (training failed; Diverged for a non-finite loss), Interrupted
    (Ctrl-C, after saving a checkpoint) or a UserError (exit 2) for a user mistake (no
    such device, a Derived value not filled, a hook with a wrong signature).
    """
    recipe = copy.deepcopy(loaded.recipe)  # config_parser fills and freezes our copy only
    trial_id = loaded.trial_id
    threads = threads or recipe.train.threads  # a study's or the caller's count first
    if threads:
        torch.set_num_threads(threads)
    display = progress or recipe.train.progress
    if recipe.train.deterministic:
        determinism.cublas_environment()  # before the record looks at the GPUs
    if smoke:  # a throwaway folder: the whole code path runs, nothing stays
        with tempfile.TemporaryDirectory(prefix="mtrain-smoke-") as tmp:
            result = _run(recipe, trial_id, Path(tmp) / trial_id, display, on_eval,
                          study_info, loaded.source.files, smoke=True)
            _check_loads(result.trial_dir / CHECKPOINTS / LAST_CHECKPOINT)
        return dataclasses.replace(result, smoke=True)
    folder = Path(trial_dir) if trial_dir is not None else \
        Path(recipe.output_dir) / recipe.name / trial_id
    if force and (folder / STATUS).exists():
        with FolderLock(folder, "trial"):  # never move a folder another process writes
            move_aside(folder)
    code = code or fingerprint(recipe)
    choice = code_check.choose(folder, trial_id, code, CodeChange(if_code_changed))
    folder, trial_id = choice.folder, choice.trial_id
    with FolderLock(folder, "trial"):  # one process trains a trial at a time
        status = TrialStatus.load(folder)
        if status is not None and is_finished(status, recipe, folder):
            if choice.accepted is not None:
                status.accept_code(code.digest, choice.accepted)
                status.save(folder)
                code_check.record(folder, code)
            log.info("%s is already %s (%s); skipped", trial_id, status.state,
                     status.stop_reason)
            rows = last_row(folder / METRICS, Split.VAL) | last_row(folder / METRICS, Split.TEST)
            return TrialResult(trial_id, folder, status.state, status.stop_reason,
                               status.epochs_done, status.best, rows, skipped=True,
                               test_checkpoint=status.test_checkpoint,
                               at_best=_val_at(folder, status.best))
        collected = provenance.start_collecting(  # git runs while the trial is set up
            command or sys.argv, os.getcwd(), recipe.device, recipe.output_dir,
            in_study=study_info is not None)
        return _run(recipe, trial_id, folder, display, on_eval, study_info,
                    loaded.source.files, smoke=False, collected=collected, code=code,
                    accepted=choice.accepted)


def _run(recipe: Any, trial_id: str, folder: Path, display: str, on_eval: OnEval | None,
         study_info: dict[str, Any] | None, sources: list[str], smoke: bool,
         collected: Callable[[], tuple[dict[str, Any], bytes]] | None = None,
         code: Fingerprint | None = None, accepted: list[str] | None = None) -> TrialResult:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temps(folder) + remove_stale_temps(folder / CHECKPOINTS):
        log.info("removed %s, left by a writer that was killed", stale)
    previous = TrialStatus.load(folder)
    if previous is None and (folder / STATUS).exists():
        log.warning("%s is unreadable (not JSON); continuing from the trial's checkpoints and "
                    "writing a new one", folder / STATUS)
    status = TrialStatus.start(trial_id, recipe.name, previous,
                               stateless_changes(folder / RECIPE, recipe), study_info, sources,
                               provenance.versions(), None, stateless_keys(recipe))
    if code is not None:
        status.accept_code(code.digest, accepted)
        code_check.record(folder, code)
    status.save(folder)
    identity = folder_identity(folder)
    recorded = (lambda: None) if collected is None else provenance.record_in_background(
        folder, status.attempts, collected,
        still_ours=lambda: folder_identity(folder) == identity,
        on_commit=lambda commit: setattr(status, "git_commit", commit))

    def close(state: TrialState, reason: str | None, loop_state: dict[str, Any] | None,
              error: ErrorRecord | None = None) -> None:
        recorded()  # the git commit, in the last status.json too
        status.finish(state, reason, loop_state, error)
        if folder_identity(folder) == identity:  # never make a deleted folder again
            status.save(folder)

    resuming = previous is not None or (folder / CHECKPOINTS).is_dir()
    job = RankJob(recipe, folder, display, smoke, resuming, status, on_eval)
    try:
        world = launch.world_size(recipe)
        if world > 1:
            launch.check_devices(world, resolve_device(recipe.device).type)
        outcome = launch.run_ranks(train_rank, world, job, threads=torch.get_num_threads())
    except MTrainError as exc:  # the launch itself: devices, port
        close(TrialState.FAILED, None, None, ErrorRecord.of(exc))
        raise
    if outcome.interrupted:
        close(TrialState.INTERRUPTED, outcome.interrupted, outcome.state if outcome.saved else None)
        saved = (f"state saved at step {outcome.state['global_step']}" if outcome.saved
                 else "the last checkpoint stands")
        error = Terminated if outcome.interrupted is StopReason.TERMINATED else Interrupted
        raise error(f"{outcome.interrupted} ({saved}) in {folder}; run the same command again "
                    "to continue")
    if outcome.error is not None:
        close(TrialState.FAILED, None, outcome.state, outcome.error)
        raise _error(outcome.error, folder)
    final = outcome.state
    reason = StopReason(final["stop_reason"])
    if reason is StopReason.DIVERGED:
        error = Diverged(f"the training loss is not finite at step {final['global_step']} "
                         f"(epoch {final['epoch'] + 1}); lower the learning rate, set "
                         "train.grad_clip, or check the data")
        close(TrialState.FAILED, reason, final, ErrorRecord.of(error))
        raise error
    state = TrialState.PRUNED if reason is StopReason.PRUNED else TrialState.COMPLETED
    close(state, reason, final)
    return TrialResult(trial_id, folder, state, reason, final["epoch"], final["best"],
                       dict(final["last_eval"]), test_checkpoint=final.get("test_checkpoint"),
                       at_best=_val_at(folder, final["best"]))


def _shown(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def _val_at(folder: Path, best: dict[str, Any] | None) -> dict[str, float]:
    """The training's val row of the best epoch, full names ({} without one)."""
    epoch = (best or {}).get("epoch")
    for row in reversed(training_rows(read_rows(folder / METRICS))):
        if row.get("split") == Split.VAL and row.get("epoch") == epoch:
            return full_names(Split.VAL, row["metrics"])
    return {}


def _check_loads(path: Path) -> None:
    """A smoke test's checkpoint must load back as a resume would load it."""
    try:
        checkpoint.load_file(path)
    except Exception as exc:  # noqa: BLE001 (whatever torch.load raises, said as a finding)
        raise CheckpointError(f"the smoke test's checkpoint does not load back: "
                              f"{type(exc).__name__}: {first_line(exc)} (what "
                              "checkpoint_extra returns must be tensors and plain types)") \
            from None


def _smoke_checks(result: TrialResult) -> str:
    """What a smoke test ran, in words."""
    batches = f"{SMOKE_BATCHES} batches"
    done = ["built the data, model and optimizer", f"trained {batches}"]
    if any(k.startswith("val_") for k in result.final_metrics):
        done.append(f"evaluated {SMOKE_BATCHES} val batches")
    done.append("saved and reloaded a checkpoint")
    if any(k.startswith("test_") for k in result.final_metrics):
        done.append(f"tested {SMOKE_BATCHES} test batches")
    return ", ".join(done)


def _error(error: ErrorRecord, folder: Path) -> MTrainError:
    """The exception a failed trial raises: the user's mistake as its own error (exit 2),
    anything else as a TrainingError pointing at status.json's traceback."""
    if error.exit_code == 2:
        rebuilt = rebuild(error.type, error.message if error.rank is None else error.summary, 2)
        return rebuilt if isinstance(rebuilt, UserError) else UserError(error.summary)
    return TrainingError(f"training failed: {error.summary} (the traceback is in "
                         f"{folder / STATUS})", traceback=error.traceback)
