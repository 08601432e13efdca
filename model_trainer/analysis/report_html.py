"""A self-contained HTML report: tables, plots embedded as base64 PNG, recipes, failures.

One file that can be mailed or opened from an rsynced folder; every string that came from
disk (ids, errors, recipe text, attribute values) goes through `html.escape`.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

import pandas as pd

from model_trainer.analysis.formatting import display_frame
from model_trainer.analysis.outputs import write_output
from model_trainer.analysis.report_content import ReportContent

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2} tr:nth-child(even) td{background:#fafafa}
pre{background:#f6f8fa;padding:0.8em;overflow:auto;font-size:0.8em}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.warn{color:#8a5a00} .note{color:#245} details{margin:0.4em 0} summary{cursor:pointer}
"""


def html_table(frame: pd.DataFrame) -> str:
    """A DataFrame of display text as an escaped HTML table."""
    cells = display_frame(frame) if not frame.empty else frame
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cells.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for row in cells.itertuples(index=False)
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def render_html(content: ReportContent) -> str:
    """The whole report as one HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(content.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(content.title)}</h1>",
    ]
    parts += [f"<p>{escape(line)}</p>" for line in content.summary]
    parts += [f"<p class=\"note\">Note: {escape(line)}</p>" for line in content.notes]
    if content.warnings:
        parts.append("<details><summary class=\"warn\">"
                     f"{len(content.warnings)} warning(s)</summary><ul>")
        parts += [f"<li>{escape(w)}</li>" for w in content.warnings]
        parts.append("</ul></details>")
    parts.append(f"<h2>{escape(content.ranking_title)}</h2>")
    parts.append(html_table(content.ranking))
    if content.ranking_note:
        parts.append(f"<p>{escape(content.ranking_note)}</p>")
    if content.sections:
        parts.append("<h2>Statistics</h2>")
        parts.append(f"<p>{escape(content.statistics_note)}</p>")
        for section in content.sections:
            parts.append(f"<h3>{escape(section.title)}</h3>")
            if section.caption:
                parts.append(f"<p>{escape(section.caption)}</p>")
            parts.append(html_table(section.frame))
    if content.plots:
        parts.append("<h2>Plots</h2>")
        for plot in content.plots:
            data = base64.b64encode(plot.png).decode("ascii")
            parts.append(f"<h3>{escape(plot.title)}</h3>")
            parts.append(f'<img alt="{escape(plot.title, quote=True)}" src="data:image/png;base64,{data}">')
    if content.failures:
        parts.append(f"<h2>Failed trials ({len(content.failures)})</h2>")
        for failure in content.failures:
            parts.append(
                f"<details><summary><code>{escape(failure.trial_id)}</code>: "
                f"{escape(failure.error)}</summary><p>{escape(failure.path)}</p>"
                f"<pre>{escape(failure.traceback or 'no traceback recorded')}</pre></details>"
            )
    for title, text in content.recipes:
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(f"<pre>{escape(text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(content: ReportContent, out_dir: Path) -> Path:
    path = out_dir / "report.html"
    write_output(path, render_html(content).encode("utf-8"))
    return path
