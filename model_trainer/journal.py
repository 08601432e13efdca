"""A study's index on disk: a snapshot plus an append-only journal of changed trials.

Rewriting the whole index on every change costs O(trials) per change (204 ms a save at
10,000 trials). Instead each change appends one line (the changed trial's record) to
`study_index.journal`, and the snapshot `study_index.json` is rewritten atomically only
when the journal has grown as long as the study (so each change costs O(1) amortized).
Reading replays the journal over the snapshot, record by record; a last line cut short by
a kill is ignored (that change is lost, which a rerun repairs from the trial folders).
Each journal begins with the id of the snapshot it continues (`{"journal_id": ...}`), so a
journal left behind by a kill between a compaction's two steps (a new snapshot written,
the old journal not yet replaced) is recognised as older than the snapshot and never
replayed over it: the snapshot may hold changes that were never journaled (values
re-read for a new objective).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_bytes, atomic_write_json, read_json
from model_trainer.layout import STUDY_JOURNAL

MIN_COMPACT = 64  # journal lines before a compaction is worth its rewrite
JOURNAL_ID = "journal_id"  # the snapshot's key, and the journal's first line


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
    continues, records = _journal_records(journal_path(snapshot))
    if data.get(JOURNAL_ID) is not None and continues != data[JOURNAL_ID]:
        records = []  # an older journal, already in the snapshot (a kill mid-compaction)
    for record in records:
        key = trial_key(record)
        if key in position:
            trials[position[key]] = record
        else:
            position[key] = len(trials)
            trials.append(record)
    data["trials"] = trials
    return data


def _journal_records(path: Path) -> tuple[str | None, list[dict[str, Any]]]:
    """(the id of the snapshot the journal continues, its records)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, []
    continues, records = None, []
    for number, line in enumerate(text.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:  # a torn last line: the change it held is lost
            continue
        if number == 0 and isinstance(record, dict) and set(record) == {JOURNAL_ID}:
            continues = record[JOURNAL_ID]
        elif isinstance(record, dict):
            records.append(record)
    return continues, records


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
        """Write the whole index as the new snapshot (atomically), then replace the journal
        with an empty one that names it."""
        new_id = uuid.uuid4().hex
        atomic_write_json(self.snapshot, {**data, JOURNAL_ID: new_id})
        self.close()
        atomic_write_bytes(self.journal, (json.dumps({JOURNAL_ID: new_id}) + "\n").encode())
        self._lines = 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
