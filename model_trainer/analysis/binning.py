"""How a dimension's values are read: as levels, or as a continuous range cut into bins.

A dimension sampled from a range (`uniform`, `loguniform`, an `int` range with more than
MAX_LEVELS distinct values tried, or, without a search space, a numeric attribute with
more than MAX_LEVELS distinct values) is continuous (an `int` range with fewer is read as
levels, as docs/analysis.md says); `loguniform` ones (and, without a space, positive values spanning two decades
or more) on a log scale. Bins are equal-width on that scale between the smallest and the
largest observed value, so every edge is a value the study could have drawn; the tables
and the plots use the same bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_LEVELS = 8  # numeric attributes without a space and more distinct values are ranges
BINS = 5
MIN_PER_BIN = 3  # fewer trials than 3 per bin on average and the bins get wider

LEVELS, LINEAR, LOG = "levels", "linear", "log"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def scale_of(values: list, spec: Any) -> str:
    """LEVELS, LINEAR or LOG for a dimension's observed values and its space entry."""
    kind = next(iter(spec), None) if isinstance(spec, dict) and spec else None
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present or not all(is_number(v) for v in present) or kind == "choice":
        return LEVELS
    low, high = min(present), max(present)
    if kind == "loguniform":
        return LOG if low > 0 else LINEAR
    if kind in ("uniform", "int"):
        return LINEAR if kind == "uniform" or len(set(present)) > MAX_LEVELS else LEVELS
    if len(set(present)) <= MAX_LEVELS:
        return LEVELS
    return LOG if low > 0 and high / low >= 100 else LINEAR


def transform(x: np.ndarray, scale: str) -> np.ndarray:
    return np.log10(x) if scale == LOG else x


def bin_edges(x: np.ndarray, scale: str) -> np.ndarray:
    """Edges (in value units) of equal-width bins on the dimension's scale, from the
    smallest to the largest observed value."""
    t = transform(np.asarray(x, dtype=float), scale)
    count = max(1, min(BINS, len(t) // MIN_PER_BIN))
    low, high = float(t.min()), float(t.max())
    edges = np.linspace(low, high, count + 1) if high > low else np.array([low, high])
    edges = 10**edges if scale == LOG else edges
    edges[0], edges[-1] = float(np.min(x)), float(np.max(x))  # exact, not 10**log10(x)
    return edges


def assign_bins(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin index of each value; the last bin includes its upper edge."""
    which = np.searchsorted(edges, np.asarray(x, dtype=float), side="right") - 1
    return np.clip(which, 0, len(edges) - 2)


def bin_label(edges: np.ndarray, index: int) -> str:
    low, high = edges[index], edges[index + 1]
    close = "]" if index == len(edges) - 2 else ")"
    return f"[{low:.3g}, {high:.3g}{close}"
