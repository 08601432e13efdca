"""Every example recipe loads, and every example trains (tiny sizes, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from model_trainer.recipe import load_recipe
from model_trainer.trial.experiment import run_experiment
from tests.files import metrics, status

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def load(name: str, tmp_path, *overrides: str):
    return load_recipe(RECIPES / f"{name}.yaml", [f"output_dir={tmp_path}",
                                                   "train.progress=off", *overrides])


@pytest.mark.slow
def test_digits_demo_reaches_90_percent_and_fills_num_classes(tmp_path):
    result = run_experiment(load("digits_mlp", tmp_path), threads=2)
    assert result.state == "completed"
    assert result.best["value"] >= 0.9 and result.final_metrics["val_accuracy"] >= 0.9
    resolved = yaml.safe_load((result.trial_dir / "recipe.yaml").read_text())
    assert resolved["model"]["args"]["num_classes"] == 10  # config_parser filled the Derived


def test_gan_trains_two_optimizers_by_hand(tmp_path):
    from model_trainer.examples.gan import GAN, GANConfig

    loaded = load("gan_points", tmp_path, "train.epochs=2", "data.args.size=512")
    torch.manual_seed(loaded.recipe.seed)  # the run seeds with the same seed before building
    before = GAN(GANConfig(**{k: getattr(loaded.recipe.model.args, k)
                              for k in ("latent", "hidden")})).state_dict()
    result = run_experiment(loaded, threads=1)
    after = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    for prefix in ("generator.", "discriminator."):
        changed = [k for k in before if k.startswith(prefix)
                   and not torch.equal(before[k], after[k])]
        assert changed, f"no {prefix} parameter changed"
    train = metrics(result, "train")
    assert train and all({"loss_d", "loss_g", "lr"} <= set(r) for r in train)
    assert len(metrics(result, "val")) == 2 and "val_moment_error" in result.final_metrics
    assert result.best["metric"] == "val_moment_error"


def test_cifar_resnet_one_short_epoch_on_fake_data(tmp_path):
    result = run_experiment(load("cifar_resnet", tmp_path, "data.args.source=fake",
                                 "data.args.fake_size=48", "data.num_workers=0",
                                 "train.batch_size=16", "train.epochs=1", "model.args.width=4"),
                            threads=1)
    assert result.state == "completed" and result.epochs_done == 1
    assert {"val_loss", "val_accuracy", "val_top5_accuracy"} == set(result.final_metrics)
    resolved = yaml.safe_load((result.trial_dir / "recipe.yaml").read_text())
    assert resolved["model"]["args"]["num_classes"] == 10


def test_cifar_smoke_with_a_worker_process(tmp_path):
    result = run_experiment(load("cifar_resnet", tmp_path, "data.args.source=fake",
                                 "data.args.fake_size=64", "data.num_workers=1",
                                 "train.batch_size=8", "model.args.width=4"),
                            smoke=True, threads=1)
    assert result.stop_reason == "smoke" and not (tmp_path / "cifar-resnet").exists()


@pytest.mark.slow
def test_lightning_interop_writes_our_files(tmp_path):
    pytest.importorskip("lightning")
    result = run_experiment(load("digits_lightning", tmp_path, "train.epochs=2"), threads=1)
    record = status(result)
    assert record["state"] == "completed" and record["epochs_done"] == 2
    assert record["stop_reason"] == "epochs reached" and record["best"]["metric"] == "val_accuracy"
    val = metrics(result, "val")
    assert len(val) == 2 and set(val[0]) == {"loss", "accuracy"}
    assert metrics(result, "train")  # log_every 10 < 23 steps per epoch
    assert result.final_metrics["val_accuracy"] > 0.8
    assert run_experiment(load("digits_lightning", tmp_path, "train.epochs=2")).skipped


def test_examples_use_only_the_public_api():
    """What a user copies from an example must work from `import model_trainer` alone."""
    import ast

    import model_trainer

    examples = Path(model_trainer.__file__).parent / "examples"
    internal = []
    for path in sorted(examples.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("model_trainer"):
                if node.module == "model_trainer":
                    internal += [f"{path.name}: {a.name}" for a in node.names
                                 if a.name not in model_trainer.__all__]
                elif not node.module.startswith("model_trainer.examples"):
                    internal.append(f"{path.name}: {node.module}")
            elif isinstance(node, ast.Import):
                internal += [f"{path.name}: {a.name}" for a in node.names
                             if a.name.startswith("model_trainer.")]
    assert not internal, internal
