"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.recipe.samples import BASE

# pytest-xdist sets COLUMNS=80 in its workers, and rich fixes a console's width from
# COLUMNS when the console is made (at import): the tests choose their own widths.
os.environ.pop("COLUMNS", None)


@pytest.fixture
def base() -> str:
    """A valid recipe (tiny user model from tests/recipe/userconf.py) to mutate."""
    return BASE


@pytest.fixture
def write(tmp_path):
    """Write recipe text to tmp_path/<name> and return its path."""

    def _write(text: str, name: str = "recipe.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session, bound to loopback (ray.init costs ~4-10 s)."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny tmpfs of our own (root only); skipped where mounting is not allowed."""
    mount_point = Path("/tmp") / f"mtrain-tmpfs-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
    mount_point.rmdir()


def pytest_collection_modifyitems(items):
    """Under pytest-xdist, the tests that use Ray run on one worker (one Ray a session)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if "ray_local" in item.fixturenames or (callspec and "ray" in callspec.id) \
                or item.path.name == "test_ray.py":
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="session")
def finished_tiny_study(tmp_path_factory) -> Path:
    """The tiny study of tests/study/tinytask.py, run once (2 widths x 2 seeds)."""
    from typer.testing import CliRunner

    from model_trainer.cli.app import app
    from tests.study.tinytask import RECIPE

    folder = tmp_path_factory.mktemp("finished-study")
    (folder / "study.yaml").write_text(RECIPE.format(out=folder / "runs"))
    result = CliRunner().invoke(app, ["run", str(folder / "study.yaml")])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def tiny_study(tmp_path, finished_tiny_study) -> Path:
    """A copy of the finished tiny study under tmp_path/runs (as rsync would leave it),
    and its recipe, tmp_path/study.yaml, which this fixture returns."""
    import shutil

    from tests.study.tinytask import RECIPE

    shutil.copytree(finished_tiny_study / "runs", tmp_path / "runs")
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    return path
