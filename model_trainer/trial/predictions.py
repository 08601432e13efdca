"""Predictions of a trained trial on one of its splits, or on a file of inputs, as a table.

The trial's model (model_trainer.load_trial, the chosen checkpoint) runs the split's
batches (or the file's rows, `train.batch_size` at a time) through the wrapper's
`evaluation_step`, gradients off, in order. An input file is `.pt` (a tensor, or a dict of
tensors: the model's keyword arguments; loaded with weights_only) or `.npz` (named arrays),
one sample per row of the first dimension.
One row per sample: the batch's values that are one number per sample (labels, an id),
then the predictions', flattened: `output` for one number a sample, `output_0`,
`output_1`, ... for a vector (logits), and `prediction`, their argmax, for a vector. A
dict output's predictions are the entry train.metrics use (`metric_inputs`: logits,
preds, scores, probs, output...); its other per-sample tensors follow, by their names.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from model_trainer.errors import UsageError
from model_trainer.trial.reload import load_trial
from model_trainer.vocabulary import Split
from model_trainer.wrapper import PREDICTION_KEYS


def predict(path: str | Path, split: str = Split.TEST, checkpoint: str = "best", *,
            trial_id: str | None = None, inputs: str | Path | None = None) -> Any:
    """A pandas DataFrame of the trial's predictions on `split`, or on the samples of the
    file `inputs` (see the module docstring)."""
    import pandas as pd

    wrapper = load_trial(path, checkpoint, trial_id=trial_id, data=inputs is None)
    if inputs is not None:
        batches = _file_batches(Path(inputs), wrapper.recipe.train.batch_size, wrapper.device)
    else:
        batches = {Split.TRAIN: wrapper.train_loader, Split.VAL: wrapper.val_loader,
                   Split.TEST: wrapper.test_loader}.get(split)
        if batches is None:
            raise UsageError(f"the trial's data has no {split} split")
    frames = []
    with torch.no_grad():
        for batch in batches:
            output, _ = wrapper.evaluation_step(batch)
            frames.append(_rows(batch, output, _predictions(wrapper, output, batch)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _file_batches(path: Path, size: int, device: torch.device) -> list[Any]:
    """The samples of an input file in batches of `size`, on `device`: tensors, or dicts of
    tensors (UsageError naming the file when it is not one of those)."""
    import numpy as np

    try:
        if path.suffix == ".pt":
            data = torch.load(path, map_location="cpu", weights_only=True)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                data = {name: torch.from_numpy(arrays[name]) for name in arrays.files}
        else:
            raise UsageError(f"--input must end in .pt or .npz, got {path.name}")
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise UsageError(f"--input {path}: cannot be read ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    named = data if isinstance(data, dict) else {None: data}
    if not named or not all(isinstance(v, torch.Tensor) and v.dim() for v in named.values()):
        raise UsageError(f"--input {path}: expected a tensor or a mapping of names to "
                         "tensors, one sample per row")
    rows = {len(v) for v in named.values()}
    if len(rows) != 1:
        raise UsageError(f"--input {path}: its tensors have different numbers of rows "
                         f"({', '.join(f'{k}: {len(v)}' for k, v in named.items())})")
    batches = []
    for start in range(0, rows.pop(), size):
        part = {k: v[start:start + size].to(device) for k, v in named.items()}
        batches.append(part[None] if None in part else part)
    return batches


def _predictions(wrapper: Any, output: Any, batch: Any) -> Any:
    """The output itself, or for a dict the entry train.metrics read (`metric_inputs`;
    its failure, such as a batch of --input without targets, said, not a traceback)."""
    if not isinstance(output, dict):
        return output
    try:
        return wrapper.metric_inputs(output, batch)[0]
    except Exception as exc:  # noqa: BLE001 - the user's metric_inputs
        raise UsageError(f"predict: metric_inputs could not pick the predictions of the "
                         f"model's dict output: {type(exc).__name__}: {exc}") from None


def _rows(batch: Any, output: Any, predictions: Any) -> Any:
    """One row a sample: the batch's per-sample values, the predictions' columns, then
    the other per-sample tensors of a dict output, by their names."""
    import pandas as pd

    if not isinstance(predictions, torch.Tensor):
        kind = (f"a dict with keys {', '.join(map(str, output))} (name its predictions "
                f"{' or '.join(PREDICTION_KEYS)}, or override metric_inputs)"
                if isinstance(output, dict) else type(output).__name__)
        raise UsageError("predict writes models whose predictions are a tensor (one row a "
                         f"sample); this one returns {kind}")
    n = predictions.shape[0]
    columns: dict[str, Any] = {}
    items = batch.items() if isinstance(batch, dict) else enumerate(batch) \
        if isinstance(batch, list | tuple) else []
    for key, value in items:
        if isinstance(value, torch.Tensor) and value.dim() == 1 and len(value) == n:
            columns[str(key) if isinstance(batch, dict) else f"input_{key}"] = \
                value.cpu().numpy()
    out = predictions.detach().float().cpu().reshape(n, -1)
    if out.shape[1] == 1:
        columns["output"] = out[:, 0].numpy()
    else:
        columns.update({f"output_{i}": out[:, i].numpy() for i in range(out.shape[1])})
        columns["prediction"] = out.argmax(dim=1).numpy()
    for key, value in output.items() if isinstance(output, dict) else ():
        if value is predictions or not isinstance(value, torch.Tensor) or value.dim() == 0 \
                or value.shape[0] != n:
            continue
        flat = value.detach().float().cpu().reshape(n, -1)
        named = {str(key): flat[:, 0].numpy()} if flat.shape[1] == 1 else \
            {f"{key}_{i}": flat[:, i].numpy() for i in range(flat.shape[1])}
        if named.keys() & columns.keys():  # an entry named like a column (output): kept apart
            named = {f"output.{name}": column for name, column in named.items()}
        columns.update(named)
    return pd.DataFrame(columns)
