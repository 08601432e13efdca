"""`mtrain predict`: a finished trial's predictions on a split, written as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from model_trainer.cli.boundary import boundary, stdout


@boundary
def predict(
    path: Annotated[str, typer.Argument(help="A trial folder (or a study folder with "
                                        "--trial), local or in storage (s3://...).",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the table: .parquet "
                                      "or .csv.", show_default=False)],
    split: Annotated[Literal["train", "val", "test"], typer.Option(
        help="The split whose batches are predicted.")] = "test",
    ckpt: Annotated[Literal["best", "last"], typer.Option(
        help="The checkpoint whose weights predict.")] = "best",
    trial: Annotated[str | None, typer.Option(help="A trial id in a study folder.")] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="Predict these samples instead of a split: a .pt file (a tensor, or "
        "a dict of tensors named as the model's arguments) or a .npz file.",
        show_default=False)] = None,
) -> None:
    """Write a trial's predictions on a split (or on the samples of --input): the batch's
    per-sample values and the model's output (and its argmax), one row a sample."""
    from model_trainer.errors import UsageError
    from model_trainer.files import atomic_write_bytes
    from model_trainer.trial.predictions import predict as predict_table

    if out.suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out must end in .parquet or .csv, got {out.name}")
    if out.is_symlink():
        raise UsageError(f"{out} is a link; predict never writes through one (it would "
                         "replace the file it names): remove it or choose another --out")
    table = predict_table(path, split, ckpt, trial_id=trial, inputs=input_file)
    data = table.to_parquet(index=False) if out.suffix == ".parquet" \
        else table.to_csv(index=False).encode()
    atomic_write_bytes(out, data)  # a file already there stays whole until the new one is
    stdout.print(f"wrote {len(table)} rows to {out}", markup=False, soft_wrap=True)
