"""`import model_trainer.cli` stays light so that `mtrain --help` feels instant."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "ray", "matplotlib", "pandas", "optuna", "mlflow")


def test_cli_import_pulls_in_no_heavy_library():
    # model_trainer.watch is what `mtrain status` runs: it must start fast too
    code = ("import sys, model_trainer.cli.app, model_trainer.recipe, model_trainer.watch.folders; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_and_version_run():
    out = subprocess.run([sys.executable, "-m", "model_trainer", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "validate" in out.stdout
    out = subprocess.run([sys.executable, "-m", "model_trainer", "--version"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mtrain ")


def test_the_package_and_the_analysis_import_no_recipe_loader():
    # `import model_trainer` gives the markers; analysis reads files: neither needs
    # OmegaConf nor the recipe loader behind it
    code = ("import sys, model_trainer, model_trainer.analysis; "
            "print(' '.join(m for m in ('omegaconf', 'model_trainer.recipe.load') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_recipe_package_still_gives_its_names():
    from model_trainer import recipe

    assert recipe.load_recipe_text.__module__ == "model_trainer.recipe.load"
    assert set(recipe.__all__) == set(recipe._WHERE) and set(recipe.__all__) <= set(dir(recipe))
    assert all(getattr(recipe, name) is not None for name in recipe.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        recipe.nosuch  # noqa: B018
