"""metrics.jsonl: one JSON object per row, `{"step", "epoch", "split", "time", "metrics"}`.

The one writer (append, flushed at once, so a running trial can be read) and the one
reader (a line that is not UTF-8 text, or a truncated or broken one as a killed writer
leaves, is skipped and counted) used by the training, the rerun logic, the pruner and the
analysis; `MetricsTail` follows a file that is being written, reading only what was
appended since it last looked. A row's metric `loss` of split `val` is named `val_loss`
everywhere (`metric_name`). Rows that `mtrain eval` appends later carry `"source": "eval"`:
they are a re-evaluation, not training's figures, and every reader of training's figures
(final, best, the pruner's curves, the live view) leaves them out (`training_rows`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, TextIO

from model_trainer.files import atomic_write_bytes


class MetricsWriter:
    """Appends rows to one metrics.jsonl, opening it on the first row."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: TextIO | None = None

    def append(self, split: str, metrics: dict[str, float], step: int, epoch: int,
               **extra: Any) -> None:
        row = {"step": step, "epoch": epoch, "split": split, "time": time.time(),
               "metrics": metrics, **extra}
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._handle.write(json.dumps(row) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def metric_name(split: str, name: str) -> str:
    """The full name of a row's metric: `val_loss` for `loss` in a `val` row."""
    return f"{split}_{name}"


LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "rmse", "perplexity", "ppl", "nll", "time", "wer")


COST_ENDINGS = ("loss", "error", "time")  # logloss, top1error, runtime


def guess_mode(metric: str) -> str:
    """'min' for metrics that read like a cost (a word of the name, split at `_`, `/`, `-`
    and camelCase, starts with loss, err, mse, mae, perplexity... or ends with loss, error
    or time), else 'max': the direction wherever a metric is ranked without a mode."""
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", metric)
    words = re.split(r"[^a-z0-9]+", split.lower())
    return "min" if any(w.startswith(LOWER_IS_BETTER) or w.endswith(COST_ENDINGS)
                        for w in words) else "max"


def ranked_by(metric: str | None, mode: str | None, objective: tuple[str, str],
              ) -> tuple[str, str]:
    """(metric, mode) a `best(metric, mode)` ranks by: the objective (metric, mode) by
    default, a metric's mode by guess_mode; ValueError for a mode other than max or min."""
    metric = metric or objective[0]
    mode = mode or (objective[1] if metric == objective[0] else guess_mode(metric))
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be max or min, got {mode!r}")
    return metric, mode


def full_names(split: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """`metrics` of one `split` under their full names: {"val_loss": ...} for {"loss": ...}."""
    return {metric_name(split, k): v for k, v in metrics.items()}


def named_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A row's metrics under their full names; {} for a row without a split."""
    split = row.get("split")
    if not isinstance(split, str):
        return {}
    return full_names(split, row["metrics"])


def _decode(data: bytes) -> tuple[str, int]:
    """The UTF-8 text of `data` without its lines that are not UTF-8 (a garbled tail, a
    foreign encoding: half-decoded text would be read as if it were right), and how many."""
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    good, bad = [], 0
    for line in data.split(b"\n"):
        try:
            good.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad += 1
    return "\n".join(good), bad


def parse_rows(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The row objects of metrics.jsonl bytes and the number of lines skipped (not UTF-8,
    not JSON, or not a row)."""
    text, garbled = _decode(data)
    lines = [line for line in text.splitlines() if line.strip()]
    try:  # the usual, clean file: one json.loads call for all of it
        rows = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                rows.append(None)
    good = [r for r in rows if isinstance(r, dict) and isinstance(r.get("metrics"), dict)]
    return good, len(rows) - len(good) + garbled


EVAL_SOURCE = "eval"  # the `source` of the rows `mtrain eval` appends
EPOCH_SPAN = "epoch"  # the `span` of a train row over a whole epoch (else: a log point's)


def training_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the training wrote (not those `mtrain eval` appended since)."""
    return [r for r in rows if r.get("source") != EVAL_SOURCE]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file ([] when it is missing or unreadable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return parse_rows(data)[0]


def last_row(path: Path, split: str) -> dict[str, float]:
    """The last training row of `split` with full metric names (`val_loss`, ...), or {}."""
    for row in reversed(training_rows(read_rows(path))):
        if row.get("split") == split:
            return named_metrics(row)
    return {}


def truncate_rows(path: Path, max_step: int) -> int:
    """Keep the rows with step <= max_step (rewritten atomically); returns rows dropped."""
    if not path.exists():
        return 0
    rows = read_rows(path)
    kept = [r for r in rows if isinstance(r.get("step"), int) and r["step"] <= max_step]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    if text.encode() != path.read_bytes():
        atomic_write_bytes(path, text.encode())
    return len(rows) - len(kept)


class MetricsTail:
    """The latest row of each split, and the latest value of each metric, of a
    metrics.jsonl that is being written.

    Each `update()` reads only the bytes appended since the last one, in bounded chunks,
    and keeps an incomplete last line for the next call. A file replaced or shortened
    (a resumed trial drops the rows after its checkpoint) is read again from the start.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path):
        self.path = path
        self.latest: dict[str, dict[str, Any]] = {}  # split -> its last row
        self.values: dict[str, float] = {}  # full name (val_loss) -> its last value
        self.rows_read = 0
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._partial = b""

    def update(self) -> None:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (closed below)
        except OSError:
            return
        with handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if identity != self._identity or stat.st_size < self._offset:
                self.latest, self.values, self.rows_read = {}, {}, 0
                self._offset, self._partial = 0, b""
                self._identity = identity
            handle.seek(self._offset)
            while chunk := handle.read(self.CHUNK):
                self._offset += len(chunk)
                complete, newline, self._partial = (self._partial + chunk).rpartition(b"\n")
                if newline:
                    self._take(complete)

    def _take(self, data: bytes) -> None:
        rows, _ = parse_rows(data)
        self.rows_read += len(rows)
        for row in training_rows(rows):
            split = row.get("split")
            if isinstance(split, str):
                self.latest[split] = row
                self.values.update(named_metrics(row))
