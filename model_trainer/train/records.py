"""The files a trial writes as it runs: status.json, metrics.jsonl and TensorBoard events.

status.json is replaced atomically on every change; metrics.jsonl gets one JSON object
per log or evaluation event, flushed at once, so analysis can read a running trial.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_bytes, atomic_write_json, read_json

STATUS, METRICS, RECIPE = "status.json", "metrics.jsonl", "recipe.yaml"
STATES = ("running", "completed", "failed", "interrupted", "pruned")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    import torch

    import model_trainer

    return {"python": platform.python_version(), "torch": torch.__version__,
            "model_trainer": model_trainer.__version__}


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the git repository the user runs from, or None (not a repo, no git, slow)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 7 else None


def read_status(trial_dir: Path) -> dict[str, Any] | None:
    data = read_json(trial_dir / STATUS)
    return data if isinstance(data, dict) else None


def write_status(trial_dir: Path, status: dict[str, Any]) -> None:
    atomic_write_json(trial_dir / STATUS, status)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a truncated or broken line is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def last_row(path: Path, split: str) -> dict[str, float]:
    """The last row of `split` with full metric names (`val_loss`, ...), or {}."""
    for row in reversed(read_rows(path)):
        if row.get("split") == split and isinstance(row.get("metrics"), dict):
            return {f"{split}_{k}": v for k, v in row["metrics"].items()}
    return {}


def truncate_rows(path: Path, max_step: int) -> int:
    """Keep the rows with step <= max_step (rewritten atomically); returns rows dropped."""
    if not path.exists():
        return 0
    rows = read_rows(path)
    kept = [r for r in rows if isinstance(r.get("step"), int) and r["step"] <= max_step]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    if text.encode() != path.read_bytes():
        atomic_write_bytes(path, text.encode())
    return len(rows) - len(kept)


class MetricsLog:
    """Appends metric rows to metrics.jsonl (and TensorBoard when enabled)."""

    def __init__(self, trial_dir: Path, tensorboard: bool = False):
        self.path = trial_dir / METRICS
        self._handle = None
        self._tensorboard_dir = trial_dir / "tensorboard" if tensorboard else None
        self._writer: Any = None

    def append(self, split: str, metrics: dict[str, float], step: int, epoch: int) -> None:
        row = {"step": step, "epoch": epoch, "split": split, "time": time.time(),
               "metrics": metrics}
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._handle.write(json.dumps(row) + "\n")
        self._handle.flush()
        if self._tensorboard_dir is not None:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is heavy

                self._writer = SummaryWriter(log_dir=str(self._tensorboard_dir))
            for key, value in metrics.items():
                self._writer.add_scalar(f"{split}/{key}", value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
