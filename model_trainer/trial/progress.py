"""What a person watching the run sees: a rich progress bar, plain lines, or nothing.

`train.progress`: `auto` is rich on a terminal and plain otherwise; `plain` writes one
line per evaluation (and per stop) to stderr; `off` writes nothing (inside a study).
Updates happen at log points and evaluations only, never per step.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from model_trainer.train.reporting import Display


def _short(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


class PlainDisplay(Display):
    """One line per evaluation to stderr, with seconds per epoch (not in a smoke test:
    a couple of batches say nothing about an epoch's time)."""

    name = "mtrain"

    def __init__(self, smoke: bool = False):
        self.smoke = smoke

    def start(self, name: str, epochs: int, steps_per_epoch: int | None, epoch: int) -> None:
        self.name, self.epochs, self.first, self.t0 = name, epochs, epoch, time.perf_counter()

    def evaluation(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        if self.smoke:
            self.message(f"smoke test: step {step} {_short(metrics)}")
            return
        per_epoch = (time.perf_counter() - self.t0) / max(epoch - self.first, 1)
        self.message(f"epoch {epoch}/{self.epochs} step {step} {_short(metrics)} "
                     f"({per_epoch:.2f}s/epoch)")

    def message(self, text: str) -> None:
        print(f"[{self.name}] {text}", file=sys.stderr, flush=True)


class RichDisplay(Display):
    """A progress bar over all steps with epoch, loss, the last val metrics and ETA."""

    def start(self, name: str, epochs: int, steps_per_epoch: int | None, epoch: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.name, self.epochs, self.val = name, epochs, ""
        self.steps_per_epoch = steps_per_epoch or 1
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        self.progress.start()
        self.task: Any = self.progress.add_task(name, total=epochs * self.steps_per_epoch,
                                                completed=epoch * self.steps_per_epoch)

    def update(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        loss = metrics.get("loss")
        text = f"{self.name} epoch {epoch}/{self.epochs}"
        if loss is not None:
            text += f" loss {loss:.4g}"
        self.progress.update(self.task, completed=step, description=f"{text} {self.val}")

    def evaluation(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.val = _short({k: v for k, v in metrics.items() if k.startswith("val_")})
        self.progress.update(self.task, completed=epoch * self.steps_per_epoch,
                             description=f"{self.name} epoch {epoch}/{self.epochs} {self.val}")

    def message(self, text: str) -> None:
        if hasattr(self, "progress"):
            self.progress.console.print(f"[{self.name}] {text}", markup=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def stop(self) -> None:
        if hasattr(self, "progress"):
            self.progress.stop()


def make_display(mode: str, smoke: bool = False) -> Display:
    """`auto | rich | plain | off` -> a Display; a smoke test's is plain (its progress
    bar would count epochs it does not run)."""
    if mode == "off":
        return Display()
    if smoke:
        return PlainDisplay(smoke=True)
    if mode == "auto":
        mode = "rich" if sys.stderr.isatty() else "plain"
    return {"rich": RichDisplay, "plain": PlainDisplay}.get(mode, Display)()
