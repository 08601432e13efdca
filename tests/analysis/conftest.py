"""Fixtures: synthetic trial and study folders (see analysis_synth.py for their layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.analysis_synth import make_runs, make_skip_study


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A fresh copy of every synthetic folder, for tests that write into it."""
    return make_runs(tmp_path / "runs")


@pytest.fixture(scope="session")
def runs_shared(tmp_path_factory) -> Path:
    """The same folders, built once, for read-only tests (analysis writes to --out elsewhere)."""
    return make_runs(tmp_path_factory.mktemp("shared") / "runs")


@pytest.fixture(scope="session")
def skip_study_shared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("skip") / "runs"
    return make_skip_study(root)
