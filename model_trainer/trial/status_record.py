"""status.json: one trial's record of its state, attempts, progress and how it ended.

`TrialStatus` is that record as a value: `start` makes the record of a new attempt from
the previous one, `progress` follows the checkpoints, `finish` closes it. It is written
atomically on every change, so a killed run's status still says how far it got.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_json, read_json
from model_trainer.layout import STATUS
from model_trainer.vocabulary import StopReason, TrialState


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class ErrorRecord:
    """An error as plain data: it crosses process boundaries and lands in status.json."""

    type: str
    message: str
    traceback: str
    exit_code: int | None = None  # the MTrainError's code when it was one of ours
    time: float = field(default_factory=time.time)
    rank: int | None = None  # the failing rank of a data-parallel trial

    @property
    def summary(self) -> str:
        """`Type: message`, naming the rank of a data-parallel trial."""
        text = f"{self.type}: {self.message}"
        return text if self.rank is None else f"rank {self.rank} failed: {text}"

    @classmethod
    def of(cls, exc: BaseException) -> ErrorRecord:
        from model_trainer.errors import MTrainError

        return cls(type(exc).__name__, str(exc)[:2000],
                   "".join(tb.format_exception(exc))[-20000:],
                   exc.exit_code if isinstance(exc, MTrainError) else None)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass
class TrialStatus:
    """The contents of status.json."""

    trial_id: str
    name: str
    state: TrialState = TrialState.RUNNING
    attempts: int = 1
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    stop_reason: str | None = None
    epochs_done: int = 0
    global_step: int = 0
    best: dict[str, Any] | None = None
    test_checkpoint: str | None = None  # "best" or "last": the weights of the test row
    error: dict[str, Any] | None = None  # ErrorRecord.to_json()
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    code: str | None = None  # the digest of the code and data it runs (code.json)
    code_changes: list[dict[str, Any]] = field(default_factory=list)  # accepted ones
    stateless_changes: list[dict[str, Any]] = field(default_factory=list)
    study: dict[str, Any] | None = None
    sources: list[str] = field(default_factory=list)  # the recipe's files, bases first
    stateless_keys: list[str] = field(default_factory=list)  # the recipe's keys outside the
    # trial's identity (stateless and derived): the analysis never counts them as varied
    _clock: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    @classmethod
    def start(cls, trial_id: str, name: str, previous: TrialStatus | None,
              changes: dict[str, list[Any]], study: dict[str, Any] | None,
              sources: list[str], versions: dict[str, str],
              git_commit: str | None, stateless_keys: list[str]) -> TrialStatus:
        """The record of a new attempt: progress and history carried over from `previous`."""
        history = list(previous.stateless_changes) if previous else []
        if changes:
            history.append({"at": now_iso(), "changes": changes})
        return cls(trial_id, name, attempts=(previous.attempts if previous else 0) + 1,
                   started_at=now_iso(), epochs_done=previous.epochs_done if previous else 0,
                   global_step=previous.global_step if previous else 0,
                   best=previous.best if previous else None, versions=versions,
                   git_commit=git_commit, stateless_changes=history,
                   code=previous.code if previous else None,
                   code_changes=list(previous.code_changes) if previous else [],
                   study=study or (previous.study if previous else None), sources=sources,
                   stateless_keys=stateless_keys)

    def accept_code(self, digest: str, changes: list[str] | None) -> None:
        """The code it runs from now on; `changes`: what a rerun accepted (recorded)."""
        if changes is not None:
            self.code_changes = [*self.code_changes, {"at": now_iso(), "from": self.code,
                                                      "to": digest, "changes": changes}]
        self.code = digest

    def progress(self, loop_state: dict[str, Any]) -> None:
        """Follow the loop's state (a TrainState as a dict)."""
        self.epochs_done = int(loop_state["epoch"])
        self.global_step = int(loop_state["global_step"])
        self.best = loop_state["best"]
        self.test_checkpoint = loop_state.get("test_checkpoint")

    def finish(self, state: TrialState, reason: str | None, loop_state: dict[str, Any] | None,
               error: ErrorRecord | None = None) -> None:
        """Close the record; without `loop_state` (a rank died without reporting it) the
        progress the checkpoints recorded stands."""
        if loop_state is not None:
            self.progress(loop_state)
        self.state, self.stop_reason = state, (StopReason(reason) if reason else None)
        self.ended_at = now_iso()
        self.duration_s = round(time.perf_counter() - self._clock, 3)
        self.error = error.to_json() if error is not None else None

    def save(self, folder: Path) -> None:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not f.name.startswith("_")}
        atomic_write_json(folder / STATUS, data, make_folder=False)  # never a deleted folder

    @classmethod
    def load(cls, folder: Path) -> TrialStatus | None:
        """The record in `folder`, or None when there is none or it is not one."""
        data = read_json(folder / STATUS)
        if not isinstance(data, dict) or not isinstance(data.get("trial_id"), str):
            return None
        known = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        try:
            status = cls(**{k: v for k, v in data.items() if k in known})
            status.state = TrialState(status.state)
        except (TypeError, ValueError):
            return None
        for name in ("attempts", "epochs_done", "global_step"):  # a hand-edited file
            value = getattr(status, name)
            setattr(status, name, value if isinstance(value, int) and value >= 0 else 0)
        if not isinstance(status.stateless_changes, list):
            status.stateless_changes = []
        if not isinstance(status.code_changes, list):
            status.code_changes = []
        return status
