"""An adaptive-seeds study is judged by the run's own sequential decision.

Adaptive seeds stop adding seeds once a comparison looks decided, so a fixed-sample test
on the seeds that were run is no longer valid (it calls differences the run left
undecided). Each comparison of such a study is therefore the decision the run made, from
the same function (`model_trainer.sequential.seed_decision`), with its repeated
confidence interval: the configuration with this value and every other attribute at the baseline,
against the baseline configuration, paired by seed, at the study's alpha over its
comparisons (Bonferroni, as the run).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from model_trainer.analysis.labels import level_key
from model_trainer.analysis.loaded import Group
from model_trainer.sequential import Values, seed_decision
from model_trainer.vocabulary import UNFINISHED

TEST = "group sequential"


HYPOTHESIS_NOTE = ("a hypothesis study: its claims' verdicts come first; its seeds were "
                   "added while a claim was open, so no fixed-sample test is made here")


def is_hypothesis(group: Group) -> bool:
    return isinstance((group.base_recipe or {}).get("hypothesis"), dict)


def adaptive_spec(group: Group) -> dict[str, Any] | None:
    """The study's adaptive seeds ({min, max, decide, alpha}), or None."""
    seeds = ((group.base_recipe or {}).get("study") or {}).get("seeds")
    if not isinstance(seeds, dict) or not isinstance(seeds.get("decide"), int | float):
        return None
    return {"min": int(seeds.get("min", 3)), "max": int(seeds.get("max", 12)),
            "decide": float(seeds["decide"]), "alpha": float(seeds.get("alpha", 0.05))}


def note(group: Group, spec: dict[str, Any]) -> str:
    return (f"{group.key}: adaptive seeds (up to {spec['max']} per configuration): each "
            f"comparison is the run's sequential decision with its repeated confidence interval, at "
            f"alpha {spec['alpha']:g} over the study's {_comparisons(group)} comparison(s); "
            "fixed-sample p-values are not valid after adaptive stopping and are not shown")


def comparison(frame: pd.DataFrame, group: Group, attribute: str, level: Any,
               column: str, spec: dict[str, Any], mode: str) -> dict[str, Any]:
    """The row's comparison fields for `attribute` = `level` (see the module docstring)."""
    config = _seeds(frame, group, {**_baseline(group), attribute: level}, column)
    baseline = _seeds(frame, group, _baseline(group), column)
    decision = seed_decision(config[0], baseline[0], config[1], spec["min"], spec["max"],
                             spec["decide"], spec["alpha"] / _comparisons(group))
    iv = decision.interval
    bounded = iv.n >= 2 and math.isfinite(iv.low)
    return {"diff": iv.estimate if iv.n else math.nan,
            "diff_ci_low": iv.low if bounded else math.nan,
            "diff_ci_high": iv.high if bounded else math.nan,
            "effect_size": iv.estimate / iv.sd if iv.n >= 2 and iv.sd > 0 else math.nan,
            "effect_kind": "d_z" if iv.n >= 2 else "", "test": TEST, "n_pairs": iv.n,
            "p_value": math.nan,
            "note": "adaptive seeds: " + decision.text(mode, spec["decide"])}


def _baseline(group: Group) -> dict[str, Any]:
    return {a: level_key(group.baselines.get(a)) for a in group.varied}


def _seeds(frame: pd.DataFrame, group: Group, wanted: dict[str, Any], column: str,
           ) -> tuple[Values, set[int]]:
    """(seed -> value of each finished trial, None where it has none; seeds still running)
    of the study's trials with exactly the `wanted` attribute values."""
    values = dict(zip(frame["trial_id"], frame[column].astype(float), strict=True))
    finished: Values = {}
    running: set[int] = set()
    for trial_id, entry in group.index_trials.items():
        params = entry.get("params") or {}
        if any(level_key(params.get(a)) != v for a, v in wanted.items()):
            continue
        seed = entry.get("seed")
        if entry.get("state") in UNFINISHED:
            running.add(seed)
        else:
            value = values.get(trial_id)
            finished[seed] = value if value is not None and math.isfinite(value) else None
    return finished, running


def _comparisons(group: Group) -> int:
    """Configurations of the grid but the baseline: what the run divided alpha by."""
    size = 1
    for spec in group.space.values():
        if isinstance(spec, dict) and isinstance(spec.get("choice"), list):
            size *= len(spec["choice"])
        elif isinstance(spec, dict) and isinstance(spec.get("int"), list):
            low, high = spec["int"]
            size *= (high - low) // int(spec.get("step", 1)) + 1
    return max(size - 1, 1)
