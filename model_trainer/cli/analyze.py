"""`mtrain analyze`: tables, plots and a report from the trial folders under DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from model_trainer.cli.boundary import boundary, stdout


@boundary
def analyze(
    directory: Annotated[str, typer.Argument(help="A study folder, a trial folder, or any "
                                             "folder holding them; or a study in storage "
                                             "(s3://bucket/prefix/study).",
                                             show_default=False)],
    metric: Annotated[str | None, typer.Option(help="Objective metric, e.g. val_accuracy "
                                               "(default: the recipe's monitor).")] = None,
    mode: Annotated[Literal["min", "max"] | None, typer.Option(help="min or max.")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", help="KEY=VALUE: keep "
                                                      "matching trials (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default DIR/analysis).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw PNG plots.")] = True,
    fmt: Annotated[Literal["html", "md"], typer.Option("--format", help="Report format.")] = "html",
    include_pruned: Annotated[bool, typer.Option("--include-pruned", help="Count pruned trials "
                                                 "in the statistics (left out by default: they "
                                                 "stopped early).")] = False,
    mixed_code: Annotated[bool, typer.Option("--mixed-code", help="Compare trials that ran "
                                             "different code or data (refused by default: "
                                             "each version's code is named).")] = False,
) -> None:
    """Answer the study's question: ranked trials, ablation statistics, plots and a report."""
    from model_trainer.analysis import analyze as run_analysis
    from model_trainer.cli.options import local_folder

    run_analysis(local_folder(directory), metric=metric, mode=mode, filters=tuple(filters or ()), out=out,
                 plots=plots, fmt=fmt, console=stdout, include_pruned=include_pruned,
                 mixed_code=mixed_code)
