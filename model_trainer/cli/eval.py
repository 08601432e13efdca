"""`mtrain eval`: evaluate a finished trial, or every trial of a study, from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from model_trainer.cli.boundary import boundary, stderr, stdout


@boundary
def evaluate(
    path: Annotated[Path, typer.Argument(help="A trial folder or a study folder.",
                                         show_default=False)],
    ckpt: Annotated[Literal["best", "last"], typer.Option(
        help="The checkpoint whose weights are evaluated.")] = "best",
    split: Annotated[Literal["val", "test"], typer.Option(help="The split to evaluate.")] = "test",
) -> None:
    """Evaluate finished trials again from a checkpoint; rows are appended to their files."""
    from model_trainer.errors import MTrainError
    from model_trainer.metrics_file import full_names
    from model_trainer.trial.evaluate import evaluate_trial, trial_folders

    folders = trial_folders(path)
    failures = 0
    for folder in folders:
        try:
            done = evaluate_trial(folder, ckpt, split)
        except MTrainError as exc:
            if len(folders) == 1:
                raise
            failures += 1
            stderr.print(f"skipped {folder.name}: {exc}", markup=False, soft_wrap=True)
            continue
        values = " ".join(f"{k}={v:.4g}" for k, v in full_names(split, done.metrics).items())
        stdout.print(f"{folder.name}: {values} ({ckpt} checkpoint, epoch {done.epoch})",
                     markup=False, soft_wrap=True)
    if failures == len(folders):
        raise typer.Exit(2)
