"""User code for the data-parallel tests: a crashing rank, a GAN that checks rank sync,
a slow wrapper that leaves its rank's pid on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from model_trainer.examples.gan import GANWrapper
from tests.train.tiny import SlowWrapper, TinyWrapper


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


class CrashOnRank1(TinyWrapper):
    """Rank 1 raises in its third train step; rank 0 trains on (and must be stopped)."""

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        self.calls = getattr(self, "calls", 0) + 1
        if _rank() == 1 and self.calls == 3:
            raise RuntimeError("boom on rank 1")
        return super().train_step(batch)


class PidWrapper(SlowWrapper):
    """Writes `<MTRAIN_TEST_PIDS>/rank<r>` with its pid (to check no rank outlives a kill)."""

    def setup(self) -> None:
        folder = os.environ.get("MTRAIN_TEST_PIDS")
        if folder:
            Path(folder, f"rank{_rank()}").write_text(str(os.getpid()))
        super().setup()


class SyncCheckGAN(GANWrapper):
    """The GAN (manual updates, loss=None) reporting how far ranks' weights are apart."""

    def setup(self) -> None:
        super().setup()
        self.initial = self._flat().clone()

    def _flat(self) -> torch.Tensor:
        module = getattr(self.model, "module", self.model)
        return torch.cat([p.detach().reshape(-1) for p in module.parameters()])

    def custom_evaluation(self, flag: str) -> dict[str, float]:
        row = super().custom_evaluation(flag)
        flat = self._flat()
        spread = 0.0
        if dist.is_initialized():
            parts = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, flat)
            spread = max(float((p - parts[0]).abs().max()) for p in parts)
        row["rank_spread"] = spread
        row["change"] = float((flat - self.initial).abs().max())
        row["world"] = float(dist.get_world_size() if dist.is_initialized() else 1)
        return row
