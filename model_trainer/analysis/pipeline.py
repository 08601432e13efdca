"""`analyze(...)` (what `mtrain analyze` runs) and `load(...)` (for notebooks).

analyze: collect the trials under a directory, filter them, pick the objective, rank, run
the statistics that fit each group's design (ablation tables or effect estimates, Holm-
corrected together), parameter importance, write trials.csv, metrics.parquet, the plots
and a report, and print the tables. Heavy libraries (scipy, matplotlib, optuna) are
imported here only when the step that needs them runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model_trainer.analysis.collect import collect, number
from model_trainer.analysis.loaded import Group, Loaded
from model_trainer.analysis.metrics_table import valued_metrics
from model_trainer.analysis.objective import Objective, rankable, resolve_objective
from model_trainer.analysis.stats import usable_trials
from model_trainer.errors import UsageError
from model_trainer.hypothesis import claims_of, guarantee, read_verdicts
from model_trainer.layout import ANALYSIS
from model_trainer.metrics_file import ranked_by
from model_trainer.vocabulary import TrialState

FORMATS = ("html", "md")


@dataclass
class AnalysisResult:
    """Everything `analyze` computed and wrote."""

    directory: Path
    objective: Objective
    trials: pd.DataFrame  # after filters; one row per trial
    metrics: pd.DataFrame  # after filters; long: see metrics_table.COLUMNS
    ranking: pd.DataFrame
    ablation: pd.DataFrame  # per value or bin: see stats.COLUMNS
    effects: pd.DataFrame  # sampled designs' effect estimates: see effects.COLUMNS
    importances: dict[str, dict[str, float]]
    varied: list[str]
    groups: dict[str, Group]
    designs: dict[str, tuple[str, str]]  # group -> (ablation | sampled, why)
    fits: dict[str, str]  # group -> the regression behind its effects
    summary: list[str]  # what was analysed and how, in sentences (terminal and report)
    notes: list[str]  # what was left out and why (pruned trials, importance)
    warnings: list[str]
    filters: tuple[str, ...]
    out_dir: Path
    paths: list[Path] = field(default_factory=list)  # every file written
    plots: list[Path] = field(default_factory=list)
    report: Path | None = None
    loaded: Loaded | None = None

    def dataframe(self) -> pd.DataFrame:
        """The analysed trials (after filters), one row each: id, state, attributes, the
        objective's value and every metric at the trial's best evaluation, its folder."""
        return self.trials.copy()

    def best(self, metric: str | None = None, mode: str | None = None) -> pd.Series | None:
        """The completed trial with the best value, as its row of `dataframe()`: by the
        objective (each trial's value at its best evaluation) by default, else by
        `metric` (a logged name such as `train_loss`: its best over the trial's rows) in
        `mode` (by default the objective's for it, else min for a cost such as a loss or an
        error, else max: metrics_file.guess_mode)."""
        objective = self.objective
        try:
            metric, mode = ranked_by(metric, mode, (objective.metric, objective.mode))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        done = self.trials[self.trials["state"] == TrialState.COMPLETED]
        if metric == objective.metric and mode == objective.mode:
            values = done.set_index("trial_id")[objective.column]
        else:
            rows = self.metrics[self.metrics["metric"] == metric]
            by_trial = rows.groupby("trial_id", observed=True)["value"]
            values = (by_trial.max() if mode == "max" else by_trial.min()).reindex(
                done["trial_id"])
        values = values[np.isfinite(values.astype(float))]
        if values.empty:
            return None
        pick = values.idxmax() if mode == "max" else values.idxmin()
        return done[done["trial_id"] == pick].iloc[0]


def load(directory: str | Path) -> Loaded:
    """Read every trial under `directory` into `.trials` and `.metrics` DataFrames.

    Unlike `analyze` this never raises for an empty folder: the tables are just empty.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise UsageError(f"{root} does not exist or is not a directory")
    return collect(root)


def _objective_values(loaded: Loaded, trials: pd.DataFrame, objective: Objective) -> list[float]:
    """Each trial's objective at its best epoch (see best_epoch.py), else status.json's
    `best`, else study_index.json's `value`; without a monitor, its best over epochs."""
    values = []
    for tid in trials["trial_id"]:
        rec = loaded.records[tid]
        if rec.monitor is None:  # no monitor recorded: its best over the epochs
            value = (rec.low if objective.mode == "min" else rec.high).get(objective.metric, math.nan)
        else:
            value = rec.at_best.get(objective.metric, math.nan)
        best = rec.status.get("best") if isinstance(rec.status.get("best"), dict) else {}
        if math.isnan(value) and best.get("metric") == objective.metric:
            value = number(best.get("value"))
        group = loaded.groups[rec.group]
        if math.isnan(value) and group.objective and group.objective[0] == objective.metric:
            value = number(rec.index_entry.get("value"))
        values.append(value)
    return values


def _monitors(loaded: Loaded, ids: Iterable[str]) -> list[tuple[str, str]]:
    return [(m.metric, m.mode) for t in ids if (m := loaded.records[t].monitor) is not None]


def _valued(loaded: Loaded, metrics: pd.DataFrame, ids: list[str]) -> list[str]:
    """Metrics with at least one finite value among the kept trials."""
    found = valued_metrics(metrics)
    for tid in ids:
        found.update(k for k, v in loaded.records[tid].at_best.items() if math.isfinite(v))
    return sorted(found)


def _value_sentence(objective: Objective, monitors: list[tuple[str, str]]) -> str:
    kinds = set(monitors)
    if not kinds:
        return (f"each trial's value is its best {objective.metric} over its epochs (no trial "
                "records a train.monitor).")
    if kinds == {(objective.metric, objective.mode)}:
        return (f"each trial's value is its best {objective.metric} (the evaluation its "
                "train.monitor kept).")
    if len(kinds) == 1:
        (metric, mode), = kinds
        return (f"each trial's value is its {objective.metric} at its best epoch by {metric} "
                f"({mode}), the checkpoint it keeps; not the best {objective.metric} of any epoch.")
    return (f"each trial's value is its {objective.metric} at its best epoch by its own "
            "train.monitor, the checkpoint it keeps.")


def _pruned_note(trials: pd.DataFrame, include_pruned: bool) -> list[str]:
    pruned = int((trials["state"] == TrialState.PRUNED).sum())
    if not pruned:
        return []
    if include_pruned:
        return [f"{pruned} pruned trial(s) are counted in the statistics (--include-pruned): "
                "their values come from shorter training than the others'."]
    return [f"{pruned} pruned trial(s) are left out of the statistics: they stopped early, so "
            "their values are not comparable with finished trials (--include-pruned counts them)."]


def _check_code_versions(trials: pd.DataFrame, root: Path, mixed: bool,
                         warnings: list[str]) -> None:
    """Trials that ran different code are not compared as if one thing changed, unless
    asked (`--mixed-code`); either way the versions are named."""
    versions = trials["code"].dropna().value_counts() if "code" in trials else pd.Series()
    if len(versions) < 2:
        return
    listing = ", ".join(f"{digest} ({n} trials)" for digest, n in versions.items())
    if not mixed:
        raise UsageError(
            f"the trials under {root} ran {len(versions)} versions of the code and data: "
            f"{listing}. Comparing them would mix the code's changes into the effects measured; "
            "analyze one version (--filter code=DIGEST) or pass --mixed-code to compare them anyway")
    warnings.append(f"the trials ran {len(versions)} versions of the code and data ({listing}); "
                    "compared anyway (--mixed-code): an effect may be the code's")


def _verdict_lines(groups: dict[str, Group]) -> list[str]:
    """A hypothesis study's verdicts, first: as its run gives them, from its files."""
    lines = []
    for key, group in groups.items():
        if not group.base_recipe or not group.objective:
            continue
        decided = read_verdicts(group.base_recipe, list(group.index_trials.values()),
                                group.objective[1])
        if decided:
            lines.append(f"Hypothesis of {key}, on {group.objective[0]}:")
            lines += [f"- {claim.text}: {decision.text()}" for claim, decision in decided]
            lines.append(guarantee(claims_of(group.base_recipe)[1], len(decided)))
    return lines


def analyze(directory, metric=None, mode=None, filters=(), out=None, plots=True, fmt="html",
            console=None, include_pruned=False, mixed_code=False) -> AnalysisResult:
    """Analyse every trial under `directory`; see the module docstring. Raises UsageError for
    a missing or empty directory, a metric without values, a bad filter or format, and for
    trials of several code versions unless `mixed_code` (then a warning names them)."""
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
    monitors = _monitors(loaded, ids)
    objective = resolve_objective(metric, mode, study_objectives, monitors,
                                  rankable(_valued(loaded, metrics, ids)), loaded.metric_names)
    disagree = sorted({f"{m}/{d}" for m, d in study_objectives} - {f"{objective.metric}/{objective.mode}"})
    if disagree:
        loaded.warnings.append(
            f"studies have other objectives too ({', '.join(disagree)}); all trials are judged by "
            f"{objective.metric}/{objective.mode} (choose with --metric/--mode)")
    trials[objective.column] = _objective_values(loaded, trials, objective)
    varied = [k for k in loaded.varied if any(k in g.varied for g in groups.values())]
    _check_code_versions(trials, root, mixed_code, loaded.warnings)

    from model_trainer.analysis.report_stats import run_statistics
    from model_trainer.analysis.tables import print_tables, ranking_frame, state_counts

    usable, basis = usable_trials(trials, objective, include_pruned)
    stats = run_statistics(usable, groups, objective)
    notes = _pruned_note(trials, include_pruned) + stats.notes
    summary = [
        *_verdict_lines(groups),
        f"{len(trials)} trials ({state_counts(trials)}) in {len(groups)} group(s) under {root}.",
        f"Objective: {objective.metric}, {objective.mode}imize (chosen from {objective.source}); "
        + _value_sentence(objective, monitors),
        *([f"Filters: {' '.join(filters)}"] if filters else []),
        f"Statistics use {basis}.",
        *stats.summary,
    ]
    out_dir = Path(out).expanduser() if out else root / ANALYSIS
    result = AnalysisResult(
        directory=root, objective=objective, trials=trials, metrics=metrics,
        ranking=ranking_frame(trials, objective, varied), ablation=stats.ablation,
        effects=stats.effects, importances=stats.importances, varied=varied, groups=groups,
        designs=stats.designs, fits=stats.fits, summary=summary, notes=notes,
        warnings=list(loaded.warnings), filters=filters, out_dir=out_dir,
        loaded=loaded,
    )
    _write_outputs(result, usable, plots, fmt)
    if console is None:
        from rich.console import Console

        console = Console()
    print_tables(console, result)
    return result


def _write_outputs(result: AnalysisResult, usable: pd.DataFrame, plots: bool, fmt: str) -> None:
    """trials.csv, metrics.parquet, the plots and the report, into `result.out_dir`."""
    from model_trainer.analysis.export import export_tables
    from model_trainer.analysis.outputs import check_out_dir

    check_out_dir(result.out_dir)  # before any file is written

    result.paths += export_tables(result.trials, result.metrics, result.out_dir,
                                  keep=[result.objective.column])
    made = []
    if plots and np.isfinite(result.trials[result.objective.column].astype(float)).any():
        from model_trainer.analysis.plots import make_plots

        made = make_plots(usable, result, result.warnings)
        result.plots = [p.path for p in made]
        result.paths += result.plots
    from model_trainer.analysis.report_content import build_content

    content = build_content(result, made)
    if fmt == "html":
        from model_trainer.analysis.report_html import write_html

        result.report = write_html(content, result.out_dir)
    else:
        from model_trainer.analysis.report_md import write_md

        result.report = write_md(content, result.out_dir)
    result.paths.append(result.report)
