"""Every error model_trainer reports to a user, in one place, grouped by exit code.

The CLI's single error boundary turns an `MTrainError` into its message and exit code:
`UserError` (2) when the recipe, the command line or the user's code broke the contract,
`TrainingError` (1) when the work itself failed, `Interrupted` (130) and `Terminated`
(143) after a run saved its state. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class MTrainError(Exception):
    """Root of the errors the CLI reports as a message instead of a traceback."""

    exit_code = 1


# ---- exit 2: the user's input or code is wrong -------------------------------------------


class UserError(MTrainError):
    """The recipe, the command line or the user's code is wrong (exit code 2)."""

    exit_code = 2


class UsageError(UserError):
    """The command line or an input path is wrong."""


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


class RecipeError(UserError):
    """Every problem found in a recipe, reported together."""

    def __init__(self, issues: list[RecipeIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class ContractError(UserError):
    """User code returned or declared something the loop cannot use (a batch, an output,
    a metric, a hook's signature, a Derived value left unfilled)."""


class HookSignatureError(ContractError):
    """A hook override cannot be called the way the loop calls it."""


class DerivedError(ContractError):
    """A Derived value was not filled by config_parser."""


class BatchError(ContractError):
    """A batch does not fit the model's forward, or forward returns the wrong thing."""


class DeterminismError(ContractError):
    """train.deterministic is on and the model uses an op torch cannot run deterministically."""


class MonitorError(ContractError):
    """train.monitor.metric is not among the metrics an evaluation produced."""


class DeviceError(UserError):
    """The recipe asks for a device or precision this machine does not have."""


class DistributedError(UserError):
    """A data-parallel set-up this machine cannot give: devices, port."""


class ShardError(UserError):
    """A loader that strategy ddp cannot split over the ranks."""


class FolderLocked(UserError):
    """Another live process owns the folder (a trial being trained, a study being run)."""


class CodeChanged(UserError):
    """A trial ran other code (or data) than the rerun has: its results are not this
    code's (trial/code_check.py)."""


class CheckpointError(UserError):
    """No checkpoint of an unfinished run can be loaded: the user decides what to do."""


# ---- exit 1: the work failed --------------------------------------------------------------


class TrainingError(MTrainError):
    """The work itself failed: a training error, a study whose trials all failed.

    `traceback` is the failing code's traceback as text when it ran elsewhere (another
    rank, a worker), so `MTRAIN_FULL_ERROR=1` can still show it.
    """

    def __init__(self, message: str, *, traceback: str | None = None):
        super().__init__(message)
        self.traceback = traceback


class Diverged(TrainingError):
    """The training loss became NaN or infinite."""


# ---- exit 130 / 143: stopped on request, after saving ------------------------------------


class Interrupted(MTrainError):
    """The user interrupted the run (Ctrl-C); state was saved first."""

    exit_code = 130


class Terminated(Interrupted):
    """The run was asked to stop by SIGTERM (a scheduler, `timeout`); state was saved."""

    exit_code = 143


def rebuild(type_name: str, message: str, exit_code: int | None,
            traceback: str | None = None) -> MTrainError:
    """The error a failure recorded as text (in another process) stands for: the same
    model_trainer class when it is one of ours, else a TrainingError with its traceback."""
    cls = globals().get(type_name)
    if (isinstance(cls, type) and issubclass(cls, MTrainError) and cls is not RecipeError
            and not issubclass(cls, TrainingError)):
        return cls(message)
    if exit_code == 2:
        return UserError(message)
    return TrainingError(f"training failed: {type_name}: {message}", traceback=traceback)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message as one line for an error of ours (its type when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
