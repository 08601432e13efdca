"""`analyze(...)` (what `mtrain analyze` runs) and `load(...)` (for notebooks).

analyze: collect the trials under a directory, filter them, pick the objective, rank,
compute the ablation statistics and parameter importance, write trials.csv,
metrics.parquet, the plots and a report, and print the tables. Heavy libraries (scipy,
matplotlib, optuna) are imported here only when the step that needs them runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model_trainer.analysis.collect import collect
from model_trainer.analysis.loaded import Group, Loaded
from model_trainer.analysis.objective import Objective, guess_mode, resolve_objective
from model_trainer.errors import UsageError

FORMATS = ("html", "md")


@dataclass
class AnalysisResult:
    """Everything `analyze` computed and wrote."""

    directory: Path
    objective: Objective
    trials: pd.DataFrame  # after filters; one row per trial
    metrics: pd.DataFrame  # after filters; long: trial_id, step, epoch, split, metric, value, time
    ranking: pd.DataFrame
    ablation: pd.DataFrame  # see stats.COLUMNS
    importances: dict[str, dict[str, float]]
    varied: list[str]
    groups: dict[str, Group]
    warnings: list[str]
    filters: tuple[str, ...]
    stats_basis: str
    out_dir: Path
    paths: list[Path] = field(default_factory=list)  # every file written
    plots: list[Path] = field(default_factory=list)
    report: Path | None = None
    loaded: Loaded | None = None


def load(directory: str | Path) -> Loaded:
    """Read every trial under `directory` into `.trials` and `.metrics` DataFrames.

    Unlike `analyze` this never raises for an empty folder: the tables are just empty.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise UsageError(f"{root} does not exist or is not a directory")
    return collect(root)


def _objective_values(loaded: Loaded, trials: pd.DataFrame, objective: Objective) -> list[float]:
    """Each trial's best objective value in the objective's direction, with fallbacks:
    metrics.jsonl, else status.json's `best`, else study_index.json's `value`."""
    values = []
    for tid in trials["trial_id"]:
        rec = loaded.records[tid]
        table = rec.low if objective.mode == "min" else rec.high
        value = table.get(objective.metric, math.nan)
        best = rec.status.get("best") if isinstance(rec.status.get("best"), dict) else {}
        if math.isnan(value) and best.get("metric") == objective.metric:
            value = _float(best.get("value"))
        group = loaded.groups[rec.group]
        if math.isnan(value) and group.objective and group.objective[0] == objective.metric:
            value = _float(rec.index_entry.get("value"))
        values.append(value)
    return values


def _float(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _monitors(loaded: Loaded, ids: Iterable[str]) -> list[tuple[str, str]]:
    out = []
    for tid in ids:
        recipe = loaded.records[tid].recipe
        metric = recipe.get("train.monitor.metric")
        if isinstance(metric, str):
            out.append((metric, str(recipe.get("train.monitor.mode") or guess_mode(metric))))
    return out


def analyze(directory, metric=None, mode=None, filters=(), out=None, plots=True, fmt="html",
            console=None) -> AnalysisResult:
    """Analyse every trial under `directory`; see the module docstring. Raises UsageError for
    a missing or empty directory, an unknown metric, a bad filter or format."""
    root = Path(directory).expanduser()
    if not root.exists():
        raise UsageError(f"{root} does not exist")
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; use one of: {', '.join(FORMATS)}")
    filters = tuple(filters or ())
    loaded = collect(root)
    if loaded.trials.empty:
        raise UsageError(f"{root} holds no trials (no folder with a status.json under it)")

    from model_trainer.analysis.filters import apply_filters

    ids = apply_filters(loaded, filters) if filters else list(loaded.trials["trial_id"])
    keep = set(ids)
    trials = loaded.trials[loaded.trials["trial_id"].isin(keep)].reset_index(drop=True)
    metrics = loaded.metrics
    if len(keep) < len(loaded.trials):
        metrics = metrics[metrics["trial_id"].isin(keep)].reset_index(drop=True)
        metrics["trial_id"] = metrics["trial_id"].cat.remove_unused_categories()
    groups = {k: g for k, g in loaded.groups.items() if set(g.trial_ids) & keep}
    study_objectives = [g.objective for g in groups.values() if g.objective for _ in g.trial_ids]
    objective = resolve_objective(
        metric, mode, study_objectives, _monitors(loaded, ids), loaded.metric_names)
    disagree = sorted({f"{m}/{d}" for m, d in study_objectives} - {f"{objective.metric}/{objective.mode}"})
    if disagree:
        loaded.warnings.append(
            f"studies have other objectives too ({', '.join(disagree)}); all trials are judged by "
            f"{objective.metric}/{objective.mode} (choose with --metric/--mode)")
    trials[objective.column] = _objective_values(loaded, trials, objective)
    varied = [k for k in loaded.varied if any(k in g.varied for g in groups.values())]

    from model_trainer.analysis.importance import importances as compute_importances
    from model_trainer.analysis.stats import ablation_table, usable_trials
    from model_trainer.analysis.tables import print_tables, ranking_frame

    warnings = list(loaded.warnings)
    ranking = ranking_frame(trials, objective, varied)
    usable, basis = usable_trials(trials, objective)
    ablation = ablation_table(trials, groups, objective)
    importances = compute_importances(usable, groups, objective, warnings)

    out_dir = Path(out).expanduser() if out else root / "analysis"
    from model_trainer.analysis.export import export_tables

    result = AnalysisResult(
        directory=root, objective=objective, trials=trials, metrics=metrics, ranking=ranking,
        ablation=ablation, importances=importances, varied=varied, groups=groups,
        warnings=warnings, filters=filters, stats_basis=basis, out_dir=out_dir, loaded=loaded,
    )
    result.paths += export_tables(trials, metrics, out_dir)
    made = []
    if plots and np.isfinite(trials[objective.column].astype(float)).any():
        from model_trainer.analysis.plots import make_plots

        made = make_plots(usable, metrics, ranking, trials, groups, objective, importances,
                          out_dir, warnings)
        result.plots = [p.path for p in made]
        result.paths += result.plots
    from model_trainer.analysis.report_content import build_content

    content = build_content(result, made)
    if fmt == "html":
        from model_trainer.analysis.report_html import write_html

        result.report = write_html(content, out_dir)
    else:
        from model_trainer.analysis.report_md import write_md

        result.report = write_md(content, out_dir)
    result.paths.append(result.report)

    if console is None:
        from rich.console import Console

        console = Console()
    print_tables(console, result)
    return result
