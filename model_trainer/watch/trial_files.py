"""One trial's progress as its folder tells it: state, epochs, latest metrics, checkpoints.

`TrialReader` follows one folder over time: recipe.yaml is parsed again only when it
changes, and metrics.jsonl is read from where the last look stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_trainer.files import read_json
from model_trainer.layout import CHECKPOINTS, LOCK_FILE, METRICS, RECIPE, STATUS
from model_trainer.metrics_file import MetricsTail
from model_trainer.vocabulary import TrialState
from model_trainer.yaml_rules import load_yaml

MAX_RECIPE_BYTES = 256 * 1024  # a recipe.yaml is small; never parse a huge stray file


@dataclass
class TrialProgress:
    """What a trial folder says right now (fields are None when a file does not say)."""

    folder: Path
    trial_id: str
    state: str | None = None  # status.json's state; None before the trial wrote one
    epochs_done: int = 0
    epochs_total: int | None = None  # recipe.yaml's train.epochs
    global_step: int = 0
    latest: dict[str, float] = field(default_factory=dict)  # full names: val_loss, train_loss
    best: dict[str, Any] | None = None  # {"metric", "mode", "value", "epoch"}
    attempts: int = 0
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration_s: float | None = None
    stop_reason: str | None = None
    error: str | None = None  # one line: `Type: message`
    params: dict[str, Any] = field(default_factory=dict)  # a study trial's sampled values
    seed: int | None = None
    last_write: float | None = None  # newest mtime of status.json and metrics.jsonl
    checkpoints: dict[str, tuple[int, float]] = field(default_factory=dict)  # name: size, mtime
    process: str | None = None  # who holds the folder's lock, when that can be told

    @property
    def fraction_done(self) -> float:
        """Share of the planned epochs done, in [0, 1] (0 when the total is unknown)."""
        if not self.epochs_total:
            return 0.0
        return min(self.epochs_done / self.epochs_total, 1.0)


class TrialReader:
    """Reads one trial folder, again and again, cheaply."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.tail = MetricsTail(self.folder / METRICS)
        self._recipe: tuple[int, dict[str, Any]] | None = None  # (mtime_ns, train section)

    def read(self) -> TrialProgress:
        progress = read_status(self.folder)
        self.tail.update()
        progress.epochs_total = _count(self._train_section().get("epochs"))
        progress.latest = dict(self.tail.values)
        val_epoch = _count(self.tail.latest.get("val", {}).get("epoch")) or 0
        progress.epochs_done = max(progress.epochs_done, val_epoch)
        steps = [_count(row.get("step")) or 0 for row in self.tail.latest.values()]
        progress.global_step = max([progress.global_step, *steps])
        progress.last_write = _newest_mtime(self.folder / STATUS, self.folder / METRICS)
        progress.checkpoints = _checkpoints(self.folder / CHECKPOINTS)
        progress.process = lock_holder(self.folder) if progress.state == TrialState.RUNNING else None
        return progress

    def _train_section(self) -> dict[str, Any]:
        """recipe.yaml's `train` mapping, parsed again only when the file changed."""
        path = self.folder / RECIPE
        try:
            stamp = path.stat().st_mtime_ns
            if self._recipe is None or self._recipe[0] != stamp:
                with open(path, "rb") as handle:
                    data = load_yaml(handle.read(MAX_RECIPE_BYTES))
                train = data.get("train") if isinstance(data, dict) else None
                self._recipe = (stamp, train if isinstance(train, dict) else {})
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return {}
        return self._recipe[1]


def read_status(folder: Path) -> TrialProgress:
    """What status.json alone says (a finished trial needs no more)."""
    status = read_json(folder / STATUS)
    status = status if isinstance(status, dict) else {}
    study = status.get("study") if isinstance(status.get("study"), dict) else {}
    return TrialProgress(
        folder, _text(status.get("trial_id")) or folder.name, state=_text(status.get("state")),
        epochs_done=_count(status.get("epochs_done")) or 0,
        global_step=_count(status.get("global_step")) or 0,
        best=status.get("best") if isinstance(status.get("best"), dict) else None,
        attempts=_count(status.get("attempts")) or 0,
        started_at=_time(status.get("started_at")), ended_at=_time(status.get("ended_at")),
        duration_s=_number(status.get("duration_s")),
        stop_reason=_text(status.get("stop_reason")), error=error_line(status.get("error")),
        params=study.get("params") if isinstance(study.get("params"), dict) else {},
        seed=_count(study.get("seed")))


def error_line(error: Any, limit: int = 200) -> str | None:
    """status.json's error as one line: `Type: first line of the message`."""
    if not isinstance(error, dict):
        return None
    message = str(error.get("message", "")).strip().splitlines()
    text = f"{error.get('type', 'Error')}: {message[0] if message else ''}".rstrip(": ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def lock_holder(folder: Path) -> str | None:
    """Whether the process named in the folder's lock file still runs: "alive", "gone"
    (it was killed: its state is stale), or None when that cannot be told from here (no
    lock file, another host: a copy from a cluster)."""
    info = read_json(folder / LOCK_FILE)
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    if info.get("host") != socket.gethostname():
        return None
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return "gone"
    except OSError:  # it exists but belongs to another user
        return "alive"
    return "alive"


def _checkpoints(folder: Path) -> dict[str, tuple[int, float]]:
    found = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return {}
    for entry in entries:
        if entry.name.endswith(".pt") and entry.is_file():
            stat = entry.stat()
            found[entry.name] = (stat.st_size, stat.st_mtime)
    return dict(sorted(found.items()))


def _newest_mtime(*paths: Path) -> float | None:
    times = []
    for path in paths:
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _time(value: Any) -> dt.datetime | None:
    """An ISO time from status.json (written in UTC with its offset)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def short_value(value: Any) -> str:
    """A sampled value as the recipe would write it (floats short but still floats, lists
    as JSON)."""
    if isinstance(value, float):
        text = f"{value:.4g}"
        return text if any(c in text for c in ".einf") else f"{text}.0"
    if isinstance(value, str):
        return value
    return json.dumps(value)
