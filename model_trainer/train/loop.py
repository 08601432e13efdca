"""The training loop: epochs of train steps and evaluations until the stop predicate
names a reason. Read `Loop.fit` and `Loop.train_epoch` top to bottom: that is all of it.

The loop owns its state (`TrainState`: where training is, what was best; plus the
running train means, the accumulation step and a pending best checkpoint) and only
calls the wrapper's hooks (`train_step`, `evaluation_step`, `custom_evaluation`). The
wrapper reads what a hook may need through read-only views (`wrapper.state`,
`wrapper.accumulation`).

One code path for CPU, CUDA and AMP (the backend differences live in the no-op objects
of `device.Precision`), and for DDP (every `distributed` helper is the identity in a
single process). Host syncs happen only at log points, evaluations and epoch ends: per
step the losses are summed on the device.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from model_trainer.callbacks import overriding
from model_trainer.errors import MonitorError
from model_trainer.metrics_file import EPOCH_SPAN, full_names
from model_trainer.train import checkpoint, contract, distributed, kept
from model_trainer.train.averaging import WeightAverage
from model_trainer.train.cadence import Cadence
from model_trainer.train.data import batch_size, to_device
from model_trainer.train.ema import EMA
from model_trainer.train.metrics import Means, SplitMetrics
from model_trainer.train.optim import each
from model_trainer.train.reporting import Keep, Session
from model_trainer.train.seeding import rng_state, seed_epoch, set_rng_state
from model_trainer.train.state import TrainState
from model_trainer.train.stopping import (
    max_steps_reached,
    step_evaluation_due,
    stop_reason,
    track,
)
from model_trainer.vocabulary import Split, StopReason

if TYPE_CHECKING:
    from model_trainer.wrapper import ModelWrapper

log = logging.getLogger("model_trainer.train")

SMOKE_BATCHES = 2  # batches per split in a smoke run
_AFTER_TRAIN_ROWS = ("on_evaluation_end", "on_epoch_end", "on_train_end")


@dataclass(frozen=True)
class Accumulation:
    """Where the batch `train_step` is given stands in its gradient-accumulation group."""

    micro_batches: int = 1  # batches in this group: `backward` divides the loss by it
    is_update_step: bool = True  # the group's last batch: `train_step` steps the optimizer


NO_ACCUMULATION = Accumulation()


def accumulation_group(index: int, accum: int, total: int | None) -> Accumulation:
    """Batch `index` of an epoch belongs to the group starting at the last multiple of
    `accum`; the epoch's last group holds what is left (fewer batches when `total` is not
    a multiple of `accum`), so every batch's gradient counts and none spills over."""
    if accum == 1:
        return NO_ACCUMULATION
    start = index - index % accum
    end = start + accum if total is None else min(start + accum, total)
    return Accumulation(end - start, index + 1 == end)


class Loop:
    """Trains one wrapper: owns the loop state, calls the hooks, reports to a session."""

    def __init__(self, wrapper: ModelWrapper, session: Session | None = None):
        self.w = wrapper
        self.session = session or Session()
        self.state = TrainState()
        self.accumulation = NO_ACCUMULATION
        self.stepping = False  # in the built-in loop's train_step (weight averages wait)
        self.lookahead: Lookahead | None = None  # this epoch's, for a loader without a length
        self.epoch_means = Means()  # what train_step returned, this epoch (checkpointed)
        self.window = Means()  # the same since the last train log row (checkpointed)
        self.train_metrics = SplitMetrics([])  # train.metrics on this epoch's train batches
        self.best_pending = False  # this epoch's evaluation was the best: save it as best.pt
        train = wrapper.recipe.train
        self.cadence = Cadence(train.checkpoint_every, train.checkpoint_min_interval_s)
        self.resume_rng: dict[str, Any] | None = None  # RNG states of a mid-epoch checkpoint
        self.stop_request: StopReason | None = None  # a signal asked to stop (interrupted...)
        self.callback_stop: str | None = None  # why a callback asked to stop
        self.mid_epoch_stop = False  # train.max_steps or a mid-epoch evaluation ended it early
        self.evaluated_step = -1  # the step of the last mid-epoch evaluation
        self.top: list[tuple[float, int]] | None = None  # keep_best's (value, epoch) so far
        self.keep_top: tuple[int, float] | None = None  # this epoch's evaluation is among them
        self._stopping = False  # every rank agreed to honour stop_request at this point

    # ---- the loop --------------------------------------------------------------------------

    def fit(self) -> None:
        """Train until the stop predicate names a reason; then the test split."""
        state = self.state
        self._call("on_train_start")
        while (reason := self.stop_reason()) is None:
            epoch = state.epoch + 1
            self.train_epoch(epoch)
            if state.diverged or self._stopping:
                continue  # the predicate names it; never checkpoint non-finite weights
            if self.mid_epoch_stop:  # stopped mid-epoch (max_steps, a step evaluation)
                self.mid_epoch_stop = False
                self.end_steps(epoch)
                continue
            self.end_epoch(epoch)
            self._agree_to_stop()
        if reason in (StopReason.INTERRUPTED, StopReason.TERMINATED):
            self.save_checkpoint()  # at a step boundary: a rerun continues exactly here
        elif self.cadence.held_best is not None:  # diverged after a held best: keep it
            self._save(self.cadence.take_best(), best_only=True)
        self.finish(reason)

    def train_epoch(self, epoch: int) -> None:
        """One pass over the train loader (after an interrupt: from batch `batch_in_epoch`)."""
        w, state, recipe = self.w, self.state, self.w.recipe
        accum, log_every = recipe.train.grad_accum, recipe.train.log_every
        by_steps = recipe.train.max_steps is not None or recipe.train.eval_every_steps is not None
        total = SMOKE_BATCHES if self.session.smoke else _length(w.train_loader)
        move = _mover(w.device, recipe.train.channels_last)
        averages = [c.end_batch for c in w.callbacks if isinstance(c, EMA)]
        w.model.train()
        seed_epoch(w.train_loader, recipe.seed, epoch, distributed.rank())  # order, RNG streams
        batches = iter(w.train_loader)
        skip = state.batch_in_epoch
        self._call("on_epoch_start", epoch)
        if skip == 0:
            self.epoch_means, self.window = Means(), Means()
            self.train_metrics = self.split_metrics(whole_split=False)
        for _ in range(skip):  # a resumed epoch: the same order, then the saved RNG states
            next(batches)
        self.lookahead = Lookahead(batches) if total is None and by_steps else None
        if self.lookahead is not None:  # whether a step evaluation or max_steps ends the epoch
            batches = self.lookahead
        if skip and self.resume_rng is not None:
            held = self.resume_rng.get("held")
            if held is not None and self.lookahead is not None:  # fetched early before the
                set_rng_state(held)  # stop: again, from the same states
                self.lookahead.exhausted()
            set_rng_state(self.resume_rng)
        for index, batch in enumerate(batches, start=skip):
            if total is not None and index >= total:
                break
            self.accumulation = accumulation_group(index, accum, total)
            self.stepping = True
            try:
                with distributed.step_context(w.model, sync=self.accumulation.is_update_step):
                    outputs = w.train_step(move(batch))
            finally:
                self.stepping = False
            for end_batch in averages:
                end_batch(w)
            if type(outputs) is not dict:
                contract.check_step_outputs(outputs)
            if outputs:
                for key, value in outputs.items():
                    if isinstance(value, torch.Tensor):
                        self.window.add(key, value)
                        self.epoch_means.add(key, value)
            state.batch_in_epoch = index + 1
            if not self.accumulation.is_update_step:
                continue
            state.global_step += 1
            for scheduler in each(w.scheduler):
                scheduler.after_step()
            log_point = state.global_step % log_every == 0
            if log_point:  # the only per-step host sync
                self._log_train(epoch)
                if state.diverged:
                    return
            if self.stop_request is not None and self._agree_to_stop(log_point):
                return  # a whole step is done: a safe point to save and stop
            if by_steps and (total is None or index + 1 < total) \
                    and self._ends_at_step(epoch):
                self.mid_epoch_stop = True
                return  # mid-epoch: fit saves it there (end_steps)
        self._log_epoch(epoch)
        self._call("on_train_epoch_end", epoch)

    def end_epoch(self, epoch: int) -> None:
        """Evaluate when due, step epoch-wise schedulers, checkpoint."""
        recipe, state = self.w.recipe, self.state
        metrics = full_names(Split.TRAIN, self.epoch_figures)
        if (self.session.smoke or epoch % recipe.train.eval_every == 0
                or epoch == recipe.train.epochs  # the run's last epoch is always evaluated
                or max_steps_reached(state, recipe) or step_evaluation_due(state, recipe)):
            metrics.update(self.evaluate_and_report(epoch, metrics))
        monitor = metrics.get(recipe.train.monitor.metric)
        for scheduler in each(self.w.scheduler):
            scheduler.after_epoch(monitor)
        state.epoch, state.batch_in_epoch = epoch, 0
        self._call("on_epoch_end", epoch, dict(metrics))
        every = recipe.train.checkpoint.keep_every
        kept_now = self.keep_top is not None or (every is not None and epoch % every == 0)
        if self.stop_reason() is not None or self.cadence.due(epoch) or kept_now:
            self.save_checkpoint()  # also makes best.pt when this epoch's evaluation was best
        elif self.best_pending:  # no checkpoint this epoch: the best waits in memory
            self.best_pending = False
            self.cadence.hold_best(self._capture())

    def end_steps(self, epoch: int) -> None:
        """The run ends mid-epoch (train.max_steps, or early stopping at a step evaluation):
        the last train row, an evaluation (unless this step had one), and a checkpoint at
        this step (a rerun with more steps continues from this batch)."""
        if not self.window.empty():
            self._log_train(epoch)
        evaluated = self.evaluated_step == self.state.global_step
        if (self.w.val_loader is not None or self.session.smoke) and not evaluated:
            self.evaluate_and_report(epoch, {}, keep_rng=True)
        self.save_checkpoint()

    def _ends_at_step(self, epoch: int) -> bool:
        """After a mid-epoch optimizer step: evaluate when train.eval_every_steps says so;
        whether the run ends here (early stopping at that evaluation, or train.max_steps).
        Neither on the epoch's last step, found by looking ahead in a loader without a
        length: end_epoch evaluates and counts the epoch there, once."""
        due = step_evaluation_due(self.state, self.w.recipe)
        last = max_steps_reached(self.state, self.w.recipe)
        if (due or last) and self.lookahead is not None and self.lookahead.exhausted():
            return False  # the epoch's last step: end_epoch evaluates and counts it
        return (due and self.evaluate_at_step(epoch)) or last

    def evaluate_at_step(self, epoch: int) -> bool:
        """train.eval_every_steps: evaluate mid-epoch (a val row at this step); a best is
        held for best.pt at once. True when the evaluation says to stop (early stopping)."""
        if self.w.val_loader is None:
            return False
        self.evaluated_step = self.state.global_step
        row = self._evaluate_mid_epoch()
        if not row:
            return False
        self.log(Split.VAL, row, epoch=epoch)
        stop = self.end_evaluation(full_names(Split.VAL, row), epoch, mid_epoch=True)
        if self.best_pending:  # the weights of this step, not of the epoch's end
            self.best_pending = False
            self.cadence.hold_best(self._capture())
        return stop

    def finish(self, reason: StopReason) -> None:
        """Name the stop reason; evaluate the test split when the run ended normally."""
        state, w = self.state, self.w
        state.stop_reason = reason
        message = f"stopped: {reason} (epoch {state.epoch}, step {state.global_step})"
        log.info(message)
        self.session.display.message(message)
        if reason.evaluates_test and w.test_loader is not None:
            state.test_checkpoint = self._load_best_weights()
            row = self.evaluate(Split.TEST)
            self.session.log(Split.TEST, row, state.global_step, state.epoch,
                             checkpoint=state.test_checkpoint)
            state.last_eval.update(full_names(Split.TEST, row))
        self._call("on_train_end", str(reason))

    def _load_best_weights(self) -> str:
        """Put the best checkpoint's weights in the model for the test split, as the
        monitor chose them; "last" when there is none (no evaluation, no folder)."""
        folder = self.session.checkpoint_dir
        if folder is not None and self.state.best is not None \
                and self.state.best.get("step") == self.state.global_step:
            return "best"  # the last evaluation was the best: the model holds its weights
        best = folder / checkpoint.BEST if folder is not None else None
        self.session.flush()
        distributed.barrier()  # rank 0 has finished writing it
        if self.state.best is None or best is None or not best.exists():
            return "last"
        saved = checkpoint.load_file(best)
        distributed.unwrap(self.w.model).load_state_dict(saved["model"])
        for callback, state in zip(self.w.callbacks, saved.get("callbacks") or [],
                                   strict=False):  # a weight average's, at the best epoch
            if isinstance(callback, WeightAverage):  # (the others' state is not rewound)
                callback.on_checkpoint_load(self.w, state)
        return "best"

    def stop_reason(self) -> StopReason | None:
        reason = stop_reason(self.state, self.w.recipe, self.session.smoke)
        if self.callback_stop is not None and reason is not StopReason.DIVERGED:
            return StopReason.CALLBACK
        if self._stopping and reason is not StopReason.DIVERGED:
            return self.stop_request
        return reason

    def _agree_to_stop(self, synced_point: bool = True) -> bool:
        """Whether to honour a stop request now. Ranks of a DDP trial must stop at the same
        step, so they agree only where they meet anyway (log points, epoch ends)."""
        if not distributed.active():
            self._stopping = self.stop_request is not None
        elif synced_point:
            self._stopping = distributed.any_rank(self.stop_request is not None)
            if self._stopping and self.stop_request is None:  # asked on another rank
                self.stop_request = StopReason.INTERRUPTED
        return self._stopping

    # ---- evaluation ------------------------------------------------------------------------

    def evaluate(self, flag: str) -> dict[str, float]:
        """Loss, metrics and custom_evaluation over the whole split (unprefixed names)."""
        loader = self.w.val_loader if flag == Split.VAL else self.w.test_loader
        self._call("on_evaluation_start", flag)
        try:
            return self._evaluate(flag, loader)
        finally:
            self._call("on_evaluation_done", flag)

    def _evaluate_mid_epoch(self) -> dict[str, float]:
        """`evaluate` on val with the RNGs put back after it: the rest of the epoch draws
        the same random numbers however often it is evaluated (a loader's iterator draws
        a seed, a custom evaluation may sample), so a run stopped at a step and resumed
        equals one that never stopped there. (At an epoch's end the next epoch seeds
        them again.)"""
        before = rng_state()
        try:
            return self.evaluate(Split.VAL)
        finally:
            set_rng_state(before)

    def _evaluate(self, flag: str, loader: Any) -> dict[str, float]:
        w = self.w
        row: dict[str, float] = {}
        if loader is not None:
            metrics = self.split_metrics(whole_split=True)
            move = _mover(w.device, w.recipe.train.channels_last)
            w.model.eval()
            index = -1
            with torch.no_grad(), distributed.unwrapped(w):  # ranks may have unequal batches
                for index, batch in enumerate(loader):
                    if self.session.smoke and index >= SMOKE_BATCHES:
                        break
                    batch = move(batch)
                    result = w.evaluation_step(batch)
                    if index == 0:
                        contract.check_evaluation(result)
                    output, loss = result
                    predictions, targets = (w.metric_inputs(output, batch)
                                            if metrics.wants_predictions else (None, None))
                    metrics.update(predictions, targets, loss, batch_size(batch))
            w.model.train()
            if index < 0 and not distributed.active():  # a split of ranks may hold none
                raise contract.no_batches(flag)  # an iterable without a length, empty
            distributed.merge_split(metrics)  # this rank's share -> the whole split's sums
            row = metrics.compute()  # one host sync for the whole split
        with distributed.unwrapped(w):  # runs on every rank; rank 0's values are logged
            row.update(contract.check_custom_evaluation(w.custom_evaluation(flag), flag))
        return row

    def split_metrics(self, whole_split: bool) -> SplitMetrics:
        """The recipe's metrics, empty: for one evaluation, or for one train epoch."""
        recipe = self.w.recipe
        return SplitMetrics(list(recipe.train.metrics), binary_output=recipe.train.binary_output,
                            recipe=recipe, whole_split=whole_split)

    def evaluate_and_report(self, epoch: int, train_metrics: dict[str, float],
                            keep_rng: bool = False) -> dict[str, float]:
        """Evaluate on val (`keep_rng`: mid-epoch), log the row, track best and early
        stopping, ask on_eval to prune."""
        row = self._evaluate_mid_epoch() if keep_rng else self.evaluate(Split.VAL)
        if not row:
            return {}
        self.log(Split.VAL, row, epoch=epoch)
        full = full_names(Split.VAL, row)
        self.end_evaluation({**train_metrics, **full}, epoch=epoch)
        return full

    def end_evaluation(self, metrics: dict[str, float], epoch: int,
                       mid_epoch: bool = False) -> bool:
        """Best model, early stopping, display and on_eval after the evaluation of `epoch`
        (full metric names); True when the loop should stop after this epoch (or now, for
        a `mid_epoch` evaluation: those are not ranked for keep_best nor given to on_eval,
        whose pruners count epochs)."""
        recipe, session, state = self.w.recipe, self.session, self.state
        if recipe.train.monitor.metric not in metrics:
            raise MonitorError(f"train.monitor.metric: '{recipe.train.monitor.metric}' is not "
                               f"among this evaluation's metrics ({', '.join(sorted(metrics))}); "
                               "set it to one of them or return it from custom_evaluation")
        state.last_eval = {k: v for k, v in metrics.items() if not k.startswith("train_")}
        self._call("on_evaluation_end", epoch, dict(metrics))
        if not mid_epoch:
            self._rank_for_keeping(metrics[recipe.train.monitor.metric], epoch)
        if track(state, metrics, recipe, epoch):
            self.best_pending = True  # saved with the epoch's checkpoint: one write, not two
        session.display.evaluation(epoch, state.global_step, metrics)
        if not mid_epoch and session.on_eval is not None and session.on_eval(epoch, dict(metrics)):
            state.pruned = True
        distributed.sync_state(state)  # rank 0 decides best, early stopping and pruning
        if mid_epoch:
            return stop_reason(state, recipe, session.smoke) is not None
        # Evaluations run before `state.epoch` counts the epoch as done: ask the predicate
        # about the state once this epoch is done.
        once_done = dataclasses.replace(state, epoch=max(epoch, state.epoch))
        return stop_reason(once_done, recipe, session.smoke) is not None

    def _call(self, moment: str, *args: Any) -> None:
        """Call `moment` on each callback that overrides it (train/callbacks.py)."""
        called = overriding(self.w.callbacks, moment)
        own_row = bool(called) and moment in _AFTER_TRAIN_ROWS
        if own_row:  # what they log here is a train row of its own, now
            window, self.window = self.window, Means()
        for callback in called:
            getattr(callback, moment)(self.w, *args)
        if own_row:
            logged, self.window = self.window, window
            if not logged.empty():
                row = distributed.reduced_means(logged).compute()
                self.session.log(Split.TRAIN, row, self.state.global_step, self.state.epoch)
        if moment == "on_epoch_end" and self.callback_stop is not None:
            message = f"a callback asked to stop: {self.callback_stop}"
            log.info(message)
            self.session.display.message(message)

    # ---- files -----------------------------------------------------------------------------

    def log(self, split: str, metrics: dict[str, float], epoch: int | None = None) -> None:
        """Append a metrics row at the current step (names without the split prefix)."""
        self.session.log(split, {k: float(v) for k, v in metrics.items()},
                         self.state.global_step, self.state.epoch if epoch is None else epoch)

    def save_checkpoint(self) -> None:
        """Save `last` atomically; nothing without a checkpoint folder. After an evaluation
        that was best, `best` is the same file; a best state held since an earlier epoch
        is written as `best` first. Kept copies (train.checkpoint) are made from it."""
        best_too, self.best_pending = self.best_pending, False
        held = self.cadence.take_best()
        state = self._capture()
        if held is not None and not best_too:
            self._save(held, best_only=True)
        self._save(state, best_too=best_too, keep=self._keep())
        self.cadence.saved()

    def _keep(self) -> Keep | None:
        """What this epoch's checkpoint is also kept as (train.checkpoint)."""
        spec, epoch, top = self.w.recipe.train.checkpoint, self.state.epoch, self.keep_top
        self.keep_top = None
        every = f"epoch-{epoch:04d}.pt" if spec.keep_every and epoch % spec.keep_every == 0 \
            and self.state.batch_in_epoch == 0 else None
        ranked = (*top, spec.keep_best, self.w.recipe.train.monitor.mode) \
            if top is not None else None  # this checkpoint's evaluation joined the k best
        return Keep(every, ranked) if every or ranked else None

    def _rank_for_keeping(self, value: float, epoch: int) -> None:
        """Whether this evaluation joins keep_best's k best so far (its checkpoint is then
        written at the epoch's end and kept)."""
        k, mode = self.w.recipe.train.checkpoint.keep_best, self.w.recipe.train.monitor.mode
        if k <= 0 or not math.isfinite(value) or self.session.checkpoint_dir is None:
            return
        if self.top is None:  # a resumed run: what the files kept
            self.top = [(e["value"], e["epoch"]) for e in kept.top_list(
                self.session.checkpoint_dir)]
        ranked = sorted([*(t for t in self.top if t[1] != epoch), (value, epoch)],
                        reverse=mode == "max")[:k]
        if (value, epoch) in ranked:
            self.top, self.keep_top = ranked, (epoch, value)

    def _capture(self) -> dict[str, Any] | None:
        """The state a checkpoint holds (tensors still the live ones); None where nothing
        is saved. Runs on every rank: gathering the RNG states is a collective."""
        rngs = rng_state()
        if self.lookahead is not None and self.lookahead.holds():  # a batch fetched early:
            rngs["held"] = self.lookahead.rng_before  # a resume fetches it from these again
        rank_rngs = distributed.gather(rngs)
        if (self.session.checkpoint_dir is None or not self.session.saves_checkpoints
                or self.w.model is None):
            return None
        return checkpoint.capture(self, rank_rngs)

    def _save(self, state: dict[str, Any] | None, best_only: bool = False,
              best_too: bool = False, keep: Keep | None = None) -> None:
        if state is None:
            return
        self.session.check_folder()
        self.session.save_checkpoint(state, self.state.to_dict(), best_only=best_only,
                                     best_too=best_too, keep=keep)

    def _log_epoch(self, epoch: int) -> None:
        """The epoch's train row, at its last step: the means of what train_step returned
        over the whole epoch (all ranks) and train.metrics over its batches. These are the
        train figures the evaluation line shows (train_loss, train_accuracy, ...)."""
        self.window = Means()  # its steps are in the epoch's means
        figures = distributed.reduced_means(self.epoch_means).compute()
        if self.train_metrics.wants_predictions:
            distributed.merge_split(self.train_metrics)
            measured = self.train_metrics.compute()
            if not measured and not self._warned_untracked:
                self._warned_untracked = True
                log.warning("train.metrics are not reported on the train split: this "
                            "train_step does not call self.track_train_metrics(output, batch)")
            figures.update(measured)
        self.epoch_figures = figures
        if figures:
            self.session.log(Split.TRAIN, {**figures, "lr": self._lr()}, self.state.global_step,
                             epoch, span=EPOCH_SPAN)
            self._check_finite(figures)

    _warned_untracked = False
    epoch_figures: dict[str, float] = {}  # the last epoch's train row (unprefixed names)

    def _lr(self) -> float:
        """The learning rate of the last optimizer step (a warmup's scaling included)."""
        rate = next((o.param_groups[0]["lr"] for o in each(self.w.optimizer)), float("nan"))
        return rate * self.w.warmup_factor(self.state.global_step)

    def _check_finite(self, row: dict[str, float]) -> None:
        bad = [k for k, v in row.items() if "loss" in k and not math.isfinite(v)]
        if bad:
            self.state.diverged = True
            log.warning("non-finite %s at step %s: stopping (diverged)", bad[0],
                        self.state.global_step)

    def _log_train(self, epoch: int) -> None:
        """A train row at a log point: the means since the last one."""
        window, self.window = self.window, Means()
        row = distributed.reduced_means(window).compute()  # equal on all ranks: they stop together
        row["lr"] = self._lr()
        self.session.log(Split.TRAIN, row, self.state.global_step, epoch)
        self.session.display.update(epoch, self.state.global_step, row)
        self._check_finite(row)


class Lookahead:
    """An iterator that can say whether another item follows, by fetching it early; the
    RNG states from before that fetch are kept (a checkpoint taken while the item is held
    saves them beside the current ones: a resume fetches it again from them, drawing the
    same random numbers, then goes on from the current ones)."""

    _EMPTY = object()

    def __init__(self, items: Any):
        self.items, self.held = items, self._EMPTY
        self.rng_before: dict[str, Any] | None = None

    def __iter__(self) -> Lookahead:
        return self

    def __next__(self) -> Any:
        if self.held is not self._EMPTY:
            item, self.held = self.held, self._EMPTY
            return item
        return next(self.items)

    def exhausted(self) -> bool:
        if self.held is self._EMPTY:
            self.rng_before = rng_state()
            self.held = next(self.items, self._EMPTY)
        return self.held is self._EMPTY

    def holds(self) -> bool:
        """Whether an item was fetched early and not taken yet."""
        return self.held is not self._EMPTY


def _mover(device: torch.device, channels_last: bool = False) -> Any:
    """Batch -> batch on `device` (the identity on CPU, where loaders already put it);
    with `channels_last`, its 4-d tensors (images) in that memory format too."""
    non_blocking = device.type == "cuda"  # pinned host memory copies asynchronously
    if channels_last:
        return lambda batch: to_device(batch, device, non_blocking, channels_last=True)
    if device.type == "cpu":
        return lambda batch: batch
    return lambda batch: to_device(batch, device, non_blocking)


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an IterableDataset without __len__
        return None
