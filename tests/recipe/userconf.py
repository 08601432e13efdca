"""User code that the recipe tests point at: a typed model config, a model, a loader."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from model_trainer import MISSING, Derived, ModelConfig, Stateless

CONSTANT = 3


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class InnerConfig(ModelConfig):
    depth: int = 2
    trace: Stateless[bool] = False


@dataclass
class TinyConfig(ModelConfig):
    hidden: int = 8
    act: Literal["relu", "gelu"] = "relu"
    layers: list[int] = field(default_factory=lambda: [4, 4])
    norm: float | None = None
    color: Color = Color.RED
    inner: InnerConfig = field(default_factory=InnerConfig)
    table: dict[str, int] = field(default_factory=dict)
    log_activations: Stateless[bool] = False
    num_classes: Derived[int] = MISSING


class TinyModel:
    """Stands in for an nn.Module: the recipe checks only need something callable."""

    def __init__(self, config: TinyConfig):
        self.config = config


def plain_model(hidden: int, depth: int = 2):
    return (hidden, depth)


def make_loader(config, flag):
    return [flag]
