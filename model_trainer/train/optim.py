"""Built-in optimizers and LR schedulers, each built from its recipe section.

Schedulers step per optimizer step or per epoch (`train.scheduler.interval`; default per
step for cosine and onecycle, per epoch for step, plateau and dotted paths); plateau
steps on the monitor metric after each evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from model_trainer.errors import ContractError
from model_trainer.recipe.identity import schedule_sized_by
from model_trainer.recipe.names import scheduler_interval
from model_trainer.recipe.resolve import import_object

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def each(obj: Any) -> Iterator[Any]:
    """The items of a list/tuple/dict of optimizers or schedulers; one object alone; none."""
    if obj is None:
        return iter(())
    if isinstance(obj, dict):
        return iter(obj.values())
    if isinstance(obj, list | tuple):
        return iter(obj)
    return iter((obj,))


def build_optimizer(recipe: Any, params: Iterable[Any]) -> torch.optim.Optimizer:
    """`train.optimizer` -> an optimizer; `args` are extra keyword arguments."""
    cfg = recipe.train.optimizer
    kwargs: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.name == "sgd":
        kwargs["momentum"] = cfg.momentum or 0.0
    kwargs.update(cfg.args)
    cls = _OPTIMIZERS.get(cfg.name) or import_object(cfg.name)
    return cls(params, **kwargs)


@dataclass
class Scheduler:
    """A torch LR scheduler and when to step it."""

    scheduler: Any
    interval: str = "epoch"  # "step" | "epoch"
    on_metric: bool = False  # ReduceLROnPlateau: step(monitor value) after an evaluation

    def after_step(self) -> None:
        if self.interval == "step" and not self.on_metric:
            self._step()

    def after_epoch(self, monitor_value: float | None) -> None:
        if self.on_metric:
            if monitor_value is not None:
                self.scheduler.step(monitor_value)
        elif self.interval == "epoch":
            self._step()

    def _step(self) -> None:
        """Step, except past the schedule's end: a run extended by more epochs keeps the
        final LR (cosine would climb again, onecycle would raise). The length is the first
        run's (restored from its checkpoint with the scheduler's state)."""
        s, lr = self.scheduler, torch.optim.lr_scheduler
        if isinstance(s, lr.CosineAnnealingLR) and s.last_epoch >= s.T_max:
            return
        if isinstance(s, lr.OneCycleLR) and s.last_epoch >= s.total_steps - 1:
            return
        s.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


def as_scheduler(obj: Any, interval: str | None) -> Scheduler | None:
    """What a `make_scheduler` override (or a scheduler named by its dotted path) made ->
    a Scheduler. How often a torch scheduler steps cannot be told from it (a warmup over
    N steps run once per epoch takes N epochs), so `train.scheduler.interval` must say it:
    ContractError (exit 2) at start otherwise; ReduceLROnPlateau steps per evaluation."""
    if obj is None or isinstance(obj, Scheduler):
        return obj
    on_metric = isinstance(obj, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if interval is None and not on_metric:
        raise ContractError(f"train.scheduler.interval: the scheduler {type(obj).__name__} "
                            "made by make_scheduler (or named by train.scheduler.name) steps "
                            "how often? Set train.scheduler.interval: step (after each "
                            "optimizer step) or epoch (after each epoch)")
    return Scheduler(obj, interval or "epoch", on_metric)


def build_scheduler(recipe: Any, optimizer: torch.optim.Optimizer,
                    steps_per_epoch: int | None) -> Scheduler | None:
    """`train.scheduler` -> a Scheduler, or None for `none`."""
    cfg, train = recipe.train.scheduler, recipe.train
    if cfg.name == "none":
        return None
    interval = scheduler_interval(cfg)
    per_step, sized_by = interval == "step", schedule_sized_by(recipe)
    if per_step and not steps_per_epoch and sized_by != "train.max_steps":
        raise ValueError(f"train.scheduler: '{cfg.name}' per step needs a train loader with "
                         "a length (or train.max_steps); set train.scheduler.interval=epoch")
    total = train.max_steps if sized_by == "train.max_steps" \
        else train.epochs * (steps_per_epoch if per_step else 1)
    args = dict(cfg.args)
    lr = torch.optim.lr_scheduler
    if cfg.name == "cosine":
        args.setdefault("T_max", total)
        return Scheduler(lr.CosineAnnealingLR(optimizer, **args), interval)
    if cfg.name == "onecycle":
        args.setdefault("max_lr", recipe.train.optimizer.lr)
        args.setdefault("total_steps", total)
        return Scheduler(lr.OneCycleLR(optimizer, **args), interval)
    if cfg.name == "step":
        args.setdefault("step_size", max(1, total // 3))
        return Scheduler(lr.StepLR(optimizer, **args), interval)
    if cfg.name == "plateau":
        args.setdefault("mode", recipe.train.monitor.mode)
        return Scheduler(lr.ReduceLROnPlateau(optimizer, **args), "epoch", on_metric=True)
    return as_scheduler(import_object(cfg.name)(optimizer, **args), interval)
