"""`import model_trainer.cli` stays light so that `mtrain --help` feels instant."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "ray", "matplotlib", "pandas", "optuna", "mlflow")


def loaded_by(imports: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after `import <imports>`."""
    code = (f"import sys, {imports}; "
            f"print(' '.join(m for m in {modules!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_cli_import_pulls_in_no_heavy_library():
    # model_trainer.watch is what `mtrain status` runs: it must start fast too
    imports = "model_trainer.cli.app, model_trainer.recipe, model_trainer.watch.folders"
    assert loaded_by(imports, HEAVY) == []


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
    assert loaded_by("model_trainer, model_trainer.analysis",
                     ("omegaconf", "model_trainer.recipe.load")) == []


def test_the_recipe_package_still_gives_its_names():
    from model_trainer import recipe

    assert recipe.load_recipe_text.__module__ == "model_trainer.recipe.load"
    assert set(recipe.__all__) == set(recipe._WHERE) and set(recipe.__all__) <= set(dir(recipe))
    assert all(getattr(recipe, name) is not None for name in recipe.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        recipe.nosuch  # noqa: B018


def test_the_signal_handlers_come_before_the_recipe_schema():
    """`mtrain` installs its handlers once model_trainer.trial.signals is imported: that
    import must not pull in the package's names (the schema alone took ~15 ms, and a
    SIGTERM 0.1 s after start on a loaded machine found no handler)."""
    assert loaded_by("model_trainer.trial.signals", (
        "model_trainer.recipe.schema", "model_trainer.callbacks", "yaml")) == []


def test_the_packages_names_load_on_first_use():
    import model_trainer

    # in a fresh interpreter: importing the package loads none of them, and a study
    # worker's trial task does not load the study runner (model_trainer.study is lazy too)
    lazy = tuple(sorted({module for module, _ in model_trainer._LAZY.values()}))
    assert loaded_by("model_trainer, model_trainer.study.trial_task",
                     (*lazy, "model_trainer.study.runner")) == []

    assert set(model_trainer.__all__) == set(model_trainer._LAZY) | {"__version__"}
    assert model_trainer.ModelConfig.__module__ == "model_trainer.recipe.schema"
    assert model_trainer.load_recipe.__name__ == "load_any_recipe"
    assert set(model_trainer.__all__) <= set(dir(model_trainer))  # completion sees them
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        model_trainer.nosuch  # noqa: B018
