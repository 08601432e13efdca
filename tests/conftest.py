"""Fixtures shared across the test suite."""

from __future__ import annotations

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
