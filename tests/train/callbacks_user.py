"""Callbacks a user would write, for tests/train/test_callbacks.py."""

from __future__ import annotations

from model_trainer import Callback


class CountSteps(Callback):
    """Counts optimizer steps (kept in the checkpoint), logs the count, and stops after
    `stop_after` epochs when given."""

    def __init__(self, stop_after: int | None = None):
        self.steps, self.stop_after = 0, stop_after

    def on_before_optimizer_step(self, wrapper, optimizers):
        self.steps += 1

    def on_epoch_end(self, wrapper, epoch, metrics):
        wrapper.log_value("steps_counted", self.steps)
        if self.stop_after is not None and epoch >= self.stop_after:
            wrapper.request_stop(f"{epoch} epochs are enough")

    def on_checkpoint_save(self, wrapper):
        return {"steps": self.steps}

    def on_checkpoint_load(self, wrapper, state):
        self.steps = state["steps"]

    def on_train_end(self, wrapper, reason):
        wrapper.log_value("steps_at_end", self.steps)


class Moments(Callback):
    """Records every moment it is called at, in order (class-wide: the test reads it)."""

    calls: list[tuple] = []

    def on_train_start(self, wrapper):
        self.calls.append(("train_start",))

    def on_epoch_start(self, wrapper, epoch):
        self.calls.append(("epoch_start", epoch))

    def on_before_optimizer_step(self, wrapper, optimizers):
        self.calls.append(("before_step", wrapper.state.global_step))

    def on_after_optimizer_step(self, wrapper, optimizers):
        self.calls.append(("after_step", wrapper.state.global_step))

    def on_train_epoch_end(self, wrapper, epoch):
        self.calls.append(("train_epoch_end", epoch))

    def on_evaluation_start(self, wrapper, flag):
        self.calls.append(("evaluation_start", flag))

    def on_evaluation_done(self, wrapper, flag):
        self.calls.append(("evaluation_done", flag))

    def on_evaluation_end(self, wrapper, epoch, metrics):
        self.calls.append(("evaluation_end", epoch, metrics["val_loss"]))

    def on_epoch_end(self, wrapper, epoch, metrics):
        self.calls.append(("epoch_end", epoch, metrics["train_loss"]))

    def on_train_end(self, wrapper, reason):
        self.calls.append(("train_end", reason))


class WrongSignature(Callback):
    def on_epoch_end(self, wrapper):  # misses epoch and metrics
        pass


class NotACallback:
    pass
