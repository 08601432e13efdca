"""The benchmark study as a plain PyTorch script: the same 8 trials (digits MLP, 4 widths
x 2 seeds) one after the other in one process, each training for --epochs with a val
evaluation per epoch and the test split at the end. The floor a study runner is measured
against: no trial folders, no checkpoints, no processes.

    python benchmarks/plain_study.py --epochs 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    import torch

    from benchmarks.workloads import MLP, make_loader, plain_evaluate, plain_train_epoch

    torch.set_num_threads(1)
    for hidden in (64, 128, 192, 256):
        for seed in (0, 1):
            torch.manual_seed(seed)
            config = SimpleNamespace(seed=seed, data=SimpleNamespace(args={"workload": "mlp"}),
                                     train=SimpleNamespace(batch_size=64))
            train, val, test = (make_loader(config, f) for f in ("train", "val", "test"))
            model = MLP(hidden)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            for _ in range(args.epochs):
                plain_train_epoch(model, optimizer, train)
                plain_evaluate(model, val)
            plain_evaluate(model, test)


if __name__ == "__main__":
    main()
