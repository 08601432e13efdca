"""Each trial's best evaluation by its monitor, and every metric at that point.

The training loop keeps the checkpoint of the evaluation whose monitored metric
(`train.monitor`) improved last by more than `train.early_stopping.min_delta`. The
analysis reports that row: `best_epoch`, and per metric its value there. For the
monitor's own split that is the best row itself; for another split the last row logged
at or before the best row's step (train metrics as they stood then); a row marked
`"checkpoint": "best"` (a test evaluated at the best checkpoint) is the value at best
wherever it sits in the file. The maximum over epochs of some other metric is not that
row, and is not called best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model_trainer.metrics_file import guess_mode

BEST_CHECKPOINT = "best"


@dataclass(frozen=True)
class Monitor:
    """What a trial's loop judged its evaluations by."""

    metric: str
    mode: str  # min | max
    min_delta: float = 0.0


def monitor_of(recipe: dict, status: dict) -> Monitor | None:
    """The trial's monitor: its recipe's `train.monitor`, else status.json's `best`."""
    best = status.get("best") if isinstance(status.get("best"), dict) else {}
    metric = recipe.get("train.monitor.metric")
    mode = recipe.get("train.monitor.mode")
    if not isinstance(metric, str) or not metric:
        metric, mode = best.get("metric"), best.get("mode")
    if not isinstance(metric, str) or not metric:
        return None
    delta = recipe.get("train.early_stopping.min_delta")
    delta = float(delta) if isinstance(delta, (int, float)) and not isinstance(delta, bool) else 0.0
    return Monitor(metric, mode if mode in ("min", "max") else guess_mode(metric), max(delta, 0.0))


def _loop_best_index(values: np.ndarray, mode: str, min_delta: float) -> int:
    """Index of the best value by the loop's rule: each value that beats the best so far by
    more than `min_delta` becomes the best (-1 when no value is finite)."""
    best, where = None, -1
    for i, value in enumerate(values):
        if not math.isfinite(value):
            continue
        if best is None or (value < best - min_delta if mode == "min" else value > best + min_delta):
            best, where = value, i
    return where


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A categorical column as integer codes and its category names (fast to compare)."""
    return column.cat.codes.to_numpy(), [str(c) for c in column.cat.categories]


def best_positions(metrics: pd.DataFrame, monitors: dict[str, Monitor]) -> pd.DataFrame:
    """Per trial with a finite monitored value: the row index (into `metrics`), step and
    epoch of its best evaluation. Ties keep the first row, as the loop does."""
    empty = pd.DataFrame(columns=["row", "step", "epoch"])
    if metrics.empty or not monitors:
        return empty
    trial_codes, trial_names = _codes(metrics["trial_id"])
    metric_codes, metric_names = _codes(metrics["metric"])
    metric_index = {name: i for i, name in enumerate(metric_names)}
    # per trial code: the code of its monitored metric (-2: none), its sign, its min_delta
    wanted = np.array([metric_index.get(monitors[t].metric, -2) if t in monitors else -2
                       for t in trial_names] + [-2])  # [-1]: a row without a trial
    sign = np.array([-1.0 if t in monitors and monitors[t].mode == "max" else 1.0
                     for t in trial_names] + [1.0])
    values = metrics["value"].to_numpy()
    rows = np.flatnonzero((metric_codes == wanted[trial_codes]) & np.isfinite(values))
    frame = pd.DataFrame({"trial": trial_codes[rows], "key": values[rows] * sign[trial_codes[rows]],
                          "row": rows})
    delta = {i for i, t in enumerate(trial_names) if t in monitors and monitors[t].min_delta > 0}
    by_delta = frame["trial"].isin(delta).to_numpy()
    ordered = frame[~by_delta].sort_values(["trial", "key", "row"], kind="stable")
    picked = list(ordered.drop_duplicates("trial")["row"])
    for code, part in frame[by_delta].groupby("trial", sort=False):
        mon = monitors[trial_names[code]]
        where = _loop_best_index(values[part["row"].to_numpy()], mon.mode, mon.min_delta)
        if where >= 0:
            picked.append(int(part["row"].iloc[where]))
    if not picked:
        return empty
    picked = np.sort(np.asarray(picked))
    return pd.DataFrame({"row": picked,
                         "step": metrics["step"].astype("float64").to_numpy()[picked],
                         "epoch": metrics["epoch"].astype("float64").to_numpy()[picked]},
                        index=[trial_names[c] for c in trial_codes[picked]])


def values_at_best(metrics: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """A wide table (trial_id x metric) of each metric's value at the trial's best row."""
    if best.empty:
        return pd.DataFrame()
    trial_codes, trial_names = _codes(metrics["trial_id"])
    metric_codes, metric_names = _codes(metrics["metric"])
    limits = best.reindex(trial_names + ["\0missing"])  # [-1]: a row without a trial
    by_step = limits["step"].notna().to_numpy()
    limit_step = np.where(by_step, limits["step"].to_numpy(dtype=float), np.nan)[trial_codes]
    limit_epoch = np.where(by_step, np.nan, limits["epoch"].to_numpy(dtype=float))[trial_codes]
    step = metrics["step"].astype("float64").to_numpy()
    epoch = metrics["epoch"].astype("float64").to_numpy()
    marked = (metrics["checkpoint"] == BEST_CHECKPOINT).to_numpy()
    with np.errstate(invalid="ignore"):
        keep = np.flatnonzero((step <= limit_step) | (epoch <= limit_epoch) | marked)
    chosen = pd.DataFrame({"trial": trial_codes[keep], "metric": metric_codes[keep],
                           "value": metrics["value"].to_numpy()[keep], "marked": marked[keep],
                           "row": keep})
    # A row marked "best" wins over the rows before the best step; otherwise the last one.
    chosen = chosen.sort_values(["marked", "row"], kind="stable")
    last = chosen.drop_duplicates(["trial", "metric"], keep="last")
    wide = last.pivot(index="trial", columns="metric", values="value")
    wide.index = [trial_names[c] for c in wide.index]
    wide.columns = [metric_names[c] for c in wide.columns]
    return wide
