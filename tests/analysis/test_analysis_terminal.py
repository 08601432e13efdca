"""Printed output stays readable in a narrow terminal and when piped: tables that do not
fit become lists instead of cells cut to two characters, and no markup leaks out."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from model_trainer.analysis import analyze
from model_trainer.analysis.terminal import print_frame
from tests import forked

REPO = Path(__file__).resolve().parents[2]
MARKUP = re.compile(r"\[/?(yellow|red|bold|cyan|green)[^\]]*\]")


def _whole_words_survive(text: str, result) -> None:
    lines = text.splitlines()
    for tid in result.ranking["trial_id"].head(20):
        assert any(tid in line for line in lines), f"{tid} was cut"
    for conclusion in result.ablation["conclusion"]:
        head = conclusion.split(" (")[0]  # "worse than baseline": never broken mid-phrase
        assert head in text, head
    assert "model.args.skip in skip_ablation" in text


@pytest.mark.parametrize("width", [60, 100])
def test_narrow_console_gets_lists_not_cut_cells(runs_shared, tmp_path, width):
    buffer = io.StringIO()
    result = analyze(runs_shared, out=tmp_path, plots=False,
                     console=Console(file=buffer, width=width, color_system=None))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert not MARKUP.search(text) and "\x1b[" not in text
    _whole_words_survive(text, result)
    assert "warning: " in text  # the warnings are there, as plain words


def test_piped_cli_output_is_plain_and_readable(runs_shared, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "60"}
    code = "from model_trainer.cli.app import main; main()"
    done = forked.run([sys.executable, "-c", code, "analyze", str(runs_shared), "--no-plots",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert not MARKUP.search(text) and "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "worse than baseline" in text and "warning: " in text


def test_a_table_that_fits_is_drawn_as_a_table():
    long = "worse than baseline by a margin that takes many words (Holm p=0.001)"
    frame = pd.DataFrame({"value": ["64", "128"], "n": ["3", "3"], "conclusion": [long, "y"]})
    buffer = io.StringIO()
    print_frame(Console(file=buffer, width=60, color_system=None), "t", frame)
    text = buffer.getvalue()
    assert "┃ value" in text and "- value: 64" not in text  # the long conclusion wraps instead
    assert "worse than baseline" in text and max(len(line) for line in text.splitlines()) <= 60
    buffer = io.StringIO()
    print_frame(Console(file=buffer, width=30, color_system=None), "t", frame)
    assert "- value: 64" in buffer.getvalue() and "    n: 3" in buffer.getvalue()


def test_an_identifier_is_never_cut_to_fit():
    frame = pd.DataFrame({"trial_id": ["random_study-1-s0-b35fd3089a33"], "n": ["3"]})
    buffer = io.StringIO()
    print_frame(Console(file=buffer, width=30, color_system=None), "t", frame)
    assert "random_study-1-s0-b35fd3089a33" in buffer.getvalue()


def test_markup_in_data_is_printed_as_it_is():
    frame = pd.DataFrame({"value": ["[red]x[/red]"]})
    buffer = io.StringIO()
    print_frame(Console(file=buffer, width=80, color_system=None), "[bold]title", frame)
    assert "[red]x[/red]" in buffer.getvalue() and "[bold]title" in buffer.getvalue()
