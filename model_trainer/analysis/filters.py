"""`--filter KEY=VALUE`: keep the trials whose attribute KEY equals VALUE.

KEY is a dotted recipe key (`model.args.hidden`) or a trials-table column (`state`, `seed`,
`group`, `trial_id`). VALUE is parsed as YAML 1.2, as a recipe is, so `hidden=128` matches
the integer 128, `lr=1e-3` matches 0.001 and `x=017` matches 17. Filters on different keys
must all hold; repeating a key keeps trials matching any of its values (`state=completed
state=running`).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from model_trainer.analysis.loaded import Loaded
from model_trainer.errors import UsageError
from model_trainer.yaml_rules import load_yaml


def parse_filter(text: str) -> tuple[str, Any, str]:
    """Split 'key=value' into (key, parsed value, raw value); UsageError when malformed."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise UsageError(f"bad filter {text!r}: expected KEY=VALUE, e.g. model.args.hidden=128")
    try:
        value = load_yaml(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)):
        raise UsageError(f"bad filter {text!r}: VALUE must be a single value, not a {type(value).__name__}")
    return key, value, raw


def _equal(actual: Any, wanted: Any, raw: str) -> bool:
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return wanted is None or raw.lower() in ("null", "none", "~", "")
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted or str(actual).lower() == raw.lower()
    if isinstance(actual, (int, float)) and isinstance(wanted, (int, float)):
        return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=0.0)
    return actual == wanted or str(actual) == raw


def apply_filters(loaded: Loaded, filters: tuple[str, ...] | list[str]) -> list[str]:
    """Trial ids that pass every filter, in table order."""
    trials = loaded.trials
    wanted: dict[str, list[tuple[Any, str]]] = {}
    for text in filters:
        key, value, raw = parse_filter(text)
        wanted.setdefault(key, []).append((value, raw))
    ids = list(trials["trial_id"])
    for key, options in wanted.items():
        if key in trials.columns:
            actual = dict(zip(trials["trial_id"], trials[key], strict=True))
        elif any(key in rec.recipe or key in rec.params for rec in loaded.records.values()):
            actual = {
                tid: rec.recipe.get(key, rec.params.get(key)) for tid, rec in loaded.records.items()
            }
        else:
            sample = sorted(set().union(*(rec.recipe for rec in loaded.records.values())))
            hint = ", ".join(["state", "seed", "group", "trial_id", *sample[:12]])
            raise UsageError(f"bad filter: no trial has the key {key!r} (known keys include: {hint}, ...)")
        ids = [t for t in ids if any(_equal(actual.get(t), v, raw) for v, raw in options)]
    if not ids:
        raise UsageError(f"no trials match the filters: {' '.join(filters)}")
    return ids
