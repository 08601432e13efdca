"""The tables a researcher reads: trials ranked by the objective, and the ablation per attribute.

`ranking_frame` and `ablation_display` build plain DataFrames (shared with the reports);
`print_tables` renders them with rich.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model_trainer.analysis.formatting import display_frame, fmt, fmt_duration, fmt_p, short
from model_trainer.analysis.objective import Objective
from model_trainer.vocabulary import TrialState

TERMINAL_RANKS = 20
MAX_VARIED_COLUMNS = 6


def ranking_frame(trials: pd.DataFrame, objective: Objective, varied: list[str]) -> pd.DataFrame:
    """All trials, best first by the objective; trials without a value last, unranked."""
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
    keep = ["rank", "trial_id", "group", "state", "seed", *varied, col, final, "epochs_done", "duration_s"]
    return frame[[c for c in keep if c in frame.columns]].reset_index(drop=True)


def ablation_display(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation table as readable text columns (mean ± std, CI ranges, p-values)."""
    rows = []
    for r in table.itertuples(index=False):
        value = fmt(r.value) + (" (baseline)" if r.is_baseline else "")
        diff = "" if r.is_baseline else fmt(r.diff)
        diff_ci = ""
        if np.isfinite(r.diff_ci_low):
            diff_ci = f"[{fmt(r.diff_ci_low)}, {fmt(r.diff_ci_high)}]"
        rows.append({
            "group": r.group,
            "attribute": r.attribute,
            "value": value,
            "n": str(int(r.n)),
            "mean ± std": f"{fmt(r.mean)} ± {fmt(r.std)}",
            "95% CI": f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if np.isfinite(r.ci_low) else "-",
            "diff vs baseline": diff,
            "diff 95% CI": diff_ci,
            "test": r.test if isinstance(r.test, str) else "",
            "pairs": "" if r.is_baseline or not np.isfinite(r.n_pairs) else str(int(r.n_pairs)),
            "p": "" if r.is_baseline else fmt_p(r.p_value),
            "conclusion": r.conclusion if isinstance(r.conclusion, str) else "",
        })
    return pd.DataFrame(rows)


def state_counts(trials: pd.DataFrame) -> str:
    counts = trials["state"].value_counts()
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def print_tables(console, result) -> None:
    """Render an AnalysisResult's tables to a rich console."""
    from rich.table import Table

    trials, obj = result.trials, result.objective
    console.print(
        f"[bold]{len(trials)} trials[/bold] in {result.directory} ({state_counts(trials)}); "
        f"objective [bold]{obj.metric}[/bold] ({obj.mode}, from {obj.source})",
        highlight=False,
    )
    for line in result.warnings[:10]:
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False, markup=False)
    if len(result.warnings) > 10:
        console.print(f"[yellow]... and {len(result.warnings) - 10} more warnings[/yellow]")

    ranking = result.ranking.head(TERMINAL_RANKS)
    varied = [c for c in result.varied if c in ranking.columns][:MAX_VARIED_COLUMNS]
    table = Table(title=f"Trials ranked by {obj.metric} ({obj.mode}), top {len(ranking)} of {len(result.ranking)}")
    cols = ["rank", "trial_id", "group", "state", "seed", *varied, obj.column, f"final_{obj.metric}",
            "epochs_done", "duration_s"]
    cols = [c for c in cols if c in ranking.columns]
    for c in cols:
        table.add_column(short(c, 28), overflow="fold")
    for _, row in ranking.iterrows():
        table.add_row(*[fmt_duration(row[c]) if c == "duration_s" else fmt(row[c]) for c in cols])
    console.print(table)

    if not result.ablation.empty:
        shown = ablation_display(result.ablation)
        for (group, attribute), part in shown.groupby(["group", "attribute"], sort=False):
            t = Table(title=f"{attribute} in {group}: {obj.metric} ({obj.mode}) per value", title_justify="left")
            cols = [c for c in part.columns if c not in ("group", "attribute")]
            for c in cols:
                t.add_column(c, overflow="fold")
            for row in part[cols].itertuples(index=False):
                t.add_row(*row)
            console.print(t)
    elif result.varied:
        console.print(f"No ablation table: no usable values of {obj.metric} yet.")

    if result.importances:
        for group, values in result.importances.items():
            title = f"Parameter importance in {group} (Optuna)"
            t = Table(title=title, title_justify="left", min_width=len(title))
            t.add_column("parameter")
            t.add_column("importance")
            for name, value in values.items():
                t.add_row(name, f"{value:.3f}")
            console.print(t)

    failed = trials[trials["state"] == TrialState.FAILED]
    if not failed.empty:
        t = Table(title=f"{len(failed)} failed trials", title_justify="left")
        t.add_column("trial_id")
        t.add_column("error", overflow="fold")
        for row in display_frame(failed[["trial_id", "error"]]).itertuples(index=False):
            t.add_row(row.trial_id, row.error)
        console.print(t)
    for path in result.paths:
        console.print(f"wrote {path}", highlight=False, markup=False)
