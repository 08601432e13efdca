"""The session a trial's loop reports to: the trial folder's files and the progress display.

Rank 0 of a trial writes metrics.jsonl (a row per log point and evaluation, flushed at
once), the same rows to the trackers of `train.loggers` (TensorBoard, MLflow), and
status.json's progress at each checkpoint; the other ranks of a DDP trial get a `Session`
that writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_trainer.errors import TrainingError
from model_trainer.files import BackgroundWriter, folder_identity
from model_trainer.layout import CHECKPOINTS, METRICS
from model_trainer.metrics_file import MetricsWriter
from model_trainer.train import checkpoint
from model_trainer.train.reporting import Display, Keep, OnEval, Session
from model_trainer.trial.status_record import TrialStatus
from model_trainer.trial.trackers import Tracker, Trackers
from model_trainer.vocabulary import TrialState


class TrialSession(Session):
    saves_checkpoints = True

    def __init__(self, folder: Path, status: TrialStatus, *, display: Display,
                 on_eval: OnEval | None = None, smoke: bool = False,
                 trackers: list[Tracker] = ()):
        super().__init__(folder / CHECKPOINTS)
        self.folder, self.status, self.display = folder, status, display
        self.identity = folder_identity(folder)
        self.writer = BackgroundWriter()
        self.on_eval, self.smoke = on_eval, smoke
        self.metrics = MetricsWriter(folder / METRICS)
        self.trackers = Trackers(list(trackers))

    def log(self, split: str, metrics: dict[str, float], step: int, epoch: int,
            **extra: Any) -> None:
        if not metrics:
            return
        self.metrics.append(split, metrics, step, epoch, **extra)
        # an epoch's row shares its step with the log point there: trackers name it apart
        # (`train_epoch_loss` beside `train_loss`, as Lightning's `_epoch` metrics)
        span = extra.get("span")
        self.trackers.log(f"{split}_{span}" if span else split, metrics, step)

    def check_folder(self) -> None:
        """A trial folder deleted while the trial runs (by hand, a clean-up script) fails
        the trial instead of being made again with a checkpoint and nothing else."""
        if folder_identity(self.folder) != self.identity:
            raise TrainingError(f"the trial folder {self.folder} was deleted or replaced "
                                "while the trial was running; nothing more is written there")

    def save_checkpoint(self, state: dict[str, Any], loop_state: dict[str, Any], *,
                        best_only: bool, best_too: bool, keep: Keep | None = None) -> None:
        """Serialized and written in the background, in order: the checkpoint, fsynced,
        then status.json's progress (a killed run's status.json says how far it got). The
        tensors are copied off the live model first: the next step changes them."""
        state = checkpoint.snapshot(state)

        def write() -> None:
            try:
                self.write_checkpoint(state, best_only=best_only, best_too=best_too,
                                      keep=keep)
                if not best_only:
                    self.status.progress(loop_state)
                    self.status.save(self.folder)
            except FileNotFoundError:
                self.check_folder()  # deleted meanwhile: say so (never make it again)
                raise

        self.writer.submit(write)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, state: TrialState | None = None) -> None:
        self.writer.close()
        self.metrics.close()
        self.trackers.close(state)
        super().close(state)
