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
