"""Collect every trial folder under a directory into a trials table and a long metrics table.

One row per trial (state, varied attributes, seed, best/final metric values, errors) and
one row per logged metric value. Trials are grouped by the study folder they sit in, or by
their parent folder when they are not part of a study.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from model_trainer import dotted
from model_trainer.analysis import metrics_table, readers
from model_trainer.analysis.loaded import Group, Loaded, TrialData
from model_trainer.analysis.objective import guess_mode
from model_trainer.layout import METRICS, RECIPE, STATUS, STUDY_INDEX, STUDY_RECIPE

# Keys that name where or how a run happened, not what was run; never "varied attributes".
IGNORED_KEYS = frozenset({"seed", "name", "output_dir", "device"})
# Columns of the trials table; a recipe key of the same name must not overwrite them.
RESERVED = frozenset({
    "trial_id", "group", "study_id", "state", "epochs_done", "global_step", "duration_s",
    "stop_reason", "attempts", "started_at", "ended_at", "error_type", "error", "traceback",
    "metric_rows", "bad_metric_lines", "path", "rank",
})
IGNORED_PREFIXES = ("study.",)


def _group_key(folder: Path, root: Path) -> str:
    try:
        rel = folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name or str(folder)
    return root.name if rel == "." else rel


def _read_group(folder: Path, root: Path, warnings: list[str]) -> Group:
    group = Group(key=_group_key(folder, root), path=folder, is_study=True)
    study_yaml = folder / STUDY_RECIPE
    base = readers.read_yaml_mapping(study_yaml, warnings)
    if base is not None:
        group.base_recipe = base
        try:
            group.base_text = study_yaml.read_text(encoding="utf-8", errors="replace")
        except OSError:
            group.base_text = None
        study_section = base.get("study")
        if isinstance(study_section, dict) and isinstance(study_section.get("space"), dict):
            group.space = dict(study_section["space"])
    index = readers.read_json_mapping(folder / STUDY_INDEX, warnings)
    if index is not None:
        group.study_id = index.get("study_id") if isinstance(index.get("study_id"), str) else None
        if isinstance(index.get("space"), dict):
            group.space = {**index["space"], **group.space}
        obj = index.get("objective")
        if isinstance(obj, dict) and isinstance(obj.get("metric"), str):
            group.objective = (obj["metric"], str(obj.get("mode") or guess_mode(obj["metric"])))
        group.index_trials = {
            t["trial_id"]: t
            for t in index.get("trials") or []
            if isinstance(t, dict) and isinstance(t.get("trial_id"), str)
        }
    return group


def _read_trial(folder: Path, group: Group, root: Path, taken: dict, warnings: list[str]) -> TrialData:
    problems: list[str] = []
    status = readers.read_json_mapping(folder / STATUS, problems)
    if status is None:
        reason = problems[0] if problems else f"{folder / STATUS}: unreadable"
        warnings.append(f"{reason}; trial state set to 'unknown'")
        status = {"state": "unknown"}
    recipe_raw = readers.read_yaml_mapping(folder / RECIPE, warnings) or {}
    recipe = dotted.flatten(recipe_raw)
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
    return TrialData(trial_id, folder, group.key, status, recipe, params, index_entry)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _attribute(record: TrialData, key: str) -> Any:
    if key in record.recipe:
        return record.recipe[key]
    return record.params.get(key)


def _find_varied(group: Group, records: list[TrialData]) -> None:
    """Varied keys (space keys first, then any key whose value differs) and their baselines."""
    keys: dict[str, None] = dict.fromkeys(k for k in group.space if k not in RESERVED)
    union: dict[str, None] = {}
    for rec in records:
        union.update(dict.fromkeys(rec.recipe))
        union.update(dict.fromkeys(rec.params))
    for key in union:
        if key in IGNORED_KEYS or key in RESERVED or key.startswith(IGNORED_PREFIXES) or key in keys:
            continue
        if len({_hashable(_attribute(rec, key)) for rec in records}) > 1:
            keys[key] = None
    group.varied = list(keys)
    base_flat = dotted.flatten(group.base_recipe) if group.base_recipe else {}
    for key in group.varied:
        if key in base_flat:
            group.baselines[key] = base_flat[key]
            group.baseline_source[key] = "study.yaml"
            continue
        counts = Counter(_hashable(_attribute(rec, key)) for rec in records)
        counts.pop(None, None)
        if counts:
            group.baselines[key] = counts.most_common(1)[0][0]
            group.baseline_source[key] = "most common"


def _number(value: Any) -> float:
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
        row[key] = _attribute(rec, key)
    best = status.get("best") if isinstance(status.get("best"), dict) else {}
    for name in metric_names:
        if name.endswith("_lr"):
            row[f"final_{name}"] = rec.final.get(name, math.nan)
            continue
        table = rec.low if guess_mode(name) == "min" else rec.high
        value = table.get(name, math.nan)
        if math.isnan(value) and best.get("metric") == name:
            value = _number(best.get("value"))
        row[f"best_{name}"] = value
        row[f"final_{name}"] = rec.final.get(name, math.nan)
    error_type, error, traceback = _error_fields(status)
    row.update(
        epochs_done=status.get("epochs_done"),
        global_step=status.get("global_step"),
        duration_s=_number(status.get("duration_s")),
        stop_reason=status.get("stop_reason"),
        attempts=status.get("attempts"),
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


def collect(directory: str | Path) -> Loaded:
    """Read every trial under `directory` (no error for an empty one: callers decide)."""
    root = Path(directory)
    warnings: list[str] = []
    layout = readers.find_layout(root)
    groups: dict[str, Group] = {}
    study_by_path = {}
    for folder in layout.study_dirs:
        group = _read_group(folder, root, warnings)
        groups[group.key] = group
        study_by_path[folder] = group
    records: dict[str, TrialData] = {}
    for folder in layout.trial_dirs:
        group = study_by_path.get(folder.parent)
        if group is None:  # not a study's direct child: grouped by its parent folder
            key = _group_key(folder.parent, root)
            group = groups.setdefault(key, Group(key=key, path=folder.parent, is_study=False))
        rec = _read_trial(folder, group, root, records, warnings)
        records[rec.trial_id] = rec
        group.trial_ids.append(rec.trial_id)
    groups = {k: g for k, g in groups.items() if g.trial_ids}
    varied: dict[str, None] = {}
    for group in groups.values():
        _find_varied(group, [records[t] for t in group.trial_ids])
        varied.update(dict.fromkeys(group.varied))
    metrics, counts, bad = metrics_table.read_all(
        [(tid, rec.path / METRICS) for tid, rec in records.items()])
    for tid, count in counts.items():
        records[tid].metric_rows = count
    for tid, count in bad.items():
        records[tid].bad_lines = count
        if count:
            warnings.append(f"{records[tid].path / METRICS}: skipped {count} unparseable line(s)")
    metrics_table.summarize_into(metrics, records)
    names: set[str] = set(metrics["metric"].cat.categories)
    for rec in records.values():
        best = rec.status.get("best")
        if isinstance(best, dict) and isinstance(best.get("metric"), str):
            names.add(best["metric"])
    metric_names = sorted(names)
    rows = [_trial_row(rec, list(varied), metric_names) for rec in records.values()]
    trials = pd.DataFrame(rows)
    if not trials.empty:
        trials["study_id"] = [groups[g].study_id for g in trials["group"]]
    return Loaded(
        root=root,
        trials=trials,
        metrics=metrics,
        groups=groups,
        records=records,
        varied=list(varied),
        warnings=warnings,
        metric_names=metric_names,
    )
