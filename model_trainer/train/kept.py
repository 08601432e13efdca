"""Checkpoints kept besides last.pt and best.pt (`train.checkpoint`).

`keep_every: N` keeps the checkpoint of every N-th epoch as `epoch-NNNN.pt`;
`keep_best: k` keeps the checkpoints of the k evaluations best by `train.monitor` as
`top-NNNN.pt` (NNNN: the epoch), listed with their values in `kept.json`, the others
removed as better ones come. Each is a hard link to the `last.pt` just written (a copy
where the file system has none), made atomically, so keeping costs no second write;
best.pt stays the best.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_json
from model_trainer.train.checkpoint import link_last

KEPT = "kept.json"


def keep_top(folder: Path, epoch: int, value: float, k: int, mode: str) -> None:
    """Keep last.pt as the evaluation of `epoch` among the k best; drop the one it beats."""
    listed = top_list(folder)
    listed = [e for e in listed if e["epoch"] != epoch] + [
        {"file": f"top-{epoch:04d}.pt", "epoch": epoch, "value": value}]
    listed.sort(key=lambda e: e["value"], reverse=mode == "max")
    keep, drop = listed[:k], listed[k:]
    if any(e["epoch"] == epoch for e in keep):
        link_last(folder, f"top-{epoch:04d}.pt")
    atomic_write_json(folder / KEPT, {"mode": mode, "top": keep})
    for entry in drop:
        (folder / entry["file"]).unlink(missing_ok=True)


def top_list(folder: Path) -> list[dict[str, Any]]:
    """The kept evaluations of kept.json, best first ([] when there is none)."""
    try:
        data = json.loads((folder / KEPT).read_text())
    except (OSError, ValueError):
        return []
    return [e for e in data.get("top", []) if isinstance(e, dict) and "value" in e]
