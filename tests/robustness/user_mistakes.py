"""User code that returns the wrong kind of thing, one mistake per function."""

from __future__ import annotations

import torch

from tests.train.tiny import TinyNet, TinyWrapper, make_loader


def int_loader(config, flag):
    return 5


def string_batches(config, flag):
    return ["a", "b"] if flag == "train" else None


class StringLoss(TinyNet):
    def forward(self, x, labels=None):
        return self.net(x), "fast"


class VectorLoss(TinyNet):
    def forward(self, x, labels=None):
        logits = self.net(x)
        return logits, torch.nn.functional.cross_entropy(logits, labels, reduction="none")


class ModelIsAString(TinyWrapper):
    def make_model(self):
        return "resnet"


class OptimizerIsNone(TinyWrapper):
    def make_optimizer(self, model):
        return None


class StepReturnsATensor(TinyWrapper):
    def train_step(self, batch):
        return super().train_step(batch)["loss"]


class EvaluationReturnsOneThing(TinyWrapper):
    def evaluation_step(self, batch):
        return self.forward(batch)[0]


class CustomEvaluationReturnsText(TinyWrapper):
    def custom_evaluation(self, flag):
        return {"score": "high"}


__all__ = ["make_loader"]
