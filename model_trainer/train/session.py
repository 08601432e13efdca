"""What a running trial provides to the loop: its folder, metric log, display, callbacks.

`run_experiment` attaches a Session to the wrapper; a wrapper used on its own (a
notebook, a unit test) gets one without a folder that writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from model_trainer.train.progress import Display
from model_trainer.train.records import MetricsLog
from model_trainer.train.state import TrainState

OnEval = Callable[[int, dict[str, float]], bool]


class Session:
    def __init__(self, trial_dir: Path | None = None, *, display: Display | None = None,
                 on_eval: OnEval | None = None, smoke: bool = False, tensorboard: bool = False,
                 name: str = "mtrain"):
        self.trial_dir = trial_dir
        self.display = display or Display()
        self.on_eval = on_eval
        self.smoke = smoke
        self.name = name
        self.metrics = MetricsLog(trial_dir, tensorboard) if trial_dir is not None else None
        self.on_checkpoint: Callable[[TrainState], None] | None = None  # status.json progress

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.trial_dir / "checkpoints" if self.trial_dir is not None else None

    def log(self, split: str, metrics: dict[str, float], step: int, epoch: int) -> None:
        if self.metrics is not None and metrics:
            self.metrics.append(split, metrics, step, epoch)

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        self.display.stop()
