"""A trial folder's recipe.yaml as a recipe again, for `mtrain eval` and `mtrain show`.

recipe.yaml is the resolved recipe with the Derived values the run filled in. Loaded as a
recipe, those values are dropped (config_parser fills them again) and returned apart, so
a reader can still see what the run derived. A recipe.yaml written before `train.loggers`
replaced `train.tensorboard` is read in the new form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from model_trainer.errors import UsageError
from model_trainer.layout import RECIPE
from model_trainer.recipe.load import LoadedRecipe, load_recipe_text
from model_trainer.recipe.markers import Kind
from model_trainer.recipe.resolve import ResolveError, import_object
from model_trainer.recipe.typecheck import kinds_of


def load_trial_recipe(folder: Path, overrides: list[str] | tuple[str, ...] = (),
                      ) -> tuple[LoadedRecipe, dict[str, Any]]:
    """The trial's recipe and the Derived values its run filled in ({dotted key: value})."""
    path = Path(folder) / RECIPE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a recipe mapping")
    derived = {}
    for section in ("model", "data"):
        part = data.get(section)
        if isinstance(part, dict) and part.get("config") and isinstance(part.get("args"), dict):
            try:
                config = import_object(part["config"])
            except ResolveError as exc:
                raise UsageError(f"{path}: {section}.config: {exc}") from None
            for name, (kind, _) in kinds_of(config).items():
                if kind is Kind.DERIVED and name in part["args"]:
                    derived[f"{section}.args.{name}"] = part["args"].pop(name)
    train = data.get("train")
    if isinstance(train, dict) and "tensorboard" in train:  # the key before train.loggers
        train["loggers"] = ["tensorboard"] if train.pop("tensorboard") is True else []
    text = yaml.safe_dump(data, sort_keys=False)
    return load_recipe_text(text, list(overrides), name=str(path)), derived
