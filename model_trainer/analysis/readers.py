"""Read the files a trial or a study leaves on disk, tolerating every way they can be broken.

Analysis runs on folders rsynced from a cluster and on studies still running, so a file may
be missing, half written or garbage. Each reader returns plain Python data plus warnings;
nothing here raises for bad file contents.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from model_trainer.analysis.fast_yaml import load_yaml

SKIP_DIRS = frozenset({"checkpoints", "tensorboard", "analysis"})
STATUS_FILE = "status.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.jsonl"
STUDY_FILE = "study.yaml"
STUDY_INDEX_FILE = "study_index.json"


def _read_text(path: Path, warnings: list[str]) -> str | None:
    """The file's text; None when it is missing, and a warning too when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.append(f"{path}: cannot read ({exc})")
        return None


def read_yaml_mapping(path: Path, warnings: list[str]) -> dict | None:
    """A YAML file that must hold a mapping; None (and a warning) when missing or broken."""
    text = _read_text(path, warnings)
    if text is None:
        return None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        warnings.append(f"{path}: not valid YAML ({str(exc).splitlines()[0]})")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        warnings.append(f"{path}: expected a mapping, got {type(data).__name__}")
        return None
    return data


def read_json_mapping(path: Path, warnings: list[str]) -> dict | None:
    """A JSON file that must hold an object; None (and a warning) when missing or broken."""
    text = _read_text(path, warnings)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        warnings.append(f"{path}: not valid JSON")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{path}: expected a JSON object, got {type(data).__name__}")
        return None
    return data


class MetricsSink:
    """Long metric columns shared by every trial, appended to file by file.

    One flat set of lists (instead of per-trial frames) is what makes 2,000 files cheap:
    pandas builds the table once, and per-metric summaries are vectorised afterwards.
    """

    def __init__(self) -> None:
        self.trial_id: list = []
        self.step: list = []
        self.epoch: list = []
        self.split: list = []
        self.metric: list = []
        self.value: list = []
        self.time: list = []
        self._names: dict[tuple, list[str]] = {}

    def __len__(self) -> int:
        return len(self.value)

    def names(self, split: str, keys: tuple) -> list[str]:
        """Full metric names (`val_loss`) for a record's keys, cached per key set."""
        found = self._names.get((split, keys))
        if found is None:
            found = self._names[(split, keys)] = [f"{split}_{k}" for k in keys]
        return found


def _parse_lines(text: str) -> tuple[list, int]:
    """JSON objects of a JSON Lines text; unparseable lines (a truncated tail) are counted."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [], 0
    try:  # fast path: one json.loads call for the whole file
        records = json.loads("[" + ",".join(lines) + "]")
        return records, 0
    except ValueError:
        pass
    records, bad = [], 0
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            bad += 1
    return records, bad


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is float or kind is int


def parse_metrics(text: str, trial_id: str, sink: MetricsSink) -> tuple[int, int]:
    """Append the rows of one metrics.jsonl text to `sink`; returns (values added, bad lines).

    Non-numeric metric values are dropped; lines that are not JSON objects with a
    `metrics` mapping (a truncated tail) are skipped and counted.
    """
    records, bad = _parse_lines(text)
    before = len(sink.value)
    step, epoch, split_col, time_col = sink.step, sink.epoch, sink.split, sink.time
    metric_col, value_col = sink.metric, sink.value
    for rec in records:
        values = rec.get("metrics") if isinstance(rec, dict) else None
        if not isinstance(values, dict):
            bad += 1
            continue
        split = rec.get("split") or "train"
        if type(split) is not str:
            split = str(split)
        keys = tuple(values)
        vals = list(values.values())
        if not all(_is_number(v) for v in vals):
            keep = [i for i, v in enumerate(vals) if _is_number(v)]
            keys = tuple(keys[i] for i in keep)
            vals = [vals[i] for i in keep]
        n = len(vals)
        if not n:
            continue
        metric_col.extend(sink.names(split, keys))
        value_col.extend(vals)
        step.extend([rec.get("step")] * n)
        epoch.extend([rec.get("epoch")] * n)
        split_col.extend([split] * n)
        time_col.extend([rec.get("time")] * n)
    added = len(sink.value) - before
    sink.trial_id.extend([trial_id] * added)
    return added, bad


@dataclass
class Layout:
    """Where the trials and studies under a directory are."""

    trial_dirs: list[Path]
    study_dirs: list[Path]


def find_layout(root: Path) -> Layout:
    """Walk `root` for trial folders (holding status.json) and study folders.

    A trial folder is not descended into; checkpoints/, tensorboard/ and analysis/ are
    skipped wherever they are, as are hidden folders.
    """
    trials: list[Path] = []
    studies: list[Path] = []
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        names = {e.name for e in entries}
        if STATUS_FILE in names:
            trials.append(Path(current))
            continue
        if STUDY_FILE in names or STUDY_INDEX_FILE in names:
            studies.append(Path(current))
        subdirs = [
            e.path
            for e in entries
            if e.name not in SKIP_DIRS and not e.name.startswith(".") and _is_dir(e)
        ]
        stack.extend(sorted(subdirs, reverse=True))
    trials.sort()
    studies.sort()
    return Layout(trials, studies)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists become JSON text so values stay hashable."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        elif isinstance(value, dict):
            flat[dotted] = "{}"
        elif isinstance(value, (list, tuple)):
            flat[dotted] = json.dumps(value, default=str)
        else:
            flat[dotted] = value
    return flat
