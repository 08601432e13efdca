"""Arguments shared by the commands that read a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from model_trainer.vocabulary import CodeChange

RecipeArg = Annotated[Path, typer.Argument(help="The recipe YAML file.", show_default=False)]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(help="KEY=VALUE overrides in OmegaConf's dotlist grammar, "
                   "e.g. train.optimizer.lr=3e-4 model.args.hidden=256.", show_default=False),
]
CodeChangeOpt = Annotated[
    CodeChange,
    typer.Option("--if-code-changed", case_sensitive=False,
                 help="When a trial this recipe would continue or report ran other code or "
                 "data: stop (exit 2, naming what changed), new (train this code as a new "
                 "trial), accept (continue it with this code; recorded)."),
]
MultirunOpt = Annotated[
    bool,
    typer.Option("-m", "--multirun", help="Sweep: an override with several values "
                 "(model.args.hidden=32,64 seed=0,1) becomes a grid study over them."),
]


def local_folder(text: str, seen: dict | None = None) -> Path:
    """A folder argument: a local path, or a study in storage (`s3://...`) copied into the
    local cache first (model_trainer/storage.py; with `seen`, what changed since)."""
    from model_trainer.storage import is_uri, local_copy

    return local_copy(text, seen=seen) if is_uri(text) else Path(text)
