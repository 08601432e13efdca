"""A tiny model and data for study tests, with ways to fail on purpose.

`fail`: none | raise (every attempt) | nan (diverges) | kill (SIGKILLs its own worker
on the first attempt, then trains normally: a dead Ray worker to retry) | oom (holds 1 GB:
a job under a smaller --mem dies of it) | env (raises unless MTRAIN_TEST_LATE=late is in
its process's environment) | vanish (once the file `marker`.go exists: removes
the folder it names and SIGKILLs its own worker, as a node lost with its disk).
`sleep` (seconds a forward pass sleeps) is part of the trial id; TINY_SLEEP in the
environment slows a run down without changing its trials, so a rerun can go at full speed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


class Tiny(nn.Module):
    def __init__(self, hidden: int = 4, fail: str = "none", marker: str = "", sleep: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.fail, self.marker, self.sleep = fail, marker, sleep

    def forward(self, x, labels):
        if self.fail == "raise":
            raise RuntimeError("boom in forward")
        if self.fail == "kill" and self.marker and not Path(self.marker).exists():
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fail == "vanish" and Path(self.marker + ".go").exists() \
                and not Path(self.marker).exists():
            import shutil

            Path(self.marker).touch()
            shutil.rmtree(Path(self.marker + ".go").read_text())
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fail == "env" and os.environ.get("MTRAIN_TEST_LATE") != "late":
            raise RuntimeError("MTRAIN_TEST_LATE is not in this worker's environment")
        if self.fail == "oom":
            self.held = torch.ones(256 * 1024 * 1024)  # 1 GiB, written: resident
        sleep = self.sleep or float(os.environ.get("TINY_SLEEP") or 0)
        if sleep:
            import time

            time.sleep(sleep)
        out = self.net(x)
        loss = F.cross_entropy(out, labels)
        if self.fail == "nan":
            loss = loss * float("nan")
        return out, loss


def make_loader(config, flag):
    g = torch.Generator().manual_seed(0 if flag == "train" else 1)
    x = torch.randn(64, 4, generator=g)
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    rows = [{"x": x[i], "labels": labels[i]} for i in range(len(x))]
    return DataLoader(rows, batch_size=config.train.batch_size, shuffle=flag == "train")


RECIPE = """\
name: tiny-study
seed: 0
output_dir: {out}
model:
  target: tests.study.tinytask.Tiny
  args: {{hidden: 4}}
data:
  target: tests.study.tinytask.make_loader
train:
  epochs: 2
  batch_size: 16
  progress: off
  monitor: {{metric: val_accuracy, mode: max}}
study:
  space:
    model.args.hidden: {{choice: [2, 4]}}
  seeds: [0, 1]
"""
