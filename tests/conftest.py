"""Fixtures shared across the test suite."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.recipe.samples import BASE


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
    import os

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
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
