"""Callbacks a user would write, for tests/train/test_callbacks.py."""

from __future__ import annotations

from model_trainer import Callback


class CountSteps(Callback):
    """Counts optimizer steps (kept in the checkpoint), logs the count, and stops after
    `stop_after` epochs when given."""

    def __init__(self, stop_after: int | None = None):
        self.steps, self.stop_after, self.seen = 0, stop_after, []

    def on_before_optimizer_step(self, wrapper, optimizers):
        self.steps += 1

    def on_epoch_end(self, wrapper, epoch, metrics):
        wrapper.log_value("steps_counted", self.steps)
        self.seen.append((epoch, sorted(metrics)))
        if self.stop_after is not None and epoch >= self.stop_after:
            wrapper.request_stop(f"{epoch} epochs are enough")

    def on_checkpoint_save(self, wrapper):
        return {"steps": self.steps}

    def on_checkpoint_load(self, wrapper, state):
        self.steps = state["steps"]


class WrongSignature(Callback):
    def on_epoch_end(self, wrapper):  # misses epoch and metrics
        pass


class NotACallback:
    pass
