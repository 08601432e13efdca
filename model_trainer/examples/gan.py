"""A GAN on 2-D points: custom training is a hook override, not a fight with the loop.

The model's forward returns `(samples, None)`: with no loss the default `train_step`
does nothing, so `GANWrapper.train_step` makes the two updates itself with the two
optimizers its `make_optimizer` returns. `custom_evaluation` reports how far the
generated distribution's mean and spread are from the real one (`val_moment_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from model_trainer import ModelConfig, ModelWrapper
from model_trainer import make_loader as recipe_loader

CENTER, SPREAD = (2.0, -1.0), 0.5


@dataclass
class GANConfig(ModelConfig):
    latent: int = 4
    hidden: int = 32


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, cout))


class GAN(nn.Module):
    def __init__(self, config: GANConfig):
        super().__init__()
        self.latent = config.latent
        self.generator = _mlp(config.latent, config.hidden, 2)
        self.discriminator = _mlp(2, config.hidden, 1)

    def sample(self, n: int) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.generator(torch.randn(n, self.latent, device=device))

    def forward(self, points: torch.Tensor):
        return self.sample(points.shape[0]), None  # no loss: the wrapper trains it


def real_points(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.tensor(CENTER) + SPREAD * torch.randn(n, 2, generator=generator)


def make_loader(config: Any, flag: str):
    """`data.target`: real points for train; no val/test loaders (custom_evaluation)."""
    if flag != "train":
        return None
    size = int(dict(config.data.args).get("size", 2048))
    return recipe_loader(TensorDataset(real_points(size, config.seed)), config, flag)


class GANWrapper(ModelWrapper):
    def make_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, ...]:
        lr = self.recipe.train.optimizer.lr
        return (torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
                torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999)))

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        (real,) = batch
        opt_g, opt_d = self.optimizer
        gan = self.model
        ones = torch.ones(real.shape[0], 1, device=real.device)
        zeros = torch.zeros_like(ones)
        opt_d.zero_grad(set_to_none=True)
        with self.precision.autocast():
            fake = gan.sample(real.shape[0])
            d_loss = (F.binary_cross_entropy_with_logits(gan.discriminator(real), ones)
                      + F.binary_cross_entropy_with_logits(gan.discriminator(fake.detach()), zeros))
        self.backward(d_loss)
        self.optimizer_step(opt_d)
        with self.precision.autocast():
            g_loss = F.binary_cross_entropy_with_logits(gan.discriminator(fake), ones)
        self.backward(g_loss)
        self.optimizer_step(opt_g)
        opt_d.zero_grad(set_to_none=True)  # the generator's backward reached D's params too
        return {"loss_d": d_loss.detach(), "loss_g": g_loss.detach()}

    def custom_evaluation(self, flag: str) -> dict[str, float]:
        with torch.no_grad():
            fake = self.model.sample(2048).float().cpu()
        mean_error = (fake.mean(0) - torch.tensor(CENTER)).norm()
        std_error = (fake.std(0) - SPREAD).abs().mean()
        return {"moment_error": float(mean_error + std_error)}
