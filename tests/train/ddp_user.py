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


class NoisyData(torch.utils.data.Dataset):
    """The tiny data, with the last feature drawn by the loader worker's torch RNG."""

    def __init__(self, n: int):
        from tests.train.tiny import tensors

        self.x, self.y = tensors(n)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.x[index].clone()
        x[-1] = torch.rand(())
        return {"x": x, "labels": self.y[index]}


class StreamRecorder(TinyWrapper):
    """Writes each rank's first dropout mask and its worker-drawn noise to
    `<MTRAIN_TEST_OUT>/rank<r>.pt`, to compare the ranks' random streams."""

    def make_dataloader(self, flag: str) -> Any:
        from model_trainer import make_loader

        return None if flag == "test" else make_loader(NoisyData(64), self.recipe, flag)

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        self.noise = getattr(self, "noise", []) + batch["x"][:, -1].tolist()
        if not hasattr(self, "mask"):
            self.mask = torch.nn.functional.dropout(torch.ones(32), 0.5)
        torch.save({"mask": self.mask, "noise": self.noise},
                   Path(os.environ["MTRAIN_TEST_OUT"], f"rank{_rank()}-{os.getpid()}.pt"))
        return super().train_step(batch)


class GatherWrapper(TinyWrapper):
    """custom_evaluation gathers a value from every rank (the documented way)."""

    def custom_evaluation(self, flag: str) -> dict[str, float]:
        ranks = self.gather(_rank())
        return {"ranks": float(len(ranks)), "rank_sum": float(sum(ranks))}
