"""What `collect` reads into memory: the groups of trials, each trial's data, and `Loaded`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from model_trainer.analysis.best_epoch import Monitor


@dataclass
class Group:
    """Trials analysed together: one study folder, or the loose trials of one folder."""

    key: str
    path: Path
    is_study: bool
    study_id: str | None = None
    base_recipe: dict | None = None  # study.yaml, the recipe before sampling
    base_text: str | None = None
    space: dict[str, dict] = field(default_factory=dict)
    sampler: str | None = None  # grid | random | tpe, from study_index.json or study.yaml
    objective: tuple[str, str] | None = None  # from study_index.json
    horizon: int | None = None  # the study's train.epochs (study_index.json): rows past it
    # belong to other runs of the same trial and are left out
    trial_ids: list[str] = field(default_factory=list)
    varied: list[str] = field(default_factory=list)
    baselines: dict[str, Any] = field(default_factory=dict)
    baseline_source: dict[str, str] = field(default_factory=dict)  # "study.yaml" | "most common"
    level_order: dict[str, list] = field(default_factory=dict)  # a choice's values, as listed
    index_trials: dict[str, dict] = field(default_factory=dict)  # study_index.json, by trial id


@dataclass
class TrialData:
    """Everything read from one trial folder, before it becomes a table row."""

    trial_id: str
    path: Path
    group: str
    status: dict
    recipe: dict[str, Any]  # flattened, dotted keys
    params: dict[str, Any]  # the study's sampled values, if any
    index_entry: dict = field(default_factory=dict)
    monitor: Monitor | None = None  # what its loop judged evaluations by
    metric_rows: int = 0
    bad_lines: int = 0  # unparseable metrics.jsonl lines (a truncated tail)
    final: dict[str, float] = field(default_factory=dict)  # last value per metric, NaN/inf kept
    low: dict[str, float] = field(default_factory=dict)  # min over finite values
    high: dict[str, float] = field(default_factory=dict)  # max over finite values
    at_best: dict[str, float] = field(default_factory=dict)  # each metric at the best row
    best_epoch: float = float("nan")


@dataclass
class Loaded:
    """What `load(directory)` returns: the tables plus what they were built from."""

    root: Path
    trials: pd.DataFrame
    metrics: pd.DataFrame
    groups: dict[str, Group]
    records: dict[str, TrialData]
    varied: list[str]
    warnings: list[str]
    metric_names: list[str]  # every metric seen
    blocked: set[Path] = field(default_factory=set)  # files linked from outside root: not read

    def __iter__(self):
        """Allow `trials, metrics = load(dir)` in a notebook."""
        return iter((self.trials, self.metrics))
