"""The training loop: epochs of train steps, evaluations, checkpoints, until `stop_reason`.

One readable loop for CPU, CUDA and AMP: the backend differences live in the no-op
objects of `device.Precision`. Host syncs happen only at log points, evaluations and
epoch ends; per step the losses are summed on the device. Under `train.strategy: ddp`
the same loop runs on every rank; `distributed` reduces its metrics at those same points.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import torch

from model_trainer.errors import MTrainError
from model_trainer.train import distributed
from model_trainer.train.data import batch_size, batch_targets, to_device
from model_trainer.train.metrics import Means, SplitMetrics
from model_trainer.train.optim import each
from model_trainer.train.seeding import seed_epoch, set_rng_state
from model_trainer.train.stopping import stop_reason, track

log = logging.getLogger("model_trainer.train")

SMOKE_BATCHES = 2


class MonitorError(MTrainError):
    """train.monitor.metric is not among the metrics an evaluation produced (exit 2)."""

    exit_code = 2


def fit(w: Any) -> None:
    """Train `w` (a ModelWrapper after `setup`) until the stop predicate names a reason."""
    recipe, session = w.recipe, w.session
    while (reason := stop_reason(w.state, recipe, session.smoke)) is None:
        epoch = w.state.epoch + 1
        train_epoch(w, epoch)
        if w.state.diverged:
            continue  # the predicate names it; never checkpoint non-finite weights
        means = distributed.reduced_means(w.epoch_means)  # the global batch's, on every rank
        metrics = {f"train_{k}": v for k, v in means.compute().items()}
        if session.smoke or epoch % recipe.train.eval_every == 0 or epoch == recipe.train.epochs:
            metrics.update(evaluate_and_report(w, epoch, metrics))
        monitor = metrics.get(recipe.train.monitor.metric)
        for scheduler in each(w.scheduler):
            scheduler.after_epoch(monitor)
        w.state.epoch, w.state.batch_in_epoch = epoch, 0
        if epoch % recipe.train.checkpoint_every == 0 or stop_reason(w.state, recipe,
                                                                      session.smoke):
            w.save_checkpoint()  # also makes best.pt when this epoch's evaluation was best
        if w.best_pending:  # no checkpoint this epoch: write the best one on its own
            w.save_checkpoint(best=True)
    w.state.stop_reason = reason
    message = f"stopped: {reason} (epoch {w.state.epoch}, step {w.state.global_step})"
    log.info(message)
    session.display.message(message)
    if reason in ("epochs reached", "early stop", "smoke") and w.test_loader is not None:
        row = evaluate(w, "test")
        session.log("test", row, w.state.global_step, w.state.epoch)
        w.state.last_eval.update({f"test_{k}": v for k, v in row.items()})


def train_epoch(w: Any, epoch: int) -> None:
    """One pass over the train loader (resuming after `batch_in_epoch` batches)."""
    recipe, state, session = w.recipe, w.state, w.session
    accum, log_every = recipe.train.grad_accum, recipe.train.log_every
    loader = w.train_loader
    w.model.train()
    seed_epoch(loader, recipe.seed, epoch)
    total = SMOKE_BATCHES if session.smoke else _length(loader)
    skip = state.batch_in_epoch
    if skip == 0:
        w.epoch_means = Means()
    batches = iter(loader)
    for _ in range(skip):  # resume mid-epoch: same order, then the saved RNG states
        next(batches)
    if skip and w.resume_rng is not None:
        set_rng_state(w.resume_rng)
    window = Means()  # train metrics since the last log row
    non_blocking = w.device.type == "cuda"
    for index, batch in enumerate(batches, start=skip):
        if total is not None and index >= total:
            break
        group_start = index - index % accum
        group_end = group_start + accum if total is None else min(group_start + accum, total)
        w.is_update_step = index + 1 == group_end
        w.accum_divisor = group_end - group_start
        with distributed.step_context(w.model, sync=w.is_update_step):
            outputs = w.train_step(to_device(batch, w.device, non_blocking))
        for key, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                window.add(key, value.detach())
                w.epoch_means.add(key, value.detach())
        state.batch_in_epoch = index + 1
        if w.is_update_step:
            state.global_step += 1
            for scheduler in each(w.scheduler):
                scheduler.after_step()
            if state.global_step % log_every == 0:  # a log is due: the only per-step sync
                _log_train(w, window, epoch)
                window = Means()
                if state.diverged:
                    return
    if not window.empty():
        _log_train(w, window, epoch)


def _log_train(w: Any, window: Means, epoch: int) -> None:
    row = distributed.reduced_means(window).compute()  # equal on all ranks: they stop together
    row["lr"] = next((o.param_groups[0]["lr"] for o in each(w.optimizer)), float("nan"))
    w.session.log("train", row, w.state.global_step, epoch)
    w.session.display.update(epoch, w.state.global_step, row)
    bad = [k for k, v in row.items() if "loss" in k and not math.isfinite(v)]
    if bad:
        w.state.diverged = True
        log.warning("non-finite %s at step %s: stopping (diverged)", bad[0], w.state.global_step)


def evaluate(w: Any, flag: str) -> dict[str, float]:
    """Loss, metrics and custom_evaluation over the whole `flag` split (unprefixed names)."""
    loader = w.val_loader if flag == "val" else w.test_loader
    row: dict[str, float] = {}
    if loader is not None:
        metrics = SplitMetrics(list(w.recipe.train.metrics))
        non_blocking = w.device.type == "cuda"
        w.model.eval()
        with torch.no_grad(), distributed.unwrapped(w):  # ranks may have unequal batches
            for index, batch in enumerate(loader):
                if w.session.smoke and index >= SMOKE_BATCHES:
                    break
                batch = to_device(batch, w.device, non_blocking)
                output, loss = w.evaluation_step(batch)
                metrics.update(output, batch_targets(batch), loss, batch_size(batch))
        w.model.train()
        distributed.merge_split(metrics)  # this rank's share -> the whole split's sums
        row = metrics.compute()  # one host sync for the whole split
    with distributed.unwrapped(w):  # runs on every rank; rank 0's values are logged
        row.update({k: float(v) for k, v in (w.custom_evaluation(flag) or {}).items()})
    return row


def evaluate_and_report(w: Any, epoch: int, train_metrics: dict[str, float]) -> dict[str, float]:
    """Evaluate on val, log the row, track best and early stopping, ask on_eval to prune."""
    row = evaluate(w, "val")
    if not row:
        return {}
    w.log_metrics("val", row, epoch=epoch)
    full = {f"val_{k}": v for k, v in row.items()}
    w.end_evaluation({**train_metrics, **full}, epoch=epoch)
    return full


def end_evaluation(w: Any, metrics: dict[str, float], epoch: int) -> bool:
    """Best model, early stopping, display and on_eval after one evaluation; True to stop."""
    recipe, session = w.recipe, w.session
    if recipe.train.monitor.metric not in metrics:
        raise MonitorError(f"train.monitor.metric: '{recipe.train.monitor.metric}' is not among "
                           f"this evaluation's metrics ({', '.join(sorted(metrics))}); set it "
                           "to one of them or return it from custom_evaluation")
    w.state.last_eval = {k: v for k, v in metrics.items() if not k.startswith("train_")}
    if track(w.state, metrics, recipe, epoch):
        w.best_pending = True  # saved with the epoch's checkpoint: one write, not two
    session.display.evaluation(epoch, w.state.global_step, metrics)
    if session.on_eval is not None and session.on_eval(epoch, dict(metrics)):
        w.state.pruned = True
    distributed.sync_state(w.state)  # rank 0 decides best, early stopping and pruning
    after = dataclasses.replace(w.state, epoch=max(epoch, w.state.epoch))
    return stop_reason(after, recipe, session.smoke) is not None


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an IterableDataset without __len__
        return None
