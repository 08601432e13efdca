"""What a report says, independent of its format (HTML or Markdown render the same content)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from model_trainer.analysis import stats
from model_trainer.analysis.readers import read_text
from model_trainer.analysis.tables import (
    attribute_tables,
    effect_tables,
    importance_frame,
    ranking_display,
)
from model_trainer.layout import RECIPE, STUDY_RECIPE
from model_trainer.vocabulary import TrialState

REPORT_RANKS = 100


@dataclass
class Failure:
    trial_id: str
    error: str
    traceback: str | None
    path: str


@dataclass
class Section:
    """One table of the report: a title, a line under it, and its text cells."""

    title: str
    caption: str
    frame: pd.DataFrame


@dataclass
class ReportContent:
    title: str
    summary: list[str]
    notes: list[str]
    warnings: list[str]
    ranking_title: str
    ranking: pd.DataFrame
    ranking_note: str
    statistics_note: str
    sections: list[Section] = field(default_factory=list)
    plots: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    recipes: list[tuple[str, str]] = field(default_factory=list)


def _recipe_texts(result) -> list[tuple[str, str]]:
    """The base recipe of each group: study.yaml, else the best trial's recipe.yaml."""
    out = []
    best_first = list(result.ranking["trial_id"]) if not result.ranking.empty else []
    for key, group in result.groups.items():
        if group.base_text is not None:
            out.append((f"Base recipe of {key} ({STUDY_RECIPE})", group.base_text))
            continue
        members = set(group.trial_ids)
        tid = next((t for t in best_first if t in members), None)
        rec = result.loaded.records.get(tid) if tid else None
        if rec is None:
            continue
        path = Path(rec.path) / RECIPE
        text = read_text(path, []) if path not in result.loaded.blocked else None
        if text is None:
            continue
        out.append((f"Recipe of {key}'s best trial {tid} ({RECIPE})", text))
    return out


def statistics_note() -> str:
    """How to read the tables, in one paragraph under them."""
    return (
        "n counts trials (seeds and other attributes pooled); 95% CI is the t-interval of "
        "the mean. In an ablation, 'diff' is value minus baseline with its 95% CI (baseline "
        "trials count when run with the same other attributes as the value): a paired t-test "
        "over trials matching on seed and every other varied attribute when there are at "
        f"least {stats.MIN_PAIRS} such pairs, else Welch's t-test; the effect size is d_z "
        "(mean difference / SD of the differences) for pairs and Hedges' g otherwise. In a "
        "sampled design, each effect comes from one least-squares regression on all "
        "dimensions, with its 95% CI and a standardised effect (effect / residual SD). "
        "Conclusions use Holm-corrected p-values. See docs/analysis.md for how to read them."
    )


def build_content(result, plots: list) -> ReportContent:
    """Gather the tables, plots and failures of an AnalysisResult for a report."""
    obj, trials = result.objective, result.trials
    ranking = ranking_display(result.ranking.head(REPORT_RANKS), obj, result.varied)
    note = ""
    if len(result.ranking) > REPORT_RANKS:
        note = f"Showing the top {REPORT_RANKS} of {len(result.ranking)} trials; all are in trials.csv."
    sections = [Section(*table) for table in effect_tables(result) + attribute_tables(result)]
    sections += [Section(f"Parameter importance in {g} (Optuna fANOVA)",
                         "each dimension's share of the variance of the objective across "
                         "configurations (seeds averaged); the rest is interactions",
                         importance_frame(v))
                 for g, v in result.importances.items()]
    failed = trials[trials["state"] == TrialState.FAILED]
    failures = [
        Failure(str(r.trial_id), str(getattr(r, "error", None) or "no error recorded"),
                r.traceback if isinstance(getattr(r, "traceback", None), str) else None, str(r.path))
        for r in failed.itertuples(index=False)
    ]
    return ReportContent(
        title=f"mtrain analysis: {Path(result.directory).name or result.directory}",
        summary=list(result.summary),
        notes=list(result.notes),
        warnings=list(result.warnings),
        ranking_title=f"Trials ranked by {obj.metric} ({obj.mode})",
        ranking=ranking,
        ranking_note=note,
        statistics_note=statistics_note(),
        sections=sections,
        plots=plots,
        failures=failures,
        recipes=_recipe_texts(result),
    )
