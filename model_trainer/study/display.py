"""The study's live view: trial counts, best objective so far, ETA.

A rich live panel on a terminal; one log line per finished trial otherwise (CI logs,
nohup files), so a study never floods a log with redraws.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.vocabulary import RecordState


class StudyDisplay:
    def __init__(self, index: StudyIndex, total: int, concurrency: int,
                 console: Console | None = None, live: bool | None = None):
        self.index = index
        self.total = total
        self.concurrency = concurrency
        self.console = console or Console(stderr=True)
        self.live_enabled = sys.stderr.isatty() if live is None else live
        self._durations: list[float] = []
        self._started: dict[str, float] = {}
        self._live: Live | None = None

    def __enter__(self) -> StudyDisplay:
        if self.live_enabled:
            self._live = Live(self._render(), console=self.console, refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def started(self, record: StudyTrial) -> None:
        self._started[record.trial_id] = time.monotonic()
        self._refresh()

    def finished(self, record: StudyTrial) -> None:
        began = self._started.pop(record.trial_id, None)
        if began is not None and record.state is RecordState.COMPLETED:
            self._durations.append(time.monotonic() - began)
        if self._live is None:
            value = "" if record.value is None else f" {self.metric}={record.value:.5g}"
            error = f" ({record.error})" if record.error else ""
            self.console.print(f"trial {record.trial_id} {record.state}{value}{error} "
                               f"[{self._progress_text()}]", markup=False, highlight=False,
                               soft_wrap=True)
        self._refresh()

    @property
    def metric(self) -> str:
        return self.index.objective["metric"]

    def eta_seconds(self) -> float | None:
        if not self._durations:
            return None
        left = self.total - sum(1 for t in self.index.trials if t.finished)
        return max(left, 0) * (sum(self._durations) / len(self._durations)) / self.concurrency

    def _progress_text(self) -> str:
        counts = self.index.counts()
        done = sum(1 for t in self.index.trials if t.finished)
        parts = [f"{counts[s]} {s}" for s in RecordState if counts.get(s)]
        eta = self.eta_seconds()
        return (f"{done}/{self.total} done: " + ", ".join(parts)
                + (f", ETA {eta:.0f}s" if eta is not None else ""))

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        table = Table(title=f"study {self.index.study_id}", show_header=False, box=None)
        table.add_row("trials", self._progress_text())
        best = self.index.best()
        if best is not None:
            params = " ".join(f"{k}={v}" for k, v in best.params.items())
            table.add_row("best", f"{self.metric}={best.value:.5g}  {params} seed={best.seed}")
        return table
