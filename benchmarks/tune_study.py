"""The benchmark study on Ray Tune: the same 8 trials (digits MLP, 4 widths x 2 seeds, one
CPU each, 2 at a time), each training for --epochs with an evaluation per epoch reported
to Tune, as a Ray Tune user writes it (a function trainable, a grid search).

    python benchmarks/tune_study.py --epochs 10 --out DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def trainable(config: dict) -> None:
    import torch
    from ray import tune

    sys.path.insert(0, str(ROOT))
    from benchmarks.workloads import MLP, make_loader, plain_evaluate, plain_train_epoch

    torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    data = SimpleNamespace(seed=config["seed"], data=SimpleNamespace(args={"workload": "mlp"}),
                           train=SimpleNamespace(batch_size=64))
    train, val = make_loader(data, "train"), make_loader(data, "val")
    model = MLP(config["hidden"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(config["epochs"]):
        plain_train_epoch(model, optimizer, train)
        _, accuracy = plain_evaluate(model, val)
        tune.report({"val_accuracy": accuracy})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import ray
    from ray import tune

    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False, num_cpus=2)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"hidden": tune.grid_search([64, 128, 192, 256]),
                     "seed": tune.grid_search([0, 1]), "epochs": args.epochs},
        tune_config=tune.TuneConfig(max_concurrent_trials=2, metric="val_accuracy",
                                    mode="max"),
        run_config=tune.RunConfig(storage_path=str(Path(args.out).resolve()), verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 8 and not results.errors, results.errors
    ray.shutdown()


if __name__ == "__main__":
    main()
