"""ModelWrapper: the hooks one experiment is built from, each overridable on its own.

Order of a run: `setup()` calls `make_dataloader("train" | "val" | "test")` ->
`config_parser(recipe)` fills Derived values -> the recipe is frozen and checked ->
`make_model()` -> `make_optimizer(model)` -> `make_scheduler(optimizer, steps_per_epoch)`;
then the trial resumes from its last checkpoint when there is one and calls `fit()`,
whose loop (`self.loop`, a `model_trainer.train.loop.Loop`) calls `train_step(batch)`,
`evaluation_step(batch)` and `custom_evaluation(flag)`.

The model's `forward` receives a dict batch's keys as keyword arguments (a tuple batch
positionally) and returns `(output, loss)`. When `loss` is None the default `train_step`
updates nothing: override `train_step` (with `make_optimizer` returning several
optimizers, for a GAN) and use the building blocks `self.forward`, `self.backward` and
`self.optimizer_step`. Hooks read the loop through views: `self.state` (epoch, step,
best) and `self.accumulation` (is this batch the last of its accumulation group?).

Under `train.strategy: ddp` the hooks run on every rank: the loaders are re-made per
rank (`train.shard`), `self.model` is a DDP wrapper (other attributes reach your module)
and `optimizer_step` averages gradients when the step did not go through its forward.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from model_trainer.callbacks import overriding
from model_trainer.errors import UsageError
from model_trainer.recipe.resolve import import_object
from model_trainer.train import contract, distributed
from model_trainer.train.compiling import compiled
from model_trainer.train.data import batch_targets, call_model, check_batch_keys
from model_trainer.train.data_cache import cached_loader
from model_trainer.train.determinism import set_deterministic
from model_trainer.train.device import Precision, resolve_device
from model_trainer.train.ema import EMA
from model_trainer.train.hook_checks import check_derived
from model_trainer.train.loop import Accumulation, Loop
from model_trainer.train.optim import as_scheduler, build_optimizer, build_scheduler, each
from model_trainer.train.seeding import seed_everything
from model_trainer.train.shard import shard_loader
from model_trainer.train.state import TrainState
from model_trainer.train.swa import SWA

PREDICTION_KEYS = ("preds", "predictions", "y_pred", "logits", "scores", "probs", "output")
OUTPUT_TARGET_KEYS = ("y_true", "targets", "labels", "target", "y")


class ModelWrapper:
    """One experiment's model, data, optimization and loop; subclass it to customize."""

    def __init__(self, recipe: Any):
        self.recipe = recipe
        self.config = recipe  # `self.config["train"]["batch_size"]` reads the same recipe
        self.device: torch.device | None = None
        self.precision: Precision | None = None
        self.train_loader: Any = None
        self.val_loader: Any = None
        self.test_loader: Any = None
        self.model: torch.nn.Module | None = None
        self.optimizer: Any = None  # an optimizer, or a list/tuple/dict of them
        self.scheduler: Any = None  # a train.optim.Scheduler, a list of them, or None
        self.scaler: torch.amp.GradScaler | None = None
        self.loop = Loop(self)  # a trial gives it a session that writes the trial's files
        self._batch_checked = False
        self.callbacks: list[Any] = []  # train.callbacks, built by setup
        self._before_step: list[Any] = []  # those that override on_before_optimizer_step
        self._after_step: list[Any] = []  # ... and on_after_optimizer_step
        self._warmup_steps: int | None = None  # train.scheduler.warmup in optimizer steps

    # ---- hooks ---------------------------------------------------------------------------

    def make_dataloader(self, flag: str) -> Any:
        """The loader of split `flag` (train | val | test); None means no such split. A
        dataset made for an earlier trial with the same data is reused (data.cache)."""
        factory = import_object(self.recipe.data.target)
        return cached_loader(self.recipe, flag, lambda: factory(self.recipe, flag))

    def config_parser(self, recipe: Any) -> None:
        """Fill Derived values (e.g. `recipe.model.args.num_classes`) from the loaders."""

    def make_model(self) -> torch.nn.Module:
        """`target(args)` when `model.config` types the args, else `target(**args)`."""
        section = self.recipe.model
        target = import_object(section.target)
        return target(section.args) if section.config else target(**section.args)

    def make_optimizer(self, model: torch.nn.Module) -> Any:
        """An optimizer (or several, in a list/tuple/dict, for a custom `train_step`)."""
        return build_optimizer(self.recipe, model.parameters())

    def make_scheduler(self, optimizer: Any, steps_per_epoch: int | None) -> Any:
        """`train.scheduler` for each optimizer; None when the name is `none`."""
        built = [build_scheduler(self.recipe, o, steps_per_epoch) for o in each(optimizer)]
        built = [s for s in built if s is not None]
        if not built:
            return None
        return built[0] if len(built) == 1 and not isinstance(optimizer, list | tuple | dict) \
            else built

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Forward, backward and (at the end of an accumulation group) an optimizer step.

        Returns the tensors to log (summed on the device, logged every `train.log_every`).
        """
        output, loss = self.forward(batch)
        if loss is None:  # the model makes no loss: an overriding train_step updates
            return {}
        self.backward(loss)
        if self.accumulation.is_update_step:
            self.optimizer_step()
        self.track_train_metrics(output, batch)
        return {"loss": loss.detach()}

    def evaluation_step(self, batch: Any) -> tuple[Any, torch.Tensor | None]:
        """`(output, loss)` of one evaluation batch (gradients are off)."""
        return self.forward(batch)

    def metric_inputs(self, output: Any, batch: Any) -> tuple[Any, Any]:
        """`(predictions, targets)` for `train.metrics` from a step's output and its batch.

        A tensor output is the predictions; a dict output's predictions are its first entry
        named preds, predictions, y_pred, logits, scores, probs or output, and its targets
        the entry named y_true, targets, labels, target or y, else the batch's targets.
        """
        if isinstance(output, dict):
            predictions = next((output[k] for k in PREDICTION_KEYS if k in output), output)
            targets = next((output[k] for k in OUTPUT_TARGET_KEYS if k in output), None)
            return predictions, targets if targets is not None else batch_targets(batch)
        return output, batch_targets(batch)

    def custom_evaluation(self, flag: str) -> dict[str, float]:
        """Extra metrics merged into the evaluation row of split `flag` (unprefixed names)."""
        return {}

    def fit(self) -> None:
        """The whole loop (`self.loop.fit()`); override to train another way, reporting
        through `self.loop.log`, `self.loop.end_evaluation` and `self.loop.save_checkpoint`."""
        self.loop.fit()

    def checkpoint_extra(self) -> Any:
        """Extra state for checkpoints (tensors and plain types); restored by the next hook."""
        return None

    def load_checkpoint_extra(self, extra: Any) -> None:
        """The mirror of `checkpoint_extra`."""

    # ---- read-only views of the loop -------------------------------------------------------

    @property
    def state(self) -> TrainState:
        """Where training is: epoch, global_step, best, last evaluation."""
        return self.loop.state

    @property
    def accumulation(self) -> Accumulation:
        """The accumulation group of the batch `train_step` was given."""
        return self.loop.accumulation

    # ---- building blocks for hooks --------------------------------------------------------

    def forward(self, batch: Any) -> tuple[Any, torch.Tensor | None]:
        """Run the model on a batch under the recipe's precision; the batch and what the
        model returns are checked on the first call."""
        if self._batch_checked:
            with self.precision.autocast():
                return call_model(self.model, batch)
        contract.check_batch(batch, "train" if self.model.training else "evaluation")
        check_batch_keys(self.model, batch)
        with self.precision.autocast():
            result = contract.check_forward(self.model, call_model(self.model, batch))
        self._batch_checked = True
        return result

    def backward(self, loss: torch.Tensor) -> None:
        """Scaled (fp16) backward of the loss averaged over the accumulation group."""
        micro_batches = self.loop.accumulation.micro_batches
        if micro_batches != 1:
            loss = loss / micro_batches
        self.scaler.scale(loss).backward()

    def optimizer_step(self, optimizer: Any = None) -> None:
        """Clip (when `train.grad_clip`), step and zero the grads of `optimizer` (default all)."""
        optimizers = list(each(optimizer if optimizer is not None else self.optimizer))
        distributed.average_gradients(self.model, optimizers)  # unless DDP's backward did
        train = self.recipe.train
        measure = train.grad_clip is not None or train.log_grad_norm
        if measure or self._before_step:
            for opt in optimizers:
                self.scaler.unscale_(opt)  # the real gradients: their norm is the true one
            for callback in self._before_step:
                callback.on_before_optimizer_step(self, optimizers)
            if measure:
                self._clip_and_log_norm(optimizers)
        step = self.loop.state.global_step + 1
        if self._warmup_steps is not None and step < self._warmup_steps:
            self._step_scaled(optimizers, step / self._warmup_steps)
        else:
            for opt in optimizers:
                self.scaler.step(opt)
        self.scaler.update()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        for callback in self._after_step:
            callback.on_after_optimizer_step(self, optimizers)

    def _clip_and_log_norm(self, optimizers: list[Any]) -> None:
        """train.grad_clip and train.log_grad_norm on the unscaled gradients."""
        train = self.recipe.train
        params = [p for opt in optimizers for g in opt.param_groups for p in g["params"]]
        if train.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        if train.log_grad_norm:  # summed on the device; read at the log point
            self.log_value("grad_norm", norm)

    def _step_scaled(self, optimizers: list[Any], factor: float) -> None:
        """A warmup step: each rate scaled by `factor` for this step, then given back to
        the schedule."""
        for opt in optimizers:
            rates = [g["lr"] for g in opt.param_groups]
            for g in opt.param_groups:
                g["lr"] = g["lr"] * factor
            self.scaler.step(opt)
            for g, rate in zip(opt.param_groups, rates, strict=True):
                g["lr"] = rate

    def warmup_factor(self, step: int) -> float:
        """What `train.scheduler.warmup` scales optimizer step `step` (1-based) by."""
        length = self._warmup_steps
        return 1.0 if length is None or step >= length else step / length

    def log_value(self, name: str, value: float | torch.Tensor) -> None:
        """Add a value to the train rows (the mean since the last log point, and over the
        epoch): for a callback or a custom train_step. A tensor stays on the device."""
        value = value.detach() if isinstance(value, torch.Tensor) else \
            torch.tensor(float(value), device=self.device)
        self.loop.window.add(name, value)
        self.loop.epoch_means.add(name, value)

    def gather(self, value: Any) -> list[Any]:
        """Every DDP rank's `value` (picklable), in rank order; `[value]` in one process.
        A collective: every rank must call it (in `custom_evaluation`, which runs on all)."""
        return distributed.gather(value)

    def request_stop(self, why: str) -> None:
        """Ask the loop to stop after this epoch (stop reason `callback`; `why` is logged)."""
        self.loop.callback_stop = why

    def track_train_metrics(self, output: Any, batch: Any) -> None:
        """Add a train batch's output to the epoch's `train.metrics` (`train_accuracy`...),
        summed on the device; a custom `train_step` calls it to report them too."""
        metrics = self.loop.train_metrics
        if metrics.wants_predictions:
            predictions, targets = self.metric_inputs(output, batch)
            metrics.update(predictions, targets, None, 0)

    def steps_per_epoch(self) -> int | None:
        """Optimizer steps per epoch (None for a loader without a length)."""
        try:
            return math.ceil(len(self.train_loader) / self.recipe.train.grad_accum)
        except TypeError:
            return None

    def setup(self) -> None:
        """Seed -> loaders -> config_parser -> freeze and check -> model, optimizer, scheduler."""
        recipe = self.recipe
        set_deterministic(recipe.train.deterministic)  # before anything runs on the device
        seed_everything(recipe.seed)  # model init and any randomness in the loaders
        self.device = distributed.rank_device(resolve_device(recipe.device))
        self.precision = Precision(self.device, recipe.train.precision)
        rank, world = distributed.rank(), distributed.world_size()
        self.train_loader, self.val_loader, self.test_loader = (
            shard_loader(contract.check_loader(self.make_dataloader(flag), flag), flag, rank,
                         world) for flag in ("train", "val", "test"))
        self.config_parser(recipe)
        recipe.freeze()
        check_derived(recipe)
        module = contract.check_model(self.make_model()).to(self.device)
        if recipe.train.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.optimizer = self.make_optimizer(module)  # on the module's own parameters
        if recipe.train.compile:
            module = compiled(module, recipe)
        contract.check_optimizers(list(each(self.optimizer)))
        self.model = distributed.wrap_model(module, self.device)  # DDP under strategy ddp
        scheduler = self.make_scheduler(self.optimizer, self.steps_per_epoch())
        interval = recipe.train.scheduler.interval
        self.scheduler = ([as_scheduler(s, interval) for s in scheduler]
                          if isinstance(scheduler, list | tuple) else as_scheduler(scheduler, interval))
        self.scaler = self.precision.scaler()
        warmup = recipe.train.scheduler.warmup
        if warmup is not None:
            self._warmup_steps = warmup.steps or warmup.epochs * (self.steps_per_epoch() or 0)
            if not self._warmup_steps:
                raise UsageError("train.scheduler.warmup.epochs needs a train loader with a "
                                 "length (give warmup.steps instead)")
        self.callbacks = [import_object(c)() if isinstance(c, str) else
                          import_object(c.target)(**c.args) for c in recipe.train.callbacks]
        if recipe.train.ema is not None:
            self.callbacks.append(EMA(recipe.train.ema.decay))
        if recipe.train.swa is not None:
            self.callbacks.append(SWA(recipe.train.swa.start_epoch))
        self._before_step = overriding(self.callbacks, "on_before_optimizer_step")
        self._after_step = overriding(self.callbacks, "on_after_optimizer_step")
