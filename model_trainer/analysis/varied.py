"""Which attributes vary within a group of trials, each trial's value of them, and the
baseline value (the study recipe's own) each one is compared with."""

from __future__ import annotations

from collections import Counter
from typing import Any

from model_trainer import dotted
from model_trainer.analysis.labels import label, level_key, unflatten
from model_trainer.analysis.loaded import Group, TrialData
from model_trainer.layout import STUDY_RECIPE

# Never "varied attributes": the seed (a column of its own) and the study's own settings.
IGNORED_KEYS = frozenset({"seed"})
IGNORED_PREFIXES = ("study.",)
# What a trial's status.json lists under `stateless_keys` (every key outside its identity:
# where and how it ran); a folder written before it did falls back to these.
STATELESS_BEFORE = frozenset({"name", "output_dir", "device"})
_ABSENT = object()
# Columns of the trials table; a recipe key of the same name must not overwrite them.
RESERVED = frozenset({
    "trial_id", "group", "study_id", "state", "epochs_done", "global_step", "duration_s",
    "stop_reason", "attempts", "started_at", "ended_at", "error_type", "error", "traceback",
    "metric_rows", "bad_metric_lines", "path", "rank", "best_epoch",
})


def attribute(record: TrialData, key: str) -> Any:
    """The trial's value of dotted `key`, mappings and lists as their readable label.

    A study's sampled mapping comes from its params (the recipe holds it merged into the
    base recipe's mapping, with keys the choice never set); a plain value from the recipe.
    """
    sampled = record.params.get(key)
    if isinstance(sampled, (dict, list, tuple)):
        return label(sampled)
    if key in record.recipe:
        return record.recipe[key]
    if key in record.params:
        return sampled
    return label(unflatten(record.recipe, key))


def _under_space_key(key: str, space: dict) -> bool:
    """`train.optimizer.lr` when the space varies `train.optimizer` as a whole."""
    return any(key.startswith(k + ".") for k in space)


def _baseline(group: Group, key: str, base: dict) -> tuple[Any, str] | None:
    """The study recipe's value of `key`, as a level of the trials (a sampled mapping is
    the choice that, applied to the base recipe, gives it back)."""
    spec = group.space.get(key)
    choices = spec.get("choice") if isinstance(spec, dict) else None
    value = dotted.get(base, key, default=_ABSENT)
    if value is _ABSENT:
        return None
    if isinstance(value, dict) and isinstance(choices, list):
        value = next((c for c in choices if dotted.matches(c, value)), value)
    return label(value), STUDY_RECIPE


def _stateless(record: TrialData) -> frozenset[str]:
    """The keys of the trial's recipe that are not part of the experiment (stateless or
    derived), as its status.json lists them."""
    listed = record.status.get("stateless_keys")
    if isinstance(listed, list):
        return frozenset(k for k in listed if isinstance(k, str))
    return STATELESS_BEFORE


def find_varied(group: Group, records: list[TrialData]) -> None:
    """Set the group's varied keys (space keys first, then any stateful key whose value
    differs), their baselines and the order of their levels in the space."""
    keys: dict[str, None] = dict.fromkeys(k for k in group.space if k not in RESERVED)
    union: dict[str, None] = {}
    ignored = set(IGNORED_KEYS)
    for rec in records:
        union.update(dict.fromkeys(rec.recipe))
        union.update(dict.fromkeys(rec.params))
        ignored |= _stateless(rec)
    for key in union:
        if (key in ignored or key in RESERVED or key.startswith(IGNORED_PREFIXES)
                or key in keys or _under_space_key(key, group.space)):
            continue
        if len({level_key(attribute(rec, key)) for rec in records}) > 1:
            keys[key] = None
    group.varied = list(keys)
    base = group.base_recipe or {}
    for key in group.varied:
        spec = group.space.get(key)
        if isinstance(spec, dict) and isinstance(spec.get("choice"), list):
            group.level_order[key] = [level_key(label(c)) for c in spec["choice"]]
        found = _baseline(group, key, base)
        if found is not None:
            group.baselines[key], group.baseline_source[key] = found
            continue
        counts = Counter(level_key(attribute(rec, key)) for rec in records)
        counts.pop(None, None)
        if counts:
            group.baselines[key] = counts.most_common(1)[0][0]
            group.baseline_source[key] = "most common"
