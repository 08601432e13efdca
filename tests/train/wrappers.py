"""Wrapper subclasses overriding one hook each, for tests/test_wrapper.py."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from model_trainer.examples.digits import DictDataset
from model_trainer.train.data import make_loader as recipe_loader
from tests.train.tiny import TinyNet, TinyWrapper, make_tuple_loader, tensors

CALLS: list[str] = []  # hooks record themselves here


class TupleLoaders(TinyWrapper):
    def make_dataloader(self, flag: str) -> Any:
        CALLS.append(f"make_dataloader:{flag}")
        return make_tuple_loader(self.recipe, flag)


class WideModel(TinyWrapper):
    def make_model(self) -> nn.Module:
        args = self.recipe.model.args
        return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, args.num_classes))

    def make_dataloader(self, flag: str) -> Any:
        return make_tuple_loader(self.recipe, flag)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.model(x), y)
        self.backward(loss)
        self.optimizer_step()
        return {"loss": loss.detach()}

    def evaluation_step(self, batch: Any) -> tuple[Any, torch.Tensor]:
        x, y = batch
        logits = self.model(x)
        return logits, torch.nn.functional.cross_entropy(logits, y)


class FrozenOptimizer(TinyWrapper):
    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=0.0)


class HalvingScheduler(TinyWrapper):
    def make_scheduler(self, optimizer: Any, steps_per_epoch: int | None) -> Any:
        CALLS.append(f"make_scheduler:{steps_per_epoch}")
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)


class ExtraTrainMetric(TinyWrapper):
    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        out = super().train_step(batch)
        return {**out, "batch_mean": batch["x"].mean()}


class ConstantEvaluation(TinyWrapper):
    def evaluation_step(self, batch: Any) -> tuple[Any, torch.Tensor | None]:
        logits = torch.zeros(batch["x"].shape[0], 3)
        logits[:, 0] = 1.0  # always class 0
        return logits, None


class Answer(TinyWrapper):
    def custom_evaluation(self, flag: str) -> dict[str, float]:
        return {"answer": 42.0 + self.state.epoch}


class OwnFit(TinyWrapper):
    def fit(self) -> None:
        for epoch in range(1, self.recipe.train.epochs + 1):
            self.state.global_step += 1
            self.loop.log("train", {"loss": 1.0 / epoch}, epoch=epoch)
            row = {"loss": 2.0 / epoch}
            self.loop.log("val", row, epoch=epoch)
            self.loop.end_evaluation({"val_loss": row["loss"]}, epoch)
            self.state.epoch = epoch
            self.loop.save_checkpoint()


class NoDerived(TinyWrapper):
    def config_parser(self, recipe: Any) -> None:
        CALLS.append("config_parser")


class BadSignatures(TinyWrapper):
    def make_dataloader(self, flag: str) -> Any:
        CALLS.append("make_dataloader")
        return super().make_dataloader(flag)

    def train_step(self) -> dict:  # missing batch
        return {}

    def custom_evaluation(self, flag: str, extra: int) -> dict:  # one too many
        return {}


class WrongKeys(TinyWrapper):
    def make_dataloader(self, flag: str) -> Any:
        if flag == "test":
            return None
        x, y = tensors(32)
        return recipe_loader(DictDataset(inputs=x, labels=y), self.recipe, flag)


class SingleOutput(TinyWrapper):
    def make_model(self) -> nn.Module:
        class Plain(TinyNet):
            def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
                return self.net(x)

        return Plain(self.recipe.model.args)
