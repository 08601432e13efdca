"""model_trainer: typed YAML recipes -> PyTorch experiments and ablation studies.

Light on import: every name below loads on first use (`ModelWrapper`, `make_loader` and
`run` need torch), so `import model_trainer.cli` stays fast and `mtrain` handles a signal
from its first milliseconds.
"""

from typing import TYPE_CHECKING

from model_trainer.lazy import lazy_names

__version__ = "0.1.0"

__all__ = [  # written out for type checkers and linters; tests/test_imports.py checks it
    "MISSING", "Callback", "DataConfig", "Derived", "ModelConfig", "ModelWrapper", "Stateful",
    "Stateless", "load_recipe", "load_trial", "make_loader", "run", "__version__",
]

if TYPE_CHECKING:
    from model_trainer.api import run
    from model_trainer.callbacks import Callback
    from model_trainer.recipe.markers import MISSING, Derived, Stateful, Stateless
    from model_trainer.recipe.schema import DataConfig, ModelConfig
    from model_trainer.train.data import make_loader
    from model_trainer.trial.reload import load_any_recipe as load_recipe
    from model_trainer.trial.reload import load_trial
    from model_trainer.wrapper import ModelWrapper

# name -> (module, attribute): each loads on first use, so that `python -m model_trainer`
# installs its signal handlers (cli/entry.py) a few milliseconds after it starts
_LAZY = {
    "MISSING": ("model_trainer.recipe.markers", "MISSING"),
    "Derived": ("model_trainer.recipe.markers", "Derived"),
    "Stateful": ("model_trainer.recipe.markers", "Stateful"),
    "Stateless": ("model_trainer.recipe.markers", "Stateless"),
    "Callback": ("model_trainer.callbacks", "Callback"),
    "DataConfig": ("model_trainer.recipe.schema", "DataConfig"),
    "ModelConfig": ("model_trainer.recipe.schema", "ModelConfig"),
    "ModelWrapper": ("model_trainer.wrapper", "ModelWrapper"),
    "make_loader": ("model_trainer.train.data", "make_loader"),
    "run": ("model_trainer.api", "run"),
    "load_trial": ("model_trainer.trial.reload", "load_trial"),
    "load_recipe": ("model_trainer.trial.reload", "load_any_recipe"),
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
