"""Predictions of a trained trial on one of its splits, as a table.

The trial's model (model_trainer.load_trial, the chosen checkpoint) runs the split's
batches through the wrapper's `evaluation_step`, gradients off, in the loader's order.
One row per sample: the batch's values that are one number per sample (labels, an id),
then the output's, flattened: `output` for one number a sample, `output_0`,
`output_1`, ... for a vector (logits), and `prediction`, their argmax, for a vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model_trainer.errors import UsageError
from model_trainer.trial.reload import load_trial
from model_trainer.vocabulary import Split


def predict(path: str | Path, split: str = Split.TEST, checkpoint: str = "best", *,
            trial_id: str | None = None) -> Any:
    """A pandas DataFrame of the trial's predictions on `split` (see the module docstring)."""
    import pandas as pd

    wrapper = load_trial(path, checkpoint, trial_id=trial_id, data=True)
    loader = {Split.TRAIN: wrapper.train_loader, Split.VAL: wrapper.val_loader,
              Split.TEST: wrapper.test_loader}.get(split)
    if loader is None:
        raise UsageError(f"the trial's data has no {split} split")
    frames = []
    with torch.no_grad():
        for batch in loader:
            output, _ = wrapper.evaluation_step(batch)
            frames.append(_rows(batch, output))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _rows(batch: Any, output: Any) -> Any:
    import pandas as pd

    if not isinstance(output, torch.Tensor):
        raise UsageError("predict writes models whose output is a tensor (one row a "
                         f"sample); this one returns {type(output).__name__}")
    n = output.shape[0]
    columns: dict[str, Any] = {}
    items = batch.items() if isinstance(batch, dict) else enumerate(batch) \
        if isinstance(batch, list | tuple) else []
    for key, value in items:
        if isinstance(value, torch.Tensor) and value.dim() == 1 and len(value) == n:
            columns[str(key) if isinstance(batch, dict) else f"input_{key}"] = \
                value.cpu().numpy()
    out = output.detach().float().cpu().reshape(n, -1)
    if out.shape[1] == 1:
        columns["output"] = out[:, 0].numpy()
    else:
        columns.update({f"output_{i}": out[:, i].numpy() for i in range(out.shape[1])})
        columns["prediction"] = out.argmax(dim=1).numpy()
    return pd.DataFrame(columns)
