"""model_trainer: typed YAML recipes -> PyTorch experiments and ablation studies.

Light on import: the recipe markers come from pure-Python modules; `ModelWrapper`,
`make_loader` and `run` (which need torch) load on first use, so `import
model_trainer.cli` stays fast.
"""

from typing import TYPE_CHECKING, Any

from model_trainer.callbacks import Callback
from model_trainer.recipe.markers import MISSING, Derived, Stateful, Stateless
from model_trainer.recipe.schema import DataConfig, ModelConfig

__version__ = "0.1.0"

__all__ = [
    "MISSING", "Callback", "DataConfig", "Derived", "ModelConfig", "ModelWrapper", "Stateful",
    "Stateless",
    "load_recipe", "load_trial", "make_loader", "run", "__version__",
]

if TYPE_CHECKING:
    from model_trainer.api import run
    from model_trainer.train.data import make_loader
    from model_trainer.trial.reload import load_any_recipe as load_recipe
    from model_trainer.trial.reload import load_trial
    from model_trainer.wrapper import ModelWrapper


def __getattr__(name: str) -> Any:
    if name == "ModelWrapper":
        from model_trainer.wrapper import ModelWrapper

        return ModelWrapper
    if name == "make_loader":
        from model_trainer.train.data import make_loader

        return make_loader
    if name == "run":
        from model_trainer.api import run

        return run
    if name == "load_trial":
        from model_trainer.trial.reload import load_trial

        return load_trial
    if name == "load_recipe":
        from model_trainer.trial.reload import load_any_recipe

        return load_any_recipe
    raise AttributeError(f"module 'model_trainer' has no attribute {name!r}")
