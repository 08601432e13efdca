"""Trial folders written by hand, shaped like the ones a run leaves (status.json,
recipe.yaml, metrics.jsonl), for tests of what is read from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def trial_folder(root: Path, trial_id: str, *, state: str, epochs_done: int = 0, epochs: int = 5,
                 monitor: str = "val_accuracy", rows: list[dict[str, Any]] = (),
                 params: dict[str, Any] | None = None, seed: int = 0, error: str | None = None,
                 duration_s: float | None = None, best: dict[str, Any] | None = None,
                 ended_at: str | None = None) -> Path:
    folder = root / trial_id
    folder.mkdir(parents=True)
    status = {"trial_id": trial_id, "name": "fake", "state": state, "attempts": 1,
              "started_at": "2026-01-01T00:00:00+00:00", "ended_at": ended_at,
              "duration_s": duration_s, "epochs_done": epochs_done,
              "global_step": 10 * epochs_done, "best": best,
              "study": {"study_id": "s1", "number": 0, "params": params or {}, "seed": seed}}
    if error:
        status["error"] = {"type": "RuntimeError", "message": error + "\nsecond line",
                           "traceback": "Traceback ..."}
    (folder / "status.json").write_text(json.dumps(status))
    recipe = {"name": "fake", "train": {"epochs": epochs,
                                        "monitor": {"metric": monitor, "mode": "max"}}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    append_rows(folder, rows)
    return folder


def append_rows(folder: Path, rows: list[dict[str, Any]]) -> None:
    with open(folder / "metrics.jsonl", "a") as handle:
        for row in rows:
            handle.write(json.dumps({"time": 0.0, **row}) + "\n")


def row(split: str, step: int, epoch: int, **metrics: float) -> dict[str, Any]:
    return {"step": step, "epoch": epoch, "split": split, "metrics": metrics}
