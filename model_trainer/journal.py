"""A study's index on disk: a snapshot plus an append-only journal of changed trials.

Rewriting the whole index on every change costs O(trials) per change (204 ms a save at
10,000 trials). Instead each change appends one line (the changed trial's record) to
`study_index.journal`, and the snapshot `study_index.json` is rewritten atomically only
when the journal has grown as long as the study (so each change costs O(1) amortized).
Reading replays the journal over the snapshot, record by record; a last line cut short by
a kill is ignored (that change is lost, which a rerun repairs from the trial folders), and
replaying a line twice changes nothing, so a crash between a compaction's two steps is
harmless.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_json, read_json
from model_trainer.layout import STUDY_JOURNAL

MIN_COMPACT = 64  # journal lines before a compaction is worth its rewrite


def journal_path(snapshot: Path) -> Path:
    return snapshot.with_name(STUDY_JOURNAL)


def trial_key(record: dict[str, Any]) -> tuple[Any, Any]:
    """A trial is one configuration (`number`) run with one seed."""
    return record.get("number"), record.get("seed")


def read_index(snapshot: Path) -> dict[str, Any] | None:
    """The snapshot with the journal's records applied; None when there is no readable
    snapshot."""
    return with_journal(read_json(snapshot), snapshot)


def with_journal(data: Any, snapshot: Path) -> dict[str, Any] | None:
    """The snapshot's `data` (as read) with the journal's records applied: they replace
    the snapshot's by trial key, in order. None when `data` is no index."""
    if not isinstance(data, dict) or not isinstance(data.get("trials", []), list):
        return None
    trials = [t for t in data.get("trials", []) if isinstance(t, dict)]
    position = {trial_key(t): i for i, t in enumerate(trials)}
    for record in _journal_records(journal_path(snapshot)):
        key = trial_key(record)
        if key in position:
            trials[position[key]] = record
        else:
            position[key] = len(trials)
            trials.append(record)
    data["trials"] = trials
    return data


def _journal_records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a torn last line: the change it held is lost
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class IndexJournal:
    """Writes one study's index: `append` a changed trial in O(1), `compact` the snapshot."""

    def __init__(self, snapshot: Path):
        self.snapshot = snapshot
        self.journal = journal_path(snapshot)
        try:  # the lines to fold in at the next compaction (a torn one counts too)
            self._lines = self.journal.read_bytes().count(b"\n")
        except OSError:
            self._lines = 0
        self._handle: Any = None

    def append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._handle.write(json.dumps(record, default=str) + "\n")
        self._handle.flush()  # a reader (mtrain status, analyze) sees it at once
        self._lines += 1

    def due(self, trials: int) -> bool:
        """Whether the journal has grown long enough to fold into the snapshot."""
        return self._lines >= max(MIN_COMPACT, trials)

    def compact(self, data: dict[str, Any]) -> None:
        """Write the whole index as the new snapshot (atomically), then empty the journal."""
        atomic_write_json(self.snapshot, data)
        self.close()
        if self.journal.exists():
            with open(self.journal, "w", encoding="utf-8") as handle:
                os.fsync(handle.fileno())
        self._lines = 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
