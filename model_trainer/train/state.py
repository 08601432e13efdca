"""The loop's state: where training is, what was best, why it stopped.

Everything here goes into a checkpoint (as plain types) and into status.json, so a
resumed run continues with the same epoch, step, best value and early-stopping count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    epoch: int = 0  # completed epochs
    global_step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # batches of epoch `epoch + 1` done (> 0 only after an interrupt)
    best: dict[str, Any] | None = None  # {"metric", "mode", "value", "epoch", "step"}
    bad_evals: int = 0  # evaluations in a row without improvement (early stopping)
    last_eval: dict[str, float] = field(default_factory=dict)  # full names: val_loss, ...
    diverged: bool = False  # a non-finite training loss was seen
    pruned: bool = False  # on_eval asked to stop (study pruning)
    stop_reason: str | None = None
    test_checkpoint: str | None = None  # "best" or "last": the weights the test split saw

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
