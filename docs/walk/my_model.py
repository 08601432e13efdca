"""My model and my data: a small MLP on scikit-learn's 8x8 digits."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from model_trainer import ModelConfig, make_loader


@dataclass
class NetConfig(ModelConfig):
    hidden: int = 64
    dropout: float = 0.0


class Net(nn.Module):
    def __init__(self, config: NetConfig):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(64, config.hidden), nn.ReLU(),
                                    nn.Dropout(config.dropout), nn.Linear(config.hidden, 10))

    def forward(self, x, labels=None):  # the batch's keys, by name
        logits = self.layers(x)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


def digits(config, flag):
    """`data.target`: the loader of split `flag` (train, val or test; None: no such split)."""
    if flag == "test":
        return None
    x, y = load_digits(return_X_y=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    part = order[:1400] if flag == "train" else order[1400:]
    rows = [{"x": torch.tensor(x[i] / 16, dtype=torch.float32), "labels": int(y[i])}
            for i in part]
    return make_loader(rows, config, flag)  # batch size, shuffling, seeding from the recipe
