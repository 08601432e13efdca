"""Read the files a trial or a study leaves on disk, tolerating every way they can be broken.

Analysis runs on folders rsynced from a cluster and on studies still running, so a file may
be missing, half written or garbage. Each reader returns plain Python data plus warnings;
nothing here raises for bad file contents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from model_trainer.yaml_rules import load_yaml


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """The warning for bytes that are not UTF-8 text (a garbled or foreign-encoded file)."""
    return f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"


def read_text(path: Path, warnings: list[str]) -> str | None:
    """The file's text; None when it is missing, and a warning too when it cannot be read
    or is not UTF-8 (half-decoded text would be read as if it were right)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        warnings.append(f"{_not_utf8(path, exc)}; treated as missing")
        return None
    except OSError as exc:
        warnings.append(f"{path}: cannot read ({exc})")
        return None


def read_yaml_mapping(path: Path, warnings: list[str], text: str | None = None) -> dict | None:
    """A YAML file that must hold a mapping, read by the recipe's YAML 1.2 rules; None (and
    a warning) when missing or broken. `text`: the file's text when the caller has already
    read it."""
    return _parse_mapping(path, warnings, "YAML", load_yaml, yaml.YAMLError, text)


def read_json_mapping(path: Path, warnings: list[str]) -> dict | None:
    """A JSON file that must hold an object; None (and a warning) when missing or broken."""
    return _parse_mapping(path, warnings, "JSON", json.loads, ValueError)


def _parse_mapping(path: Path, warnings: list[str], kind: str, parse: Callable[[str], object],
                   error: type[Exception], text: str | None = None) -> dict | None:
    text = read_text(path, warnings) if text is None else text
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
