"""A Markdown report (`--format md`): the same content as the HTML one, with the plots
referenced as PNG files next to it instead of embedded."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import pandas as pd

from model_trainer.analysis.formatting import display_frame
from model_trainer.analysis.outputs import write_output
from model_trainer.analysis.report_content import ReportContent


def _cell(value: object) -> str:
    """Table cell text: HTML-escaped (Markdown renders inline HTML) and pipes escaped."""
    return escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def md_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table (pipes escaped)."""
    cells = display_frame(frame) if not frame.empty else frame
    header = "| " + " | ".join(_cell(c) for c in cells.columns) + " |"
    rule = "|" + "|".join("---" for _ in cells.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def render_md(content: ReportContent, out_dir: Path) -> str:
    lines = [f"# {content.title}", ""]
    lines += [f"{line}  " for line in content.summary] + [""]
    if content.notes:
        lines += [f"- Note: {line}" for line in content.notes] + [""]
    if content.warnings:
        lines += [f"**{len(content.warnings)} warning(s):**", ""]
        lines += [f"- {w}" for w in content.warnings] + [""]
    lines += [f"## {content.ranking_title}", "", md_table(content.ranking), ""]
    if content.ranking_note:
        lines += [content.ranking_note, ""]
    if content.sections:
        lines += ["## Statistics", "", content.statistics_note, ""]
        for section in content.sections:
            lines += [f"### {section.title}", ""]
            lines += [section.caption, ""] if section.caption else []
            lines += [md_table(section.frame), ""]
    if content.plots:
        lines += ["## Plots", ""]
        for plot in content.plots:
            rel = Path(os.path.relpath(plot.path, out_dir)).as_posix()
            lines += [f"### {plot.title}", "", f"![{plot.title}]({rel})", ""]
    if content.failures:
        lines += [f"## Failed trials ({len(content.failures)})", ""]
        for f in content.failures:
            lines += [f"### `{f.trial_id}`", "", f"{f.error}  ", f"`{f.path}`", "", "````text",
                      (f.traceback or "no traceback recorded").rstrip(), "````", ""]
    for title, text in content.recipes:
        lines += [f"## {title}", "", "````yaml", text.rstrip(), "````", ""]
    return "\n".join(lines)


def write_md(content: ReportContent, out_dir: Path) -> Path:
    path = out_dir / "report.md"
    write_output(path, render_md(content, out_dir).encode("utf-8"))
    return path
