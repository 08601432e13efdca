"""Print a table of text cells so that it stays readable at any width and when piped.

A table whose columns fit the console (each column at least as wide as its cells, up to
MIN_CELL for long text, which then folds) is drawn as a table. One that does not fit is
printed as a list, one record per row and one `column: value` line per cell, instead of
being squeezed into cells two characters wide. Text from disk is never read as markup.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_CELL = 20  # a long cell (a conclusion, an error) may fold down to this width
FOLDABLE = 24  # cells longer than this may fold; shorter ones are never cut


def _needed(frame: pd.DataFrame, column: str) -> int:
    longest = max([len(str(v)) for v in frame[column]], default=0)
    header = max(len(word) for word in str(column).split()) if str(column).strip() else 1
    cell = longest if longest <= FOLDABLE else MIN_CELL
    return max(cell, header)


def fits(frame: pd.DataFrame, width: int) -> bool:
    """Whether every column gets its needed width, borders and padding included."""
    borders = 3 * len(frame.columns) + 1
    return sum(_needed(frame, c) for c in frame.columns) + borders <= width


def print_frame(console: Console, title: str, frame: pd.DataFrame, caption: str = "") -> None:
    """`frame` (text cells) under its title, as a table when it fits `console.width`, else
    as a list; then the caption."""
    console.print(Text(title, style="bold"), overflow="fold")
    if fits(frame, console.width):
        table = Table()
        for column in frame.columns:
            table.add_column(Text(str(column)), min_width=_needed(frame, column), overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*[Text(str(v)) for v in row])
        console.print(table)
    else:
        _print_list(console, frame)
    if caption:
        console.print(Text(caption), overflow="fold")


def _print_list(console: Console, frame: pd.DataFrame) -> None:
    columns = list(frame.columns)
    for row in frame.itertuples(index=False):
        cells = [str(v) for v in row]
        console.print(Text(f"- {columns[0]}: {cells[0]}"), overflow="fold")
        for column, value in zip(columns[1:], cells[1:], strict=True):
            if value:
                console.print(Text(f"    {column}: {value}"), overflow="fold")


def print_line(console: Console, text: str, style: str | None = None, prefix: str = "") -> None:
    """A line of plain text (never markup), with an optional styled prefix like `warning:`."""
    line = Text()
    if prefix:
        line.append(prefix, style=style)
        line.append(" ")
    line.append(text)
    console.print(line, overflow="fold")
