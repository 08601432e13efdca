"""The study's live view: running trials with their progress, the last finished ones,
counts by state, the best so far and an ETA.

On a terminal, a rich panel redrawn at most once a second; the running trials' files
(status.json, the new tail of metrics.jsonl) are read at most every `poll_s` seconds, so
the view costs the trials nothing: no message per step, no channel to them. Off a
terminal (CI logs, nohup files), one line when a trial starts and one when it ends,
with counts kept up to date by those two events: a line costs the same at trial 10,000
as at trial 1.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live

from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.vocabulary import RecordState
from model_trainer.watch.render import RECENT, counts_line, study_renderable
from model_trainer.watch.study_files import FINISHED, Record, Running, StudyView, eta_seconds
from model_trainer.watch.trial_files import TrialProgress, TrialReader

REDRAWS_PER_SECOND = 1
POLL_SECONDS = 2.0


class StudyDisplay:
    """Context manager the runner tells when a trial `started` and `finished`.

    `study_dir` is where the trial folders are (default: the index file's folder);
    `clock` (monotonic seconds) and `poll_s` exist for tests."""

    def __init__(self, index: StudyIndex, total: int, concurrency: int,
                 console: Console | None = None, live: bool | None = None,
                 study_dir: Path | None = None, *, clock: Callable[[], float] = time.monotonic,
                 poll_s: float = POLL_SECONDS):
        self.index = index
        self.total = total
        self.concurrency = concurrency
        self.console = console or Console(stderr=True)
        self.live_enabled = sys.stderr.isatty() if live is None else live
        folder = study_dir if study_dir is not None else (index.path.parent if index.path else None)
        self.study_dir = Path(folder) if folder is not None else Path(".")
        self.clock, self.poll_s = clock, poll_s
        self._lock = threading.Lock()  # the redraw thread reads what started/finished change
        self._started: dict[str, float] = {}
        self._readers: dict[str, TrialReader] = {}
        self._progress: dict[str, TrialProgress] = {}
        self._recent: deque[tuple[StudyTrial, float | None]] = deque(maxlen=RECENT)
        self._completed_s, self._completed_n = 0.0, 0  # for the mean duration (ETA)
        self._states: dict[str, RecordState] = {}  # each trial's state as this view saw it
        self._counts: Counter[str] = Counter()
        self._seen = 0  # index.trials[:_seen] are in _states
        self._absorb()
        self._last_poll = -math.inf
        self._live: Live | None = None

    def __enter__(self) -> StudyDisplay:
        if self.live_enabled:
            self._live = Live(console=self.console, get_renderable=self.renderable,
                              refresh_per_second=REDRAWS_PER_SECOND)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    @property
    def metric(self) -> str:
        return self.index.objective["metric"]

    def started(self, record: StudyTrial) -> None:
        with self._lock:
            self._count(record)
            self._started[record.trial_id] = self.clock()
            self._readers[record.trial_id] = TrialReader(self.study_dir / record.trial_id)
            self._last_poll = -math.inf  # show the new trial at the next redraw
        if self._live is None:
            self._line(f"trial {record.trial_id} started ({_values(record)})")

    def finished(self, record: StudyTrial) -> None:
        with self._lock:
            self._count(record)
            began = self._started.pop(record.trial_id, None)
            took = None if began is None else self.clock() - began
            self._readers.pop(record.trial_id, None)
            self._progress.pop(record.trial_id, None)
            if took is not None and record.state is RecordState.COMPLETED:
                self._completed_s += took
                self._completed_n += 1
            if record.finished:
                self._recent.appendleft((record, took))
        if self._live is None:
            value = "" if record.value is None else f" {self.metric}={record.value:.5g}"
            error = f" ({record.error})" if record.error else ""
            self._line(f"trial {record.trial_id} {record.state}{value}{error}")
        else:
            self._live.refresh()

    def _absorb(self) -> None:
        """Count the trials the planner added since the last look (pending ones, and
        invalid configurations it recorded as failed without running them)."""
        trials = self.index.trials
        for record in trials[self._seen:]:
            if record.trial_id not in self._states:
                self._states[record.trial_id] = record.state
                self._counts[record.state] += 1
        self._seen = len(trials)

    def _count(self, record: StudyTrial) -> None:
        """Move `record` from the state this view last saw it in to its state now."""
        self._absorb()
        before = self._states.get(record.trial_id)
        if before is not None:
            self._counts[before] -= 1
        self._states[record.trial_id] = record.state
        self._counts[record.state] += 1

    def _poll(self, now: float) -> None:
        """Read the running trials' files again when `poll_s` passed since the last time."""
        if now - self._last_poll >= self.poll_s:
            self._last_poll = now
            self._progress = {tid: reader.read() for tid, reader in self._readers.items()}

    def _eta(self, finished: int) -> float | None:
        fractions = [self._progress[tid].fraction_done if tid in self._progress else 0.0
                     for tid in self._started]
        mean = self._completed_s / self._completed_n if self._completed_n else None
        return eta_seconds(mean, self.total, finished, fractions, self.concurrency)

    def view(self) -> StudyView:
        """The study now, built from the whole index (the live panel: once a second)."""
        with self._lock:
            now = self.clock()
            self._poll(now)
            records = {t.trial_id: Record.of(t) for t in list(self.index.trials)}
            running = [Running(records[tid], self._progress.get(tid, TrialProgress(
                self.study_dir / tid, tid)), now - began)
                for tid, began in self._started.items() if tid in records]
            view = StudyView(self.study_dir, self.index.study_id, self.metric,
                             self.index.objective["mode"], list(records.values()),
                             running=running, total=self.total,
                             recent=[(Record.of(r), took) for r, took in self._recent])
            view.eta_s = self._eta(view.finished)
        return view

    def renderable(self) -> Group:
        return study_renderable(self.view())

    def _line(self, text: str) -> None:
        with self._lock:
            self._absorb()
            self._poll(self.clock())
            counts = {str(state): n for state, n in self._counts.items() if n}
            eta = self._eta(sum(counts.get(s, 0) for s in FINISHED))
        self.console.print(f"{text} [{counts_line(counts, self.total, eta)}]", markup=False,
                           highlight=False, soft_wrap=True)


def _values(record: StudyTrial) -> str:
    values = [f"{k}={v}" for k, v in record.params.items()]
    return " ".join([*values, f"seed={record.seed}"])
