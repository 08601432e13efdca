"""The benchmark workloads: one model, one dataset and one batch size each, shared by
the plain PyTorch loop, model_trainer and Lightning so that only the trainer differs."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from model_trainer.callbacks import Callback


class DictDataset(Dataset):
    def __init__(self, x: torch.Tensor, labels: torch.Tensor):
        self.x, self.labels = x, labels

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.labels[i]}


class MLP(nn.Module):
    """Digits MLP: small enough that the trainer's per-step overhead shows."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x, labels):
        logits = self.net(x)
        return logits, F.cross_entropy(logits, labels)


class SmallCNN(nn.Module):
    """A small CNN on 3x32x32 images: compute-dominated."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(2 * width, 10)

    def forward(self, x, labels):
        logits = self.head(self.features(x).flatten(1))
        return logits, F.cross_entropy(logits, labels)


@functools.cache
def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    return DictDataset(x[:1400], y[:1400]), DictDataset(x[1400:], y[1400:])


@functools.cache
def _images():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1280, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (1280,), generator=g)
    return DictDataset(x[:1024], y[:1024]), DictDataset(x[1024:], y[1024:])


def make_loader(config, flag):
    """model_trainer's data target; the other trainers call it with the same config."""
    train, val = _digits() if config.data.args["workload"] == "mlp" else _images()
    dataset = train if flag == "train" else val
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(dataset, batch_size=config.train.batch_size, shuffle=flag == "train",
                      generator=generator)


WORKLOADS = {
    "mlp": {"model": "benchmarks.workloads.MLP", "batch_size": 64, "lr": 1e-3},
    "cnn": {"model": "benchmarks.workloads.SmallCNN", "batch_size": 64, "lr": 1e-3},
}


def plain_train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader) -> None:
    """One epoch of the loop a researcher writes by hand."""
    model.train()
    for batch in loader:
        _, loss = model(**batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def plain_evaluate(model: nn.Module, loader) -> tuple[float, float]:
    """(loss, accuracy) over a split by hand, with one host sync at the end."""
    model.eval()
    correct, total, loss_sum = 0, 0, torch.zeros(())
    with torch.no_grad():
        for batch in loader:
            logits, loss = model(**batch)
            loss_sum += loss * len(batch["labels"])
            correct += (logits.argmax(1) == batch["labels"]).sum()
            total += len(batch["labels"])
    return float(loss_sum / total), float(correct / total)


class Tiny(nn.Module):
    """A near-free trial's model: one linear layer (what is left to time is the trainer)."""

    def __init__(self, width: int = 1):
        super().__init__()
        self.width = width
        self.linear = nn.Linear(4, 2)

    def forward(self, x, labels):
        logits = self.linear(x)
        return logits, F.cross_entropy(logits, labels)


def tiny_loader(config, flag):
    """32 rows of 4 features: two batches of 16."""
    generator = torch.Generator().manual_seed(0 if flag == "train" else 1)
    x = torch.randn(32, 4, generator=generator)
    return DataLoader(DictDataset(x, (x[:, 0] > 0).long()), batch_size=16,
                      shuffle=flag == "train", generator=generator)



class StepCallback(Callback):
    """Called after every optimizer step: what a callback in `train.callbacks` costs."""

    steps = 0

    def on_after_optimizer_step(self, wrapper, optimizers):
        self.steps += 1
