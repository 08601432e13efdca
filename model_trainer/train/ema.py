"""An exponential moving average of the weights (`train.ema: {decay: 0.999}`).

After every training step, each floating-point parameter's average moves towards it:
ema = decay * ema + (1 - decay) * weight (one fused `torch._foreach` update on the
device). A step is a batch of the built-in loop once its train_step has returned, however
many optimizers it stepped (a GAN steps two: the average still moves once); in a custom
fit(), every optimizer step. Evaluations use it as train/averaging.py says. Buffers
(batch-norm statistics) are the model's own.
"""

from __future__ import annotations

from typing import Any

import torch

from model_trainer.train.averaging import WeightAverage, params


class EMA(WeightAverage):
    def __init__(self, decay: float):
        super().__init__()
        self.decay = decay
        self.weights: list[torch.Tensor] | None = None  # the live parameters
        self.stepped = False  # an optimizer stepped in the batch running now

    def on_train_start(self, wrapper: Any) -> None:
        if self.average is None:  # not restored from a checkpoint
            self.average = [p.detach().clone() for p in params(wrapper.model)]

    def on_after_optimizer_step(self, wrapper: Any, optimizers: list) -> None:
        if wrapper.loop.stepping:  # the loop's batch: moved once its train_step is done
            self.stepped = True
        else:
            self._move(wrapper)

    def end_batch(self, wrapper: Any) -> None:
        """The built-in loop's batch is done (its train_step returned)."""
        if self.stepped:
            self.stepped = False
            self._move(wrapper)

    def _move(self, wrapper: Any) -> None:
        if self.average is None:
            self.on_train_start(wrapper)
        if self.weights is None:  # the list is made once
            self.weights = [p.detach() for p in params(wrapper.model)]
        torch._foreach_lerp_(self.average, self.weights, 1.0 - self.decay)

    def on_checkpoint_save(self, wrapper: Any) -> Any:
        return {"decay": self.decay, "average": self.average}
