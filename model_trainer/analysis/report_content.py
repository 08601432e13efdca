"""What a report says, independent of its format (HTML or Markdown render the same content)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from model_trainer.analysis.tables import ablation_display, state_counts
from model_trainer.vocabulary import TrialState

REPORT_RANKS = 100


@dataclass
class Failure:
    trial_id: str
    error: str
    traceback: str | None
    path: str


@dataclass
class ReportContent:
    title: str
    summary: list[str]
    warnings: list[str]
    ranking_title: str
    ranking: pd.DataFrame
    ranking_note: str
    ablation_note: str
    ablations: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    importances: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    plots: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    recipes: list[tuple[str, str]] = field(default_factory=list)


def _recipe_texts(result) -> list[tuple[str, str]]:
    """The base recipe of each group: study.yaml, else the best trial's recipe.yaml."""
    out = []
    best_first = list(result.ranking["trial_id"]) if not result.ranking.empty else []
    for key, group in result.groups.items():
        if group.base_text is not None:
            out.append((f"Base recipe of {key} (study.yaml)", group.base_text))
            continue
        members = set(group.trial_ids)
        tid = next((t for t in best_first if t in members), None)
        rec = result.loaded.records.get(tid) if tid else None
        if rec is None:
            continue
        try:
            text = (Path(rec.path) / "recipe.yaml").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        out.append((f"Recipe of {key}'s best trial {tid} (recipe.yaml)", text))
    return out


def build_content(result, plots: list) -> ReportContent:
    """Gather the tables, plots and failures of an AnalysisResult for a report."""
    obj, trials = result.objective, result.trials
    summary = [
        f"Directory: {result.directory}",
        f"{len(trials)} trials ({state_counts(trials)}) in {len(result.groups)} group(s).",
        f"Objective: {obj.metric}, {obj.mode}imize (chosen from {obj.source}); "
        f"each trial's value is its best {obj.metric} over its epochs.",
    ]
    if result.filters:
        summary.append("Filters: " + " ".join(result.filters))
    ranking = result.ranking.head(REPORT_RANKS)
    note = ""
    if len(result.ranking) > REPORT_RANKS:
        note = f"Showing the top {REPORT_RANKS} of {len(result.ranking)} trials; all are in trials.csv."
    ablations = []
    if not result.ablation.empty:
        shown = ablation_display(result.ablation)
        for (group, attribute), part in shown.groupby(["group", "attribute"], sort=False):
            ablations.append((f"{attribute} in {group}", part.drop(columns=["group", "attribute"])))
    importances = [
        (f"Parameter importance in {g} (Optuna)",
         pd.DataFrame({"parameter": list(v), "importance": [round(x, 4) for x in v.values()]}))
        for g, v in result.importances.items()
    ]
    failed = trials[trials["state"] == TrialState.FAILED]
    failures = [
        Failure(str(r.trial_id), str(r.error or "no error recorded"),
                r.traceback if isinstance(r.traceback, str) else None, str(r.path))
        for r in failed.itertuples(index=False)
    ]
    return ReportContent(
        title=f"mtrain analysis: {Path(result.directory).name or result.directory}",
        summary=summary,
        warnings=list(result.warnings),
        ranking_title=f"Trials ranked by {obj.metric} ({obj.mode})",
        ranking=ranking,
        ranking_note=note,
        ablation_note=(
            f"Statistics use {result.stats_basis}. n counts trials (seeds and other attributes "
            "pooled); CI is the 95% t-interval of the mean. 'diff' is value minus baseline: a "
            "paired t-test over trials matching on seed and every other varied attribute when "
            "there are at least 3 such pairs, else Welch's t-test. No correction for multiple "
            "comparisons is applied."
        ),
        ablations=ablations,
        importances=importances,
        plots=plots,
        failures=failures,
        recipes=_recipe_texts(result),
    )
