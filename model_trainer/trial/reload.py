"""Use what was trained: a finished trial's model back in Python, from its folder alone.

`load_trial(folder)` rebuilds the trial's wrapper from its own recipe.yaml (resolved and
self-contained, with the Derived values its run filled in), builds the model, loads the
chosen checkpoint's weights and puts the model in eval mode. Data loaders are built only
when asked (`data=True`, which runs the wrapper's whole setup as training did).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model_trainer.errors import UsageError
from model_trainer.layout import CHECKPOINTS, RECIPE, STATUS
from model_trainer.recipe.load import LoadedRecipe, load_recipe
from model_trainer.recipe.resolve import add_working_directory_to_path, import_object
from model_trainer.recipe.trial_file import load_trial_recipe
from model_trainer.storage import is_uri, local_copy
from model_trainer.train import checkpoint, distributed
from model_trainer.train.averaging import averaged_weights
from model_trainer.train.device import Precision
from model_trainer.trial.evaluate import CHECKPOINT_FILES

ONE_PROCESS = ["train.strategy=single", "train.devices=1", "train.progress=off",
               "train.compile=false"]  # a trained model is run, not compiled again


def load_trial(path: str | Path, checkpoint_name: str = "best", *, trial_id: str | None = None,
               data: bool = False, device: str = "cpu") -> Any:
    """The trial's wrapper with its model trained: `path` is a trial folder, or a study
    folder with `trial_id` (either may be in study.storage: `s3://...`); `checkpoint_name`
    is "best" or "last"; `.model` is the nn.Module (in eval mode, on `device`; with
    train.ema or train.swa, its averaged weights); `data=True` also builds the loaders."""
    if is_uri(path):  # a trial in study.storage: copied, checkpoints included, first
        path = local_copy(f"{str(path).rstrip('/')}/{trial_id}" if trial_id else str(path),
                          checkpoints=True)
        trial_id = None
    folder = trial_folder(Path(path), trial_id)
    if checkpoint_name not in CHECKPOINT_FILES:
        raise UsageError(f"checkpoint must be one of {', '.join(CHECKPOINT_FILES)}, got "
                         f"{checkpoint_name!r}")
    file = folder / CHECKPOINTS / CHECKPOINT_FILES[checkpoint_name]
    if not file.is_file():
        raise UsageError(f"{folder} has no {file.name} (no checkpoint of that kind was written)")
    add_working_directory_to_path()
    loaded, derived = load_trial_recipe(folder, [*ONE_PROCESS, f"device={device}"])
    recipe = loaded.recipe
    wrapper = import_object(recipe.wrapper)(recipe)
    if data:
        wrapper.setup()  # loaders, config_parser (Derived values again), model, optimizer
        module = distributed.unwrap(wrapper.model)
    else:
        for key, value in derived.items():  # what config_parser filled when it trained
            section, _, name = key.rpartition(".")
            args = recipe.model.args if section == "model.args" else recipe.data.args
            if isinstance(args, dict):
                args[name] = value
            else:
                object.__setattr__(args, name, value)
        recipe.freeze()
        wrapper.device = torch.device(device)
        wrapper.precision = Precision(wrapper.device, recipe.train.precision)  # for forward
        module = wrapper.make_model().to(device)
        wrapper.model = module
    saved = checkpoint.load_file(file)
    module.load_state_dict(saved["model"])
    if recipe.train.ema is not None or recipe.train.swa is not None:  # as it was judged
        averaged_weights(module, saved)
    module.eval()
    return wrapper


def trial_folder(path: Path, trial_id: str | None) -> Path:
    """A trial folder from a trial folder, or a study folder and a trial id."""
    if trial_id is not None:
        path = path / trial_id
    if not (path / STATUS).is_file() or not (path / RECIPE).is_file():
        hint = "" if trial_id is not None or not any(path.glob(f"*/{STATUS}")) else \
            " (a study folder: give trial_id=...)"
        raise UsageError(f"{path} is not a trial folder{hint}")
    return path


def load_any_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """A recipe file, or a trial folder's own recipe (as it ran), resolved and checked."""
    path = Path(path)
    if path.is_dir():
        return load_trial_recipe(trial_folder(path, None), list(overrides))[0]
    return load_recipe(path, list(overrides))
