"""Read the files a trial or a study leaves on disk, tolerating every way they can be broken.

Analysis runs on folders rsynced from a cluster and on studies still running, so a file may
be missing, half written or garbage. Each reader returns plain Python data plus warnings;
nothing here raises for bad file contents.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from model_trainer.layout import (
    ANALYSIS,
    CHECKPOINTS,
    STATUS,
    STUDY_INDEX,
    STUDY_RECIPE,
    TENSORBOARD,
)

SKIP_DIRS = frozenset({CHECKPOINTS, TENSORBOARD, ANALYSIS})
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built


def load_yaml(text: str) -> object:
    """`yaml.safe_load`, with PyYAML's C parser when it has one (analysis reads thousands)."""
    return yaml.load(text, Loader=_YAML_LOADER)


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
    return _read_mapping(path, warnings, "YAML", load_yaml, yaml.YAMLError)


def read_json_mapping(path: Path, warnings: list[str]) -> dict | None:
    """A JSON file that must hold an object; None (and a warning) when missing or broken."""
    return _read_mapping(path, warnings, "JSON", json.loads, ValueError)


def _read_mapping(path: Path, warnings: list[str], kind: str, parse: Callable[[str], object],
                  error: type[Exception]) -> dict | None:
    text = _read_text(path, warnings)
    if text is None:
        return None
    try:
        data = parse(text)
    except error as exc:
        warnings.append(f"{path}: not valid {kind} ({str(exc).splitlines()[0]})")
        return None
    if data is None and kind == "YAML":  # an empty YAML file is an empty mapping
        return {}
    if not isinstance(data, dict):
        warnings.append(f"{path}: expected a mapping, got {type(data).__name__}")
        return None
    return data


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
        if STATUS in names:
            trials.append(Path(current))
            continue
        if STUDY_RECIPE in names or STUDY_INDEX in names:
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
