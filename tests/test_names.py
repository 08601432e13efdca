"""File names and states are spelled once (layout.py, vocabulary.py); the code that reads
or compares them uses those names, so a renamed file or state cannot be half-renamed."""

from __future__ import annotations

import ast
from pathlib import Path

import model_trainer
from model_trainer import layout, vocabulary

ROOT = Path(model_trainer.__file__).parent
FILE_NAMES = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)}
STATES = {s.value for s in (*vocabulary.TrialState, *vocabulary.RecordState)}


def _constants(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_the_analysis_and_the_study_name_files_by_their_layout_constants():
    found = [f"{path.relative_to(ROOT)}:{c.lineno}: {c.value!r}"
             for folder in ("analysis", "study") for path in sorted((ROOT / folder).rglob("*.py"))
             for c in _constants(ast.parse(path.read_text())) if c.value in FILE_NAMES]
    assert not found, "\n".join(found)


def test_the_study_view_compares_states_by_their_vocabulary():
    path = ROOT / "watch" / "study_files.py"
    tree = ast.parse(path.read_text())
    found = [f"{path.name}:{c.lineno}: {c.value!r}" for node in ast.walk(tree)
             if isinstance(node, ast.Compare | ast.Assign)
             for c in _constants(node) if c.value in STATES]
    assert not found, "\n".join(found)


def test_the_reports_statistics_note_follows_the_minimum_of_pairs(monkeypatch):
    from model_trainer.analysis import report_content, stats

    assert f"at least {stats.MIN_PAIRS} such pairs" in report_content.statistics_note()
    monkeypatch.setattr(stats, "MIN_PAIRS", 5)
    assert "at least 5 such pairs" in report_content.statistics_note()
