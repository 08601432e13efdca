"""A trial folder's recipe.yaml as a recipe again, for `mtrain eval` and `mtrain show`.

recipe.yaml is the resolved recipe with the Derived values the run filled in, as
view.recipe_yaml wrote it. It is read by the same strict rules as any recipe (errors name
its lines); the Derived values are dropped (config_parser fills them again) and returned
apart, so a reader can still see what the run derived. A recipe.yaml written before
`train.loggers` replaced `train.tensorboard` is read in the new form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_trainer.errors import RecipeError, UsageError
from model_trainer.layout import RECIPE
from model_trainer.recipe.load import LoadedRecipe, load_recipe_source
from model_trainer.recipe.markers import Kind
from model_trainer.recipe.resolve import ResolveError, import_object
from model_trainer.recipe.typecheck import kinds_of
from model_trainer.recipe.yaml_source import read_yaml_file


def load_trial_recipe(folder: Path, overrides: list[str] | tuple[str, ...] = (),
                      ) -> tuple[LoadedRecipe, dict[str, Any]]:
    """The trial's recipe and the Derived values its run filled in ({dotted key: value})."""
    path = Path(folder) / RECIPE
    source = read_yaml_file(path)
    if source.data is None and source.issues:
        raise RecipeError(source.issues)
    data = source.data
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
    return load_recipe_source(source, overrides), derived
