"""Datasets kept between the trials one process runs (a study's worker runs many).

A study's trials often differ only in the model or the optimizer: their data factory is
called with the same `data` section and seed and builds the same dataset again (reading
files, decoding: seconds for every short trial). The first loader's dataset is kept, keyed
by the factory, the `data` section, the seed and the split; a later call with the same key
gets a new loader around the kept dataset, made by `make_loader` for that trial's recipe
(its batch size, workers, device, seeded order), and the factory is not called. The key
also holds the working directory and the fingerprint of the files the data section
names (recipe/fingerprint.py), so a changed file or another directory is read again.

Only a loader that `model_trainer.make_loader` made with nothing but the recipe's options
is kept; a loader the factory built otherwise is made again each time. A factory whose
dataset depends on more than the `data` section, the seed and the split (a model
argument, say) must switch this off with `data.cache: false`.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from model_trainer.recipe.fingerprint import data_fingerprint
from model_trainer.recipe.identity import to_plain
from model_trainer.train.data import make_loader

KEPT = 4  # datasets, the least recently used dropped first
NO_SPLIT = object()  # the factory returned None: the recipe's data has no such split
_kept: OrderedDict[str, Any] = OrderedDict()


def cached_loader(recipe: Any, flag: str, factory: Callable[[], Any]) -> Any:
    """The loader of split `flag`: from `factory`, or around the dataset an earlier call
    with the same data section, seed and split left here."""
    if not recipe.data.cache:
        return factory()
    key = json.dumps([recipe.data.target, to_plain(recipe.data.args), recipe.seed, flag,
                      os.getcwd(), data_fingerprint(recipe, declared=False)],
                     sort_keys=True, default=repr)
    if key in _kept:
        _kept.move_to_end(key)
        dataset = _kept[key]
        return None if dataset is NO_SPLIT else make_loader(dataset, recipe, flag)
    loader = factory()
    if loader is None or getattr(loader, "made_from_recipe", False):
        _kept[key] = NO_SPLIT if loader is None else loader.dataset
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return loader
