"""Print a table of text cells so that it stays readable at any width and when piped.

A table whose columns fit the console (each column as wide as its cells; text with spaces
may wrap at them down to MIN_CELL, but no word or identifier is ever cut) is drawn as a
table. One that does not fit is
printed as a list, one record per row and one `column: value` line per cell, instead of
being squeezed into cells two characters wide. Text from disk is never read as markup.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_CELL = 20  # text with spaces (a conclusion, an error) may wrap down to this width


def _longest_word(texts) -> int:
    return max((len(word) for text in texts for word in str(text).split()), default=0)


def _needed(frame: pd.DataFrame, column: str) -> int:
    longest = max([len(str(v)) for v in frame[column]], default=0)
    cell = min(longest, max(MIN_CELL, _longest_word(frame[column])))
    return max(cell, _longest_word([column]), 1)


def fits(frame: pd.DataFrame, width: int) -> bool:
    """Whether every column gets its needed width, borders and padding included."""
    borders = 3 * len(frame.columns) + 1
    return sum(_needed(frame, c) for c in frame.columns) + borders <= width


def _widths(frame: pd.DataFrame, width: int) -> list[int]:
    """Each column's width: what it needs, then the room left shared among the columns
    whose text would wrap, up to their longest cell."""
    needed = [_needed(frame, c) for c in frame.columns]
    longest = [max([len(str(v)) for v in frame[c]] + [n]) for c, n in zip(frame.columns, needed, strict=True)]
    room = width - 3 * len(needed) - 1 - sum(needed)
    widths = list(needed)
    for i in sorted(range(len(widths)), key=lambda i: longest[i] - needed[i]):
        share = min(longest[i] - widths[i], room)
        widths[i] += share
        room -= share
    return widths


def print_frame(console: Console, title: str, frame: pd.DataFrame, caption: str = "",
                optional: tuple[str, ...] = ()) -> None:
    """`frame` (text cells) under its title, as a table when it fits `console.width`, else
    as a list; then the caption. Columns in `optional` are left out of a table, last
    first, when that makes it fit (a list shows them all)."""
    console.print(Text(title, style="bold"), overflow="fold")
    shown, dropped = frame, []
    for column in reversed([c for c in optional if c in frame.columns]):
        if fits(shown, console.width):
            break
        shown, dropped = shown.drop(columns=column), [column, *dropped]
    if fits(shown, console.width):
        table = Table()
        for column, size in zip(shown.columns, _widths(shown, console.width), strict=True):
            table.add_column(Text(str(column)), width=size, overflow="fold")
        for row in shown.itertuples(index=False):
            table.add_row(*[Text(str(v)) for v in row])
        console.print(table)
        if dropped:
            caption = f"Not shown at this width: {', '.join(dropped)}. {caption}".strip()
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
