"""The tables a researcher reads: trials ranked by the objective, the per-value tables of
each varied attribute, and the effect estimates of sampled designs.

The `*_frame` / `*_display` functions build plain DataFrames of text (shared with the
reports); `print_tables` prints them through terminal.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model_trainer import dotted
from model_trainer.analysis.design import ABLATION
from model_trainer.analysis.export import drop_empty_columns
from model_trainer.analysis.formatting import display_frame, fmt, fmt_p
from model_trainer.analysis.objective import Objective
from model_trainer.analysis.terminal import print_frame, print_line
from model_trainer.vocabulary import TrialState

TERMINAL_RANKS = 20
MAX_VARIED_COLUMNS = 6


def ranking_frame(trials: pd.DataFrame, objective: Objective, varied: list[str]) -> pd.DataFrame:
    """All trials, best first by the objective; trials without a value last, unranked.
    Columns no trial has a value in are left out."""
    col, final = objective.column, f"final_{objective.metric}"
    frame = trials.copy()
    for name in (col, final):
        if name not in frame.columns:
            frame[name] = np.nan
    frame["_has"] = np.isfinite(frame[col].astype(float))
    frame = frame.sort_values(["_has", col], ascending=[False, objective.ascending], kind="stable")
    ranks = np.arange(1, len(frame) + 1, dtype=float)
    ranks[~frame["_has"].to_numpy()] = np.nan
    frame.insert(0, "rank", pd.array(ranks, dtype="Int64") if len(frame) else ranks)
    keep = ["rank", "trial_id", "group", "state", "seed", *varied, col, "best_epoch", final,
            "epochs_done", "duration_s"]
    frame = frame[[c for c in keep if c in frame.columns]].reset_index(drop=True)
    return drop_empty_columns(frame, keep=["rank", col])


def ranking_display(ranking: pd.DataFrame, objective: Objective, varied: list[str],
                    short: bool = False) -> pd.DataFrame:
    """The ranking as text with readable headers; the group column only when there are
    several groups, and varied keys by their short names when `short`."""
    frame = display_frame(ranking)
    if "group" in frame.columns and ranking["group"].nunique() <= 1:
        frame = frame.drop(columns="group")
    names = {objective.column: f"{objective.metric} (best epoch)", "best_epoch": "best epoch",
             f"final_{objective.metric}": "final", "epochs_done": "epochs", "duration_s": "time"}
    if short:
        names.update(dotted.short_names([c for c in varied if c in frame.columns]))
    return frame.rename(columns=names)


def _interval(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if np.isfinite(low) else ""


def values_display(part: pd.DataFrame, design: str) -> pd.DataFrame:
    """One attribute's rows (stats.COLUMNS) as text; baseline columns only in an ablation."""
    rows = []
    for r in part.itertuples(index=False):
        row = {
            "value": fmt(r.value) + (" (baseline)" if r.is_baseline else ""),
            "n": str(int(r.n)),
            "mean ± std": f"{fmt(r.mean)} ± {fmt(r.std)}",
            "95% CI": _interval(r.ci_low, r.ci_high) or "-",
        }
        if design == ABLATION:
            compared = not r.is_baseline and math.isfinite(r.diff)
            diff = f"{fmt(r.diff)} {_interval(r.diff_ci_low, r.diff_ci_high)}".strip()
            pairs = f", {int(r.n_pairs)} pairs" if r.test == "paired t" else ""
            row.update({
                "diff vs baseline [95% CI]": diff if compared else "",
                "effect size": f"{r.effect_kind}={fmt(r.effect_size, 3)}" if r.effect_kind else "",
                "test": f"{r.test}{pairs}",
                "p": fmt_p(r.p_value) if r.test else "",
                "Holm p": fmt_p(r.p_holm) if r.test else "",
                "conclusion": r.conclusion,
            })
        rows.append(row)
    return pd.DataFrame(rows)


def effects_display(part: pd.DataFrame) -> pd.DataFrame:
    """One group's effect rows (effects.COLUMNS) as text."""
    return pd.DataFrame([{
        "dimension": r.attribute,
        "effect of": r.term,
        "n": str(int(r.n)),
        "effect [95% CI]": f"{fmt(r.estimate)} {_interval(r.ci_low, r.ci_high)}".strip(),
        "std. effect": fmt(r.std_effect, 3),
        "Spearman rho": fmt(r.rho, 2) if math.isfinite(r.rho) else "",
        "p": fmt_p(r.p_value),
        "Holm p": fmt_p(r.p_holm),
        "conclusion": r.conclusion,
    } for r in part.itertuples(index=False)])


def attribute_tables(result) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, caption, display frame) of every per-value table, in report order."""
    out = []
    for (key, attribute), part in result.ablation.groupby(["group", "attribute"], sort=False):
        design = result.designs.get(key, (ABLATION, ""))[0]
        obj = result.objective
        title = f"{attribute} in {key}: {obj.metric} ({obj.mode}) per value"
        caption = ""
        if design != ABLATION:
            caption = "descriptive: the other dimensions differ between these rows"
        out.append((title, caption, values_display(part, design)))
    return out


def effect_tables(result) -> list[tuple[str, str, pd.DataFrame]]:
    out = []
    for key, part in result.effects.groupby("group", sort=False):
        title = f"Effects in {key} on {result.objective.metric} ({result.objective.mode}), each with the other dimensions held fixed"
        out.append((title, result.fits.get(key, ""), effects_display(part)))
    return out


def importance_frame(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"parameter": list(values),
                         "share of variance": [f"{v:.3f}" for v in values.values()]})


def state_counts(trials: pd.DataFrame) -> str:
    counts = trials["state"].value_counts()
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def print_tables(console, result) -> None:
    """Render an AnalysisResult's tables to a rich console."""
    for line in result.summary:
        print_line(console, line)
    for line in result.warnings[:10]:
        print_line(console, line, "yellow", "warning:")
    if len(result.warnings) > 10:
        print_line(console, f"... and {len(result.warnings) - 10} more warnings (all in the report)",
                   "yellow", "warning:")
    for line in result.notes:
        print_line(console, line, "cyan", "note:")

    obj = result.objective
    ranking = result.ranking.head(TERMINAL_RANKS)
    varied = [c for c in result.varied if c in ranking.columns]
    hidden = set(varied[MAX_VARIED_COLUMNS:])
    shown = ranking_display(ranking[[c for c in ranking.columns if c not in hidden]], obj,
                            varied, short=True)
    print_frame(console, f"Trials ranked by {obj.metric} ({obj.mode}), top {len(ranking)} of "
                f"{len(result.ranking)}", shown, "Every column is in trials.csv.",
                optional=("state", "seed", "best epoch", "final", "epochs", "time"))
    for title, caption, frame in effect_tables(result):
        print_frame(console, title, frame, caption)
    for title, caption, frame in attribute_tables(result):
        print_frame(console, title, frame, caption)
    if result.ablation.empty and result.varied:
        print_line(console, f"No per-value tables: no usable values of {obj.metric} yet.")
    for group, values in result.importances.items():
        print_frame(console, f"Parameter importance in {group} (Optuna fANOVA)",
                    importance_frame(values))

    failed = result.trials[result.trials["state"] == TrialState.FAILED]
    if not failed.empty:
        errors = failed.reindex(columns=["trial_id", "error"])
        print_frame(console, f"{len(failed)} failed trials", display_frame(errors))
    for path in result.paths:
        print_line(console, f"wrote {path}")
