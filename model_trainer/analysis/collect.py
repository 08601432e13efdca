"""Collect every trial folder under a directory into a trials table and a long metrics table.

One row per trial (state, varied attributes, seed, its best epoch by the monitor and every
metric there, final and extreme values, errors) and one row per logged metric value.
Trials are grouped by the study folder they sit in, or by their parent folder when they
are not part of a study. Only what lies under the directory is read (see walk.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from model_trainer import dotted
from model_trainer.analysis import best_epoch, metrics_table, readers, walk
from model_trainer.analysis.loaded import Group, Loaded, TrialData
from model_trainer.analysis.varied import attribute, find_varied
from model_trainer.journal import journal_path, with_journal
from model_trainer.layout import METRICS, RECIPE, STATUS, STUDY_INDEX, STUDY_RECIPE
from model_trainer.metrics_file import guess_mode

SAMPLERS = ("grid", "random", "tpe")


def _group_key(folder: Path, root: Path) -> str:
    try:
        rel = folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name or str(folder)
    return root.name if rel == "." else rel


def _read_group(folder: Path, root: Path, layout: walk.Layout, warnings: list[str]) -> Group:
    group = Group(key=_group_key(folder, root), path=folder, is_study=True)
    study_yaml = folder / STUDY_RECIPE
    text = readers.read_text(study_yaml, warnings) if layout.readable(study_yaml) else None
    base = readers.read_yaml_mapping(study_yaml, warnings, text) if text is not None else None
    if base is not None:
        group.base_recipe, group.base_text = base, text
        study_section = base.get("study")
        if isinstance(study_section, dict):
            if isinstance(study_section.get("space"), dict):
                group.space = dict(study_section["space"])
            if study_section.get("sampler") in SAMPLERS:
                group.sampler = study_section["sampler"]
    index_path = folder / STUDY_INDEX
    index = readers.read_json_mapping(index_path, warnings) \
        if layout.readable(index_path) else None
    if index is not None and layout.readable(journal_path(index_path)):
        index = with_journal(index, index_path) or index  # a running study's changes
    if index is not None:
        group.study_id = index.get("study_id") if isinstance(index.get("study_id"), str) else None
        if isinstance(index.get("space"), dict):
            group.space = {**index["space"], **group.space}
        if index.get("sampler") in SAMPLERS:
            group.sampler = index["sampler"]
        horizon = index.get("horizon")
        group.horizon = horizon if isinstance(horizon, int) and not isinstance(horizon, bool) \
            else None
        obj = index.get("objective")
        if isinstance(obj, dict) and isinstance(obj.get("metric"), str):
            group.objective = (obj["metric"], str(obj.get("mode") or guess_mode(obj["metric"])))
        group.index_trials = {
            t["trial_id"]: t
            for t in index.get("trials") or []
            if isinstance(t, dict) and isinstance(t.get("trial_id"), str)
        }
    return group


def _read_trial(folder: Path, group: Group, root: Path, layout: walk.Layout, taken: dict,
                warnings: list[str]) -> TrialData:
    problems: list[str] = []
    status = None
    if layout.readable(folder / STATUS):
        status = readers.read_json_mapping(folder / STATUS, problems)
    if status is None:
        reason = problems[0] if problems else f"{folder / STATUS}: not read"
        warnings.append(f"{reason}; trial state set to 'unknown'")
        status = {"state": "unknown"}
    recipe_raw = None
    if layout.readable(folder / RECIPE):
        recipe_raw = readers.read_yaml_mapping(folder / RECIPE, warnings)
    recipe = dotted.flatten(recipe_raw or {})
    trial_id = status.get("trial_id") if isinstance(status.get("trial_id"), str) else folder.name
    index_entry = group.index_trials.get(trial_id, {})
    study = status.get("study") if isinstance(status.get("study"), dict) else {}
    params = {}
    for source in (index_entry.get("params"), study.get("params")):
        if isinstance(source, dict):
            params.update(source)
    if not group.study_id and isinstance(study.get("study_id"), str):
        group.study_id = study["study_id"]
    if trial_id in taken:
        warnings.append(f"{folder}: trial id {trial_id} seen twice; keeping both by path")
        trial_id = f"{trial_id}@{_group_key(folder, root)}"
    return TrialData(trial_id, folder, group.key, status, recipe, params, index_entry,
                     monitor=best_epoch.monitor_of(recipe, status))


def number(value: Any) -> float:
    """A number read from a file as a float; NaN for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _error_fields(status: dict) -> tuple[str | None, str | None, str | None]:
    error = status.get("error")
    if not isinstance(error, dict):
        return (None, str(error), None) if error else (None, None, None)
    kind = error.get("type")
    message = error.get("message")
    text = f"{kind}: {message}" if kind and message else (message or kind)
    return kind, text, error.get("traceback")


def _trial_row(rec: TrialData, varied: list[str], metric_names: list[str]) -> dict:
    status = rec.status
    state = status.get("state")
    state = state.lower() if isinstance(state, str) and state else "unknown"
    seed = rec.recipe.get("seed", rec.index_entry.get("seed"))
    row: dict[str, Any] = {
        "trial_id": rec.trial_id,
        "group": rec.group,
        "study_id": None,
        "state": state,
        "seed": seed,
    }
    for key in varied:
        row[key] = attribute(rec, key)
    row["best_epoch"] = rec.best_epoch
    for name in metric_names:
        row[f"at_best_{name}"] = rec.at_best.get(name, math.nan)
    for name in metric_names:
        row[f"final_{name}"] = rec.final.get(name, math.nan)
        if not name.endswith("_lr"):  # a learning rate's extreme says nothing
            mode = guess_mode(name)
            row[f"{mode}_{name}"] = (rec.low if mode == "min" else rec.high).get(name, math.nan)
    error_type, error, traceback = _error_fields(status)
    row.update(
        epochs_done=status.get("epochs_done"),
        global_step=status.get("global_step"),
        duration_s=number(status.get("duration_s")),
        stop_reason=status.get("stop_reason"),
        attempts=status.get("attempts"),
        code=status.get("code") if isinstance(status.get("code"), str) else None,
        started_at=status.get("started_at"),
        ended_at=status.get("ended_at"),
        error_type=error_type,
        error=error,
        traceback=traceback,
        metric_rows=rec.metric_rows,
        bad_metric_lines=rec.bad_lines,
        path=str(rec.path),
    )
    return row


def _best_rows(metrics: pd.DataFrame, records: dict[str, TrialData]) -> None:
    """Fill each record's best epoch and its metrics there (status.json's `best` when the
    metrics file has no monitored value)."""
    monitors = {t: r.monitor for t, r in records.items() if r.monitor is not None}
    best = best_epoch.best_positions(metrics, monitors)
    wide = best_epoch.values_at_best(metrics, best)
    for tid, values in wide.iterrows() if not wide.empty else ():
        records[tid].at_best = {k: float(v) for k, v in values.items() if not pd.isna(v)}
    epochs = best["epoch"].to_dict()
    for tid, rec in records.items():
        if tid in epochs:
            rec.best_epoch = float(epochs[tid])
            rec.at_best[rec.monitor.metric] = float(metrics["value"].iloc[int(best.at[tid, "row"])])
            continue
        recorded = rec.status.get("best")
        if rec.monitor and isinstance(recorded, dict) and recorded.get("metric") == rec.monitor.metric:
            rec.best_epoch = number(recorded.get("epoch"))
            value = number(recorded.get("value"))
            if not math.isnan(value):
                rec.at_best[rec.monitor.metric] = value


def _within_horizons(metrics: pd.DataFrame, records: dict[str, TrialData],
                     groups: dict[str, Group], warnings: list[str]) -> pd.DataFrame:
    """A study's trials as the study saw them: rows past its epochs (a longer run of the
    same trial id, adopted by the study) are left out, test rows past them too, and said."""
    limits = {tid: groups[rec.group].horizon for tid, rec in records.items()
              if groups[rec.group].horizon is not None}
    if not limits or metrics.empty:
        return metrics
    limit = metrics["trial_id"].map(limits).astype("float64")
    past = metrics["epoch"].astype("float64") > limit
    if not past.any():
        return metrics
    for group in groups.values():
        longer = sorted({str(t) for t in metrics.loc[past, "trial_id"]} & set(group.trial_ids))
        if longer:
            warnings.append(f"{len(longer)} trial(s) of {group.key} trained past the study's "
                            f"{group.horizon} epochs (another run of the same id): their rows "
                            f"after epoch {group.horizon} are left out, their test rows with "
                            f"them ({', '.join(longer[:5])})")
    kept = metrics[~past].reset_index(drop=True)
    kept["trial_id"] = kept["trial_id"].cat.remove_unused_categories()
    return kept


def collect(directory: str | Path) -> Loaded:
    """Read every trial under `directory` (no error for an empty one: callers decide);
    UsageError for a pseudo file system."""
    root = walk.check_root(directory)
    layout = walk.find_layout(root)
    warnings: list[str] = list(layout.warnings)
    groups: dict[str, Group] = {}
    study_by_path = {}
    for folder in layout.study_dirs:
        group = _read_group(folder, root, layout, warnings)
        groups[group.key] = group
        study_by_path[folder] = group
    records: dict[str, TrialData] = {}
    for folder in layout.trial_dirs:
        group = study_by_path.get(folder.parent)
        if group is None:  # not a study's direct child: grouped by its parent folder
            key = _group_key(folder.parent, root)
            group = groups.setdefault(key, Group(key=key, path=folder.parent, is_study=False))
        rec = _read_trial(folder, group, root, layout, records, warnings)
        records[rec.trial_id] = rec
        group.trial_ids.append(rec.trial_id)
    groups = {k: g for k, g in groups.items() if g.trial_ids}
    varied: dict[str, None] = {}
    for group in groups.values():
        find_varied(group, [records[t] for t in group.trial_ids])
        varied.update(dict.fromkeys(group.varied))
    metrics, counts, bad, evaluated = metrics_table.read_all(
        [(tid, rec.path / METRICS) for tid, rec in records.items()
         if layout.readable(rec.path / METRICS)])
    if evaluated:
        warnings.append(f"{sum(evaluated.values())} row(s) that `mtrain eval` appended to "
                        f"{len(evaluated)} trial(s) are re-evaluations, not training's figures: "
                        "left out of the tables")
    metrics = _within_horizons(metrics, records, groups, warnings)
    for tid, count in counts.items():
        records[tid].metric_rows = count
    for tid, count in bad.items():
        records[tid].bad_lines = count
        if count:
            warnings.append(f"{records[tid].path / METRICS}: skipped {count} unparseable "
                            "line(s) (not UTF-8 JSON rows)")
    metrics_table.summarize_into(metrics, records)
    _best_rows(metrics, records)
    names: set[str] = set(metrics["metric"].cat.categories)
    for rec in records.values():
        names.update(rec.at_best)
    metric_names = sorted(names)
    rows = [_trial_row(rec, list(varied), metric_names) for rec in records.values()]
    trials = pd.DataFrame(rows)
    if not trials.empty:
        trials["study_id"] = [groups[g].study_id for g in trials["group"]]
        try:  # whole epochs read as 3, not 3.0; a fractional one (a custom loop) stays a float
            trials["best_epoch"] = trials["best_epoch"].astype("Int64")
        except (TypeError, ValueError):
            pass
    return Loaded(
        root=root,
        trials=trials,
        metrics=metrics,
        groups=groups,
        records=records,
        varied=list(varied),
        warnings=warnings,
        metric_names=metric_names,
        blocked=layout.blocked,
    )
