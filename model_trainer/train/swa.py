"""Stochastic weight averaging (`train.swa: {start_epoch: N}`), as torch.optim.swa_utils
computes it: after the train batches of each epoch from N on, the average of the weights
at those epoch ends takes the new ones in (a running mean: avg += (w - avg) / n). From
then on, evaluations (val and test), the monitor, best.pt and `load_trial` use the
average, swapped in as train.ema's is; batch-norm statistics are recomputed for it before
each such evaluation by a pass over the train split (what torch's `update_bn` does), and
the model's own are put back after. The average and its count are saved in the
checkpoint, so a resumed run continues it exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.train.data import call_model, to_device
from model_trainer.train.distributed import unwrap
from model_trainer.train.ema import EMA, params


class SWA(EMA):
    def __init__(self, start_epoch: int):
        super().__init__(decay=0.0)
        self.start_epoch, self.count = start_epoch, 0
        self.norm_buffers: list[dict[str, torch.Tensor]] | None = None  # during evaluations

    def on_train_start(self, wrapper: Any) -> None:
        pass  # no average before start_epoch

    def on_after_optimizer_step(self, wrapper: Any, optimizers: list) -> None:
        pass

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
        if self.average is not None:
            self._update_norms(wrapper)

    def on_evaluation_done(self, wrapper: Any, flag: str) -> None:
        if self.norm_buffers is not None:
            with torch.no_grad():
                for norm, kept in zip(_norms(wrapper.model), self.norm_buffers, strict=True):
                    for name, value in kept.items():
                        getattr(norm, name).copy_(value)
            self.norm_buffers = None
        super().on_evaluation_done(wrapper, flag)

    def on_checkpoint_save(self, wrapper: Any) -> Any:
        return {"swa_count": self.count, "average": self.average}

    def on_checkpoint_load(self, wrapper: Any, state: Any) -> None:
        super().on_checkpoint_load(wrapper, state)
        if isinstance(state, dict):
            self.count = int(state.get("swa_count") or 0)

    def _update_norms(self, wrapper: Any) -> None:
        """Batch-norm running statistics of the averaged weights: a pass over the train
        split in train mode, gradients off, each layer's cumulative mean (momentum None)."""
        norms = _norms(wrapper.model)
        if not norms or wrapper.train_loader is None:
            return
        self.norm_buffers = [{name: buffer.clone() for name, buffer in
                              norm.named_buffers(recurse=False)} for norm in norms]
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
        model, was_training = wrapper.model, wrapper.model.training
        model.train()
        with torch.no_grad():
            for batch in wrapper.train_loader:
                call_model(model, to_device(batch, wrapper.device))
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)


def _norms(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in unwrap(model).modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
