"""Typed recipes: schema, markers, loading with located errors, identity. No torch here.

The names below load on first use (PEP 562), so that importing one light module of the
package (`model_trainer` imports the markers) does not import the loader and OmegaConf.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model_trainer.lazy import lazy_names

_WHERE = {
    "attribute_kinds": "identity", "study_id": "identity", "to_plain": "identity",
    "trial_id": "identity",
    "LoadedRecipe": "load", "load_recipe": "load", "load_recipe_text": "load",
    "MISSING": "markers", "Derived": "markers", "Kind": "markers", "Stateful": "markers",
    "Stateless": "markers",
    "DataConfig": "schema", "ModelConfig": "schema", "Recipe": "schema",
}
__all__ = [
    "MISSING", "DataConfig", "Derived", "Kind", "LoadedRecipe", "ModelConfig", "Recipe", "Stateful",
    "Stateless", "attribute_kinds", "load_recipe", "load_recipe_text", "study_id", "to_plain",
    "trial_id",
]

if TYPE_CHECKING:
    from model_trainer.recipe.identity import attribute_kinds, study_id, to_plain, trial_id
    from model_trainer.recipe.load import LoadedRecipe, load_recipe, load_recipe_text
    from model_trainer.recipe.markers import MISSING, Derived, Kind, Stateful, Stateless
    from model_trainer.recipe.schema import DataConfig, ModelConfig, Recipe


__getattr__, __dir__ = lazy_names(__name__, {
    name: f"model_trainer.recipe.{module}" for name, module in _WHERE.items()})
