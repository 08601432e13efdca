"""Hand the training to Lightning's Trainer by overriding `fit()`; keep model_trainer's files.

`LightningWrapper.fit` wraps the recipe's model in a LightningModule that uses the
wrapper's optimizer, and a Lightning Callback reports back: a train row every
`train.log_every` steps, a val row per evaluation, best tracking, early stopping,
on_eval (study pruning) and a checkpoint per epoch. metrics.jsonl and status.json
therefore look like any other trial's, so reruns, studies and analysis work on it.
A rerun after an interruption restores the weights and optimizer and trains the
remaining epochs (Lightning's own data order: not bit-identical to an uninterrupted run).
Lightning is an optional extra: it is imported inside `fit`.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from model_trainer.examples.digits import DigitsWrapper


def _module(wrapper: Any) -> Any:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = wrapper.model

        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            _, loss = self.net(**batch)
            return loss

        def validation_step(self, batch: dict, batch_idx: int) -> None:
            logits, loss = self.net(**batch)
            size = batch["labels"].shape[0]
            accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
            self.log("val_loss", loss, batch_size=size, on_epoch=True)
            self.log("val_accuracy", accuracy, batch_size=size, on_epoch=True)

        def configure_optimizers(self) -> Any:
            return wrapper.optimizer

    return Module()


def _bridge(wrapper: Any, first_epoch: int, first_step: int) -> Any:
    import lightning as L

    class Bridge(L.Callback):
        """Lightning events -> model_trainer's state, metrics.jsonl and checkpoints."""

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            wrapper.state.global_step = first_step + trainer.global_step
            if wrapper.state.global_step % wrapper.recipe.train.log_every == 0:
                lr = trainer.optimizers[0].param_groups[0]["lr"]
                wrapper.loop.log("train", {"loss": float(outputs["loss"]), "lr": lr},
                                    epoch=first_epoch + trainer.current_epoch + 1)

        def on_validation_epoch_end(self, trainer, module) -> None:
            if trainer.sanity_checking:
                return
            epoch = first_epoch + trainer.current_epoch + 1
            row = {k[4:]: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("val_")}
            wrapper.loop.log("val", row, epoch=epoch)
            if wrapper.loop.end_evaluation({f"val_{k}": v for k, v in row.items()}, epoch):
                trainer.should_stop = True

        def on_train_epoch_end(self, trainer, module) -> None:
            wrapper.state.epoch = first_epoch + trainer.current_epoch + 1
            wrapper.loop.save_checkpoint()

    return Bridge()


class LightningWrapper(DigitsWrapper):
    """The digits MLP trained by `lightning.Trainer` instead of the built-in loop."""

    def fit(self) -> None:
        import lightning as L

        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        remaining = self.recipe.train.epochs - self.state.epoch
        if remaining <= 0:
            return
        trainer = L.Trainer(
            max_epochs=remaining, accelerator="gpu" if self.device.type == "cuda" else "cpu",
            devices=[self.device.index or 0] if self.device.type == "cuda" else 1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0,
            callbacks=[_bridge(self, self.state.epoch, self.state.global_step)],
            check_val_every_n_epoch=self.recipe.train.eval_every,
            gradient_clip_val=self.recipe.train.grad_clip,
            accumulate_grad_batches=self.recipe.train.grad_accum,
        )
        trainer.fit(_module(self), self.train_loader, self.val_loader)
