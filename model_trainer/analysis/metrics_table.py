"""Read every trial's metrics.jsonl into one long table: trial_id, step, epoch, split, metric,
value, time, checkpoint.

One flat set of columns is appended to file by file (instead of a frame per trial): pandas
builds the table once, and per-metric summaries are vectorised afterwards, which is what
keeps 2,000 trials of 100 rows each at about two seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model_trainer.metrics_file import EPOCH_SPAN, metric_name, parse_rows, training_rows

# `checkpoint` is the row's field of that name ("best" for a test evaluated at the best
# checkpoint), else empty.
COLUMNS = ["trial_id", "step", "epoch", "split", "metric", "value", "time", "checkpoint"]


class _Columns:
    """The long table's columns as lists, one metric value per entry."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in COLUMNS}
        self._names: dict[tuple, list[str]] = {}  # (split, keys) -> full metric names

    def add(self, trial_id: str, rows: list[dict]) -> int:
        """Append the numeric metric values of one trial's rows; returns how many."""
        c = self.columns
        before = len(c["value"])
        for row in rows:
            split = row.get("split") or "train"
            split = split if type(split) is str else str(split)
            values = row["metrics"]
            keys = tuple(k for k, v in values.items() if type(v) is float or type(v) is int)
            if not keys:
                continue
            names = self._names.get((split, keys))
            if names is None:
                names = self._names[(split, keys)] = [metric_name(split, k) for k in keys]
            n = len(keys)
            c["metric"].extend(names)
            c["value"].extend(values[k] for k in keys)
            c["step"].extend([row.get("step")] * n)
            c["epoch"].extend([row.get("epoch")] * n)
            c["split"].extend([split] * n)
            c["time"].extend([row.get("time")] * n)
            checkpoint = row.get("checkpoint")
            c["checkpoint"].extend([checkpoint if type(checkpoint) is str else None] * n)
        added = len(c["value"]) - before
        c["trial_id"].extend([trial_id] * added)
        return added

    def frame(self) -> pd.DataFrame:
        c = self.columns
        return pd.DataFrame({
            "trial_id": pd.Categorical(c["trial_id"]),
            "step": _numbers(c["step"], "Int64"),
            "epoch": _numbers(c["epoch"], "Int64"),
            "split": pd.Categorical(c["split"]),
            "metric": pd.Categorical(c["metric"]),
            "value": np.asarray(c["value"], dtype="float64"),
            "time": _numbers(c["time"], "float64"),
            "checkpoint": pd.Categorical(c["checkpoint"]),
        })


def _numbers(values: list, dtype: str) -> pd.Series:
    try:  # the usual case: numbers and None (numpy reads None as NaN)
        series = pd.Series(np.asarray(values, dtype="float64"))
    except (TypeError, ValueError):
        series = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64")
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):  # a fractional step: keep floats
        return series


def epoch_rows(rows: list[dict]) -> list[dict]:
    """A trial's train figures are its epochs' (the `"span": "epoch"` rows: what its
    evaluation lines printed), not the log points' means over a few steps; a trial written
    before epoch rows existed keeps its log-point rows."""
    if not any(r.get("span") == EPOCH_SPAN for r in rows):
        return rows
    return [r for r in rows if r.get("split") != "train" or r.get("span") == EPOCH_SPAN]


def read_all(files: list[tuple[str, Path]]
             ) -> tuple[pd.DataFrame, dict[str, int], dict[str, int], dict[str, int]]:
    """The long metrics table of every (trial_id, metrics.jsonl path), plus per trial the
    number of values read, of broken lines skipped (unparseable or not UTF-8) and of rows
    `mtrain eval` appended (left out: they are not training's figures)."""
    table = _Columns()
    counts: dict[str, int] = {}
    bad: dict[str, int] = {}
    evaluated: dict[str, int] = {}
    for tid, path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        rows, bad[tid] = parse_rows(data)
        training = training_rows(rows)
        if len(training) < len(rows):
            evaluated[tid] = len(rows) - len(training)
        counts[tid] = table.add(tid, epoch_rows(training))
    return table.frame(), {t: n for t, n in counts.items() if n}, bad, evaluated


def summarize_into(frame: pd.DataFrame, records: dict) -> None:
    """Fill each trial record's `final` / `low` / `high` per metric (vectorised: a Python
    loop over 400,000 values costs more than reading them)."""
    if frame.empty:
        return
    keys = ["trial_id", "metric"]
    last = frame.drop_duplicates(keys, keep="last")
    for tid, name, value in zip(last["trial_id"], last["metric"], last["value"], strict=True):
        records[tid].final[name] = value
    finite = frame[np.isfinite(frame["value"].to_numpy())]
    grouped = finite.groupby(keys, observed=True, sort=False)["value"]
    for attr, series in (("low", grouped.min()), ("high", grouped.max())):
        for (tid, name), value in zip(series.index, series.to_numpy(), strict=True):
            getattr(records[tid], attr)[name] = float(value)


def valued_metrics(frame: pd.DataFrame) -> set[str]:
    """The metric names with at least one finite value in the long table."""
    codes = frame["metric"].cat.codes.to_numpy()[np.isfinite(frame["value"].to_numpy())]
    return {str(frame["metric"].cat.categories[c]) for c in np.unique(codes) if c >= 0}
