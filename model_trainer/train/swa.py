"""Stochastic weight averaging (`train.swa: {start_epoch: N}`), as torch.optim.swa_utils
computes it: after the train batches of each epoch from N on, the average of the weights
at those epoch ends takes the new ones in (a running mean: avg += (w - avg) / n). From
then on evaluations use the average as train/averaging.py says; batch-norm statistics are
recomputed for it before each such evaluation by a pass over the train split (what
torch's `update_bn` does) and the model's own are put back after; the recomputed ones are
saved with the average, so `load_trial` gives the model that was evaluated.
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.train.averaging import WeightAverage, load_norms, norm_buffers, norms, params
from model_trainer.train.data import call_model, to_device
from model_trainer.train.distributed import unwrap


class SWA(WeightAverage):
    def __init__(self, start_epoch: int):
        super().__init__()
        self.start_epoch, self.count = start_epoch, 0
        self.average_norms: list[dict[str, torch.Tensor]] | None = None  # for the average
        self.norms_count = 0  # the `count` of the average those statistics were made for
        self.own_norms: list[dict[str, torch.Tensor]] | None = None  # during evaluations

    def on_train_epoch_end(self, wrapper: Any, epoch: int) -> None:
        if epoch < self.start_epoch:
            return
        weights = [p.detach() for p in params(wrapper.model)]
        self.count += 1
        if self.average is None:
            self.average = [w.clone() for w in weights]
        else:
            torch._foreach_lerp_(self.average, weights, 1.0 / self.count)

    def on_evaluation_start(self, wrapper: Any, flag: str) -> None:
        super().on_evaluation_start(wrapper, flag)  # the average in the model's weights
        if self.average is not None and norms(wrapper.model):
            self.own_norms = norm_buffers(wrapper.model)
            if self.average_norms is not None and self.norms_count == self.count:
                load_norms(wrapper.model, self.average_norms)  # this average's, made before
            else:
                self._update_norms(wrapper)
                self.average_norms, self.norms_count = norm_buffers(wrapper.model), self.count

    def on_evaluation_done(self, wrapper: Any, flag: str) -> None:
        if self.own_norms is not None:
            load_norms(wrapper.model, self.own_norms)
            self.own_norms = None
        super().on_evaluation_done(wrapper, flag)

    def on_checkpoint_save(self, wrapper: Any) -> Any:
        return {"swa_count": self.count, "average": self.average, "norms": self.average_norms,
                "norms_count": self.norms_count}

    def on_checkpoint_load(self, wrapper: Any, state: Any) -> None:
        super().on_checkpoint_load(wrapper, state)
        if isinstance(state, dict):
            self.count = int(state.get("swa_count") or 0)
            self.norms_count = int(state.get("norms_count", -1))  # older files: made again
            self.average_norms = state.get("norms")

    def _update_norms(self, wrapper: Any) -> None:
        """Batch-norm running statistics of the averaged weights: a pass over the train
        split in train mode, gradients off, each layer's cumulative mean (momentum None);
        through the plain module (no DDP buffer broadcasts)."""
        if wrapper.train_loader is None:
            return
        layers = norms(wrapper.model)
        momenta = [norm.momentum for norm in layers]
        for norm in layers:
            norm.reset_running_stats()
            norm.momentum = None
        model = unwrap(wrapper.model)
        was_training = model.training
        model.train()
        with torch.no_grad():
            for batch in wrapper.train_loader:
                call_model(model, to_device(batch, wrapper.device))
        for norm, momentum in zip(layers, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)
