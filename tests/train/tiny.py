"""Tiny user code for the training tests: a dataset, a model, wrappers, a recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from model_trainer import MISSING, Derived, ModelConfig, ModelWrapper
from model_trainer.examples.digits import DictDataset
from model_trainer.recipe import load_recipe_text
from model_trainer.train.data import make_loader as recipe_loader

RECIPE = """\
name: tiny
seed: 0
device: cpu
model:
  target: tests.train.tiny.TinyNet
  config: tests.train.tiny.TinyConfig
  args: {hidden: 8, dropout: 0.2}
data:
  target: tests.train.tiny.make_loader
  args: {n: 96}
wrapper: tests.train.tiny.TinyWrapper
train:
  epochs: 3
  batch_size: 16
  optimizer: {name: adamw, lr: 1.0e-2}
  metrics: [accuracy]
  log_every: 2
  progress: "off"
"""


@dataclass
class TinyConfig(ModelConfig):
    hidden: int = 8
    dropout: float = 0.2
    num_classes: Derived[int] = MISSING


class TinyNet(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, config.hidden), nn.ReLU(),
                                 nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden, config.num_classes))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        logits = self.net(x)
        return logits, (F.cross_entropy(logits, labels) if labels is not None else None)


class DictOutNet(TinyNet):
    """TinyNet whose output is a dict: the logits and a per-sample score beside them."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        logits, loss = super().forward(x, labels)
        return {"logits": logits, "score": logits.max(dim=1).values}, loss


def tensors(n: int, seed: int = 123) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes, separable by the sign pattern of two features (plus noise)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y


def make_loader(config: Any, flag: str):
    if flag == "test":
        return None
    n = int(config.data.args.get("n", 96))
    x, y = tensors(n, seed=123 if flag == "train" else 456)
    return recipe_loader(DictDataset(x=x, labels=y), config, flag)


def make_loader_with_test(config: Any, flag: str):
    """Train, val and a test split of their own."""
    n = int(config.data.args.get("n", 96))
    x, y = tensors(n, seed={"train": 123, "val": 456, "test": 789}[flag])
    return recipe_loader(DictDataset(x=x, labels=y), config, flag)


def make_tuple_loader(config: Any, flag: str):
    if flag == "test":
        return None
    x, y = tensors(int(config.data.args.get("n", 96)), seed=123 if flag == "train" else 456)
    return recipe_loader(TensorDataset(x, y), config, flag)


class TinyWrapper(ModelWrapper):
    def config_parser(self, recipe: Any) -> None:
        recipe.model.args.num_classes = 3


def load(tmp_path, *overrides: str, text: str = RECIPE):
    """The tiny recipe with output_dir under tmp_path plus overrides."""
    return load_recipe_text(text, [f"output_dir={tmp_path}", *overrides])


class InterruptingWrapper(TinyWrapper):
    """Sends itself SIGINT during train_step call number `interrupt_at`, as Ctrl-C does
    (`twice`: Ctrl-C pressed twice, which stops at once, in the middle of the step)."""

    interrupt_at: int | None = None
    twice = False

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        import os
        import signal

        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == type(self).interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
            if type(self).twice:
                os.kill(os.getpid(), signal.SIGINT)
        return super().train_step(batch)


class SlowWrapper(TinyWrapper):
    """Sleeps TINY_SLEEP seconds per train step (so a subprocess can be killed mid-run)."""

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        import os
        import time

        time.sleep(float(os.environ.get("TINY_SLEEP", "0")))
        return super().train_step(batch)


class LinearNet(nn.Module):
    """Linear regression: forward(x, labels) -> (prediction, mse)."""

    def __init__(self, features: int = 4):
        super().__init__()
        self.linear = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        out = self.linear(x).squeeze(-1)
        return out, (F.mse_loss(out, labels) if labels is not None else None)


def make_regression_loader(config: Any, flag: str):
    if flag == "test":
        return None
    g = torch.Generator().manual_seed(1 if flag == "train" else 2)
    x = torch.randn(int(config.data.args.get("n", 64)), 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    return recipe_loader(DictDataset(x=x, labels=y), config, flag)


LINEAR = """\
name: linear
seed: 0
device: cpu
model:
  target: tests.train.tiny.LinearNet
  args: {features: 4}
data:
  target: tests.train.tiny.make_regression_loader
  args: {n: 64}
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: sgd, lr: 5.0e-2}
  metrics: [mse, mae]
  log_every: 1000
  progress: "off"
"""


def failing_backend(graph_module: Any, example_inputs: Any) -> Any:
    """A torch.compile backend that cannot compile anything (for the compile tests)."""
    raise RuntimeError("this backend compiles nothing")
