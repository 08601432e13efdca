"""One root error type for everything a user can get wrong or that can fail in a run.

The CLI's single error boundary turns an `MTrainError` into its message and exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class MTrainError(Exception):
    """Root of the errors the CLI reports as a message instead of a traceback."""

    exit_code = 1


class UsageError(MTrainError):
    """The command line or an input path is wrong (exit code 2)."""

    exit_code = 2


class TrainingError(MTrainError):
    """The work itself failed: a training error, a study whose trials all failed (exit 1)."""

    exit_code = 1


class Interrupted(MTrainError):
    """The user interrupted the run; state was saved first (exit 130)."""

    exit_code = 130


@dataclass(frozen=True)
class RecipeIssue:
    """One located problem in a recipe: where it is, which key, and what is wrong."""

    key: str
    message: str
    source: str | None = None  # a file name or "override 'k=v'"
    line: int | None = None

    def __str__(self) -> str:
        where = self.source or "<recipe>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class RecipeError(MTrainError):
    """Every problem found in a recipe, reported together (exit code 2)."""

    exit_code = 2

    def __init__(self, issues: list[RecipeIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
