"""Reading what a trial or a study left on disk, for the tests (one copy of each helper)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def folder_of(result_or_dir: Any) -> Path:
    """A TrialResult's folder, or the folder itself."""
    return Path(getattr(result_or_dir, "trial_dir", result_or_dir))


def status(result_or_dir: Any) -> dict:
    """The trial's status.json."""
    return json.loads((folder_of(result_or_dir) / "status.json").read_text())


def rows(result_or_dir: Any, split: str | None = None) -> list[dict]:
    """The trial's metrics.jsonl rows (of one split)."""
    lines = (folder_of(result_or_dir) / "metrics.jsonl").read_text().splitlines()
    found = [json.loads(line) for line in lines if line.strip()]
    return [r for r in found if split is None or r["split"] == split]


def metrics(result_or_dir: Any, split: str) -> list[dict]:
    """The `metrics` mapping of each row of `split` (for train: the rows logged every
    `log_every` steps, not the end-of-epoch rows, marked "span": "epoch")."""
    return [r["metrics"] for r in rows(result_or_dir, split) if r.get("span") != "epoch"]


def study_trials(study_dir: Path) -> list[dict]:
    """The trials of a study's index (its snapshot with the journal replayed)."""
    from model_trainer.journal import read_index

    return read_index(Path(study_dir) / "study_index.json")["trials"]


def wait_for_recorded_checkpoint(out: Path, child: Any, timeout: float = 120) -> Path:
    """The trial folder under `out` once status.json records a checkpointed epoch (while
    `child`, a subprocess, runs): from then on a kill leaves something to resume."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        for path in Path(out).glob("*/*/status.json"):
            try:
                if json.loads(path.read_text()).get("epochs_done", 0) >= 1:
                    return path.parent
            except ValueError:  # being replaced right now
                pass
        time.sleep(0.05)
    output = child.stdout.read().decode() if child.poll() is not None and child.stdout else ""
    raise AssertionError(f"no checkpoint was recorded under {out}\n{output}")
