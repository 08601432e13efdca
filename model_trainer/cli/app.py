"""The Typer application: thin commands, one error boundary, `mtrain --version`."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from model_trainer import __version__
from model_trainer.cli.analyze import analyze
from model_trainer.cli.eval import evaluate
from model_trainer.cli.predict import predict
from model_trainer.cli.ray_start import ray_start
from model_trainer.cli.run import run
from model_trainer.cli.show import show
from model_trainer.cli.status import status
from model_trainer.cli.validate import validate

app = typer.Typer(
    name="mtrain",
    help="Typed YAML recipes -> PyTorch experiments and ablation studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(run)
app.command()(validate)
app.command()(show)
app.command(name="eval")(evaluate)
app.command()(predict)
app.command()(analyze)
app.command()(status)
app.command(name="ray-start", add_help_option=False, context_settings={
    "allow_extra_args": True, "ignore_unknown_options": True})(ray_start)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mtrain {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Typed YAML recipes -> PyTorch experiments and ablation studies."""


def main() -> None:
    """Console-script entry point."""
    from model_trainer.recipe.resolve import add_working_directory_to_path

    add_working_directory_to_path()
    try:
        app()
    finally:
        # the work is done and saved: torch's objects are left to the OS instead of the
        # collector visiting each at exit (~0.5 s after the summary line)
        gc.freeze()
