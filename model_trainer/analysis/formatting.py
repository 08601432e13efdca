"""How numbers and values read in the terminal and report tables (one place, so they agree)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MISSING = "-"


def fmt(value: Any, digits: int = 4) -> str:
    """Short human form: 4 significant digits, '-' for missing, 'nan'/'inf' kept visible."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return str(value)
    try:
        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    return str(value)


def fmt_p(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3g}" if value >= 1e-4 else f"{value:.1e}"
    return MISSING


def fmt_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return MISSING
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def short(text: str, width: int = 24) -> str:
    """Cut long labels (tick labels, ids) with an ellipsis so tables and plots stay readable."""
    return text if len(text) <= width else text[: width - 1] + "…"


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as display text, using the column's meaning for p-values and durations."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        if col == "p_value":
            out[col] = [fmt_p(v) for v in frame[col]]
        elif col == "duration_s":
            out[col] = [fmt_duration(v) for v in frame[col]]
        else:
            out[col] = [fmt(v) for v in frame[col]]
    return out
