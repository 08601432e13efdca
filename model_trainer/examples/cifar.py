"""A small ResNet on CIFAR10 with dict batches `{"x", "labels", "custom_input"}`.

`data.args.source: cifar10` downloads CIFAR10 into `data.args.root` when online;
`source: fake` uses torchvision's FakeData of the same shape (3x32x32, 10 classes) so
tests and offline checks run the same code. `custom_input` shows a batch key beyond
the image and the label: each image's mean brightness, fed to the classifier head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from model_trainer import MISSING, DataConfig, Derived, ModelConfig, ModelWrapper, Stateless
from model_trainer import make_loader as recipe_loader


@dataclass
class ResNetConfig(ModelConfig):
    width: int = 16
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])  # per stage; stride 2 after 1st
    num_classes: Derived[int] = MISSING  # filled by CifarWrapper.config_parser


@dataclass
class CifarDataConfig(DataConfig):  # named by data.config: types data.args
    source: Literal["cifar10", "fake"] = "cifar10"
    root: Stateless[str] = "data"  # where CIFAR10 is (or is downloaded to)
    download: Stateless[bool] = True
    augment: bool = True  # random crop + flip on the train split
    fake_size: int = 512  # FakeData samples per split


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.skip(x))


class ResNet(nn.Module):
    """Stem -> stages of residual blocks (width doubles per stage) -> pool -> head."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        width = config.width
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage, count in enumerate(config.blocks):
            cout = width * 2**stage
            for i in range(count):
                layers.append(Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(cin + 1, config.num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                custom_input: torch.Tensor | None = None):
        features = F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)
        extra = custom_input if custom_input is not None else x.mean(dim=(1, 2, 3))
        logits = self.head(torch.cat([features, extra.unsqueeze(1).to(features.dtype)], dim=1))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


class DictImages(Dataset):
    """(image, label) samples -> {"x", "labels", "custom_input"}."""

    def __init__(self, base: Any):
        self.base = base
        self.classes = list(getattr(base, "classes", None) or range(base.num_classes))

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, label = self.base[index]
        return {"x": image, "labels": int(label), "custom_input": image.mean()}


_MEAN, _STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def make_loader(config: Any, flag: str):
    """`data.target`: CIFAR10 (or FakeData) train/val loaders; the val split is CIFAR's test set."""
    if flag == "test":
        return None
    import torchvision.transforms as T
    from torchvision import datasets

    args: CifarDataConfig = config.data.args
    steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] \
        if args.augment and flag == "train" else []
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize(_MEAN, _STD)])
    if args.source == "fake":
        base = datasets.FakeData(size=args.fake_size, image_size=(3, 32, 32), num_classes=10,
                                 transform=transform,
                                 random_offset=0 if flag == "train" else 10_000_000)
    else:
        base = datasets.CIFAR10(args.root, train=flag == "train", transform=transform,
                                download=args.download)
    return recipe_loader(DictImages(base), config, flag)


class CifarWrapper(ModelWrapper):
    """The default loop; the number of classes comes from the dataset."""

    def config_parser(self, recipe: Any) -> None:
        recipe.model.args.num_classes = len(self.train_loader.dataset.classes)
