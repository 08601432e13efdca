"""Every statistic of one report: per group, the design, then the ablation tables or the
effect estimates that fit it, one Holm correction over all their tests, and importance."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from model_trainer.analysis import adaptive_rows
from model_trainer.analysis import effects as effects_module
from model_trainer.analysis.conclusions import conclude
from model_trainer.analysis.design import ABLATION, design_of
from model_trainer.analysis.importance import importances
from model_trainer.analysis.loaded import Group
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.stats import ablation_table

DESIGN_SENTENCES = {
    ABLATION: "each value is compared with the baseline, paired by seed and the other attributes",
    "sampled": "each dimension's effect comes from one regression on all dimensions at once; "
               "no value is a baseline",
}


@dataclass
class Statistics:
    ablation: pd.DataFrame
    effects: pd.DataFrame
    designs: dict[str, tuple[str, str]]
    fits: dict[str, str]
    importances: dict[str, dict[str, float]]
    summary: list[str]  # how the statistics were made
    notes: list[str]  # what could not be computed, and why


def run_statistics(usable: pd.DataFrame, groups: dict[str, Group], objective: Objective) -> Statistics:
    designs: dict[str, tuple[str, str]] = {}
    effect_rows: list[dict] = []
    fits: dict[str, str] = {}
    for key, group in groups.items():
        frame = usable[usable["group"] == key]
        if frame.empty or not group.varied:
            continue
        designs[key] = design_of(group, frame)
        if designs[key][0] != ABLATION:
            rows, fits[key] = effects_module.effect_rows(frame, group, objective)
            effect_rows += rows
    ablation = ablation_table(usable, groups, objective,
                              {k: d for k, (d, _) in designs.items()})
    effects = pd.DataFrame(effect_rows, columns=effects_module.COLUMNS)
    tests = conclude(ablation, effects, objective)
    notes = [adaptive_rows.note(groups[key], spec) for key, (design, _) in designs.items()
             if design == ABLATION and (spec := adaptive_rows.adaptive_spec(groups[key]))]
    found = importances(usable, groups, objective, notes)
    summary = [f"{key}: {why}, so {DESIGN_SENTENCES[design]}." for key, (design, why) in designs.items()]
    if tests:
        summary.append(f"p-values are Holm-corrected over the {tests} test(s) of this report; "
                       "each conclusion reads the corrected value (Holm p), the raw p is beside it.")
    return Statistics(ablation, effects, designs, fits, found, summary, notes)
