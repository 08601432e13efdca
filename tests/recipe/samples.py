"""A valid base recipe that the recipe and CLI tests mutate."""

from __future__ import annotations

BASE = """\
name: tiny
seed: 0
device: auto
model:
  target: tests.recipe.userconf.TinyModel
  config: tests.recipe.userconf.TinyConfig
  args:
    hidden: 8
    act: relu
data:
  target: tests.recipe.userconf.make_loader
train:
  epochs: 2
  batch_size: 4
  optimizer: {name: adamw, lr: 1.0e-3}
"""
