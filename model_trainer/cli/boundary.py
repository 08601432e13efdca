"""The one error boundary: expected errors become a message and an exit code.

A user mistake (MTrainError) prints its message, never Python frames, unless
MTRAIN_FULL_ERROR=1 asks for the whole trace. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from model_trainer.errors import MTrainError, RecipeError, TrainingError
from model_trainer.trial.signals import reason_of, stop_at_once
from model_trainer.vocabulary import StopReason

F = TypeVar("F", bound=Callable[..., Any])

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def boundary(command: F) -> F:
    """Wrap a command so that expected errors exit with their code and a clear message."""

    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            with stop_at_once():  # SIGTERM stops like Ctrl-C, not with nothing saved
                return command(*args, **kwargs)
        except MTrainError as exc:
            if os.environ.get("MTRAIN_FULL_ERROR") == "1":
                traceback.print_exc()
                if isinstance(exc, TrainingError) and exc.traceback:
                    print(f"the failing code's traceback:\n{exc.traceback}", file=sys.stderr)
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as interrupt:
            reason = reason_of(interrupt)
            stderr.print(f"[yellow]{reason}[/]")
            raise typer.Exit(143 if reason is StopReason.TERMINATED else 130) from None
        except OSError as exc:  # a full disk, a read-only or missing folder: not a bug of ours
            if os.environ.get("MTRAIN_FULL_ERROR") == "1":
                traceback.print_exc()
            stderr.print(f"[red]error[/] cannot read or write a file: {escape(str(exc))}",
                         soft_wrap=True, emoji=False)
            raise typer.Exit(1) from None

    return wrapped  # type: ignore[return-value]


def print_error(exc: MTrainError) -> None:
    """One line per problem, then a count for recipe errors."""
    if isinstance(exc, RecipeError):
        for issue in exc.issues:
            stderr.print(f"[red]error[/] {escape(str(issue))}", soft_wrap=True, emoji=False)
        count = len(exc.issues)
        stderr.print(f"{count} error{'s' if count != 1 else ''} in the recipe", style="red")
    else:
        stderr.print(f"[red]error[/] {escape(str(exc))}", soft_wrap=True, emoji=False)


def print_warnings(warnings: list) -> None:
    for warning in warnings:
        stderr.print(f"[yellow]warning[/] {escape(str(warning))}", soft_wrap=True, emoji=False)
