"""An MLP on scikit-learn's digits (8x8 images, 10 classes; ships with sklearn, offline).

This is also the `config_parser` example: `MLPConfig.num_classes` is Derived, and
`DigitsWrapper.config_parser` fills it from the training data before the model is built.
Features are standardized with the train split's statistics; the train/val split is
fixed by `data.args.split_seed`, so every seed of a study is evaluated on the same data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from model_trainer import MISSING, Derived, ModelConfig, ModelWrapper
from model_trainer import make_loader as recipe_loader


@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 128
    dropout: float = 0.1
    num_classes: Derived[int] = MISSING  # filled by DigitsWrapper.config_parser


class MLP(nn.Module):
    """64 pixels -> hidden -> hidden -> classes; `forward(x, labels)` -> (logits, loss)."""

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.num_classes),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        logits = self.net(x)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


class DictDataset(Dataset):
    """Tensors -> dict samples (`{"x": ..., "labels": ...}`), collated into dict batches."""

    def __init__(self, **tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}


@functools.lru_cache(maxsize=4)
def digits_splits(val_fraction: float = 0.2, split_seed: int = 0):
    """(train, val) DictDatasets, standardized with the train statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=split_seed, stratify=y)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # pixels that are always blank in train stay 0, not huge

    def dataset(features, labels) -> DictDataset:
        return DictDataset(x=torch.tensor((features - mean) / std, dtype=torch.float32),
                           labels=torch.tensor(labels, dtype=torch.long))

    return dataset(x_train, y_train), dataset(x_val, y_val)


def make_loader(config: Any, flag: str):
    """`data.target`: the DataLoader of split `flag` (no test split: None)."""
    if flag == "test":
        return None
    args = dict(config.data.args)
    train, val = digits_splits(float(args.get("val_fraction", 0.2)), int(args.get("split_seed", 0)))
    return recipe_loader(train if flag == "train" else val, config, flag)


class DigitsWrapper(ModelWrapper):
    """The default loop; `config_parser` reads the number of classes from the data."""

    def config_parser(self, recipe: Any) -> None:
        labels = self.train_loader.dataset.tensors["labels"]
        recipe.model.args.num_classes = int(labels.max()) + 1
