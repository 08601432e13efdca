"""The words model_trainer writes into its files and compares against, each named once.

They are `StrEnum`s, so they are written to JSON as plain strings, compare equal to the
strings older files hold, and a typo in the code is a NameError instead of a silent miss.
"""

from __future__ import annotations

import enum


class TrialState(enum.StrEnum):
    """`state` of a trial's status.json."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        """Done for good: a rerun skips it (unless it asks for more epochs)."""
        return self in (TrialState.COMPLETED, TrialState.PRUNED)


class StopReason(enum.StrEnum):
    """Why a training loop ended (status.json `stop_reason`, the loop's log line)."""

    EPOCHS_REACHED = "epochs reached"
    EARLY_STOP = "early stop"
    DIVERGED = "diverged"  # a non-finite training loss
    PRUNED = "pruned"  # the study's pruner asked to stop
    INTERRUPTED = "interrupted"  # Ctrl-C
    TERMINATED = "terminated"  # SIGTERM
    SMOKE = "smoke"  # a smoke run did its batches
    CALLBACK = "callback"  # a train.callbacks object asked to stop
    MAX_STEPS = "max steps reached"  # train.max_steps optimizer steps were taken

    @property
    def evaluates_test(self) -> bool:
        """The run ended normally, so the test split is evaluated."""
        return self in (StopReason.EPOCHS_REACHED, StopReason.EARLY_STOP, StopReason.SMOKE,
                        StopReason.CALLBACK, StopReason.MAX_STEPS)


class RecordState(enum.StrEnum):
    """`state` of a trial in a study's index (the driver's view of it)."""

    PENDING = "pending"  # waits for a free slot (new, retried, or left running by a kill)
    RUNNING = "running"  # handed to an executor
    COMPLETED = "completed"
    FAILED = "failed"  # after its retries; the error is in the trial's status.json
    PRUNED = "pruned"
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C; a rerun continues it

    @property
    def finished(self) -> bool:
        """Nothing more will run for it in this study (a rerun retries failures)."""
        return self not in (RecordState.PENDING, RecordState.RUNNING, RecordState.INTERRUPTED)


UNFINISHED = frozenset(s.value for s in RecordState if not s.finished)  # as written in files


class Split(enum.StrEnum):
    """The data splits a loader is made for and a metrics row belongs to."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class SeedVerdict(enum.StrEnum):
    """How adaptive seeds decided a configuration's comparison with the baseline."""

    EFFECT = "effect"  # the repeated confidence interval excludes 0
    NO_EFFECT = "no effect that matters"  # it lies within +-decide
    UNDECIDED = "undecided"  # max seeds were run (or no seed completed on both sides)


class CodeChange(enum.StrEnum):
    """What a run does when a trial it would continue or report ran other code
    (`mtrain run --if-code-changed`)."""

    STOP = "stop"  # exit 2, naming what changed (the default)
    NEW = "new"  # train this code as a new trial, whose id joins the code's fingerprint
    ACCEPT = "accept"  # continue (or report) the trial with this code; recorded
