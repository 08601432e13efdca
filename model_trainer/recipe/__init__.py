"""Typed recipes: schema, markers, loading with located errors, identity. No torch here."""

from model_trainer.recipe.identity import attribute_kinds, study_id, to_plain, trial_id
from model_trainer.recipe.load import LoadedRecipe, load_recipe, load_recipe_text
from model_trainer.recipe.markers import MISSING, Derived, Kind, Stateful, Stateless
from model_trainer.recipe.schema import DataConfig, ModelConfig, Recipe

__all__ = [
    "MISSING", "DataConfig", "Derived", "Kind", "LoadedRecipe", "ModelConfig", "Recipe", "Stateful",
    "Stateless", "attribute_kinds", "load_recipe", "load_recipe_text", "study_id", "to_plain",
    "trial_id",
]
