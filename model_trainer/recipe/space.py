"""A study's search space: one dimension per dotted recipe key.

    model.args.hidden: {choice: [64, 128]}
    train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-2]}
    model.args.dropout: {uniform: [0.0, 0.5]}
    model.args.layers: {int: [1, 4], step: 1}

Pure Python: parsing and grid enumeration; the sampler turns dimensions into Optuna
distributions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from model_trainer.recipe.typecheck import INT64, closest, describe

SPEC_KINDS = ("choice", "uniform", "loguniform", "int")
MAX_GRID = 10_000  # grid points: more is not a study anyone runs, and validate lists them all


@dataclass(frozen=True)
class Dimension:
    key: str
    kind: str  # choice | uniform | loguniform | int
    values: tuple = ()  # choice
    low: float = 0.0
    high: float = 0.0
    step: int = 1  # int
    log: bool = False

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("choice", "int")

    @property
    def size(self) -> int:
        """How many values a discrete dimension has (counted: the list is not built)."""
        if self.kind == "choice":
            return len(self.values)
        return (int(self.high) - int(self.low)) // self.step + 1

    def points(self) -> list[Any]:
        """Every value of a discrete dimension, in order."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, self.step))
        raise ValueError(f"{self.key}: a {self.kind} range has no finite grid")

    def point(self, index: int) -> Any:
        """`points()[index]`, without building the list."""
        if self.kind == "choice":
            return self.values[index]
        if self.kind == "int" and 0 <= index < self.size:
            return int(self.low) + index * self.step
        raise IndexError(f"{self.key}: no value number {index}")


def grid_size(dimensions: list[Dimension]) -> int:
    """How many points the grid of discrete `dimensions` has (1 for none)."""
    return math.prod(d.size for d in dimensions)


def parse_dimension(key: str, spec: Any) -> tuple[Dimension | None, list[str]]:
    """Parse one space entry; returns the dimension or the problems with it."""
    if not isinstance(spec, dict):
        return None, [f"expected a mapping like {{choice: [...]}} or {{uniform: [low, high]}}, "
                      f"got {describe(spec)}"]
    kinds = [k for k in spec if k in SPEC_KINDS]
    extra = [k for k in spec if k not in SPEC_KINDS and k != "step"]
    if extra:
        return None, [f"unknown search-space key '{extra[0]}'{closest(str(extra[0]), SPEC_KINDS)}; "
                      f"valid: {', '.join(SPEC_KINDS)}, step"]
    if len(kinds) != 1:
        return None, [f"needs exactly one of {', '.join(SPEC_KINDS)}"]
    kind = kinds[0]
    arg = spec[kind]
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            return None, [f"choice needs a non-empty list, got {describe(arg)}"]
        if "step" in spec:
            return None, ["step applies to int ranges only"]
        if len({repr(v) for v in arg}) != len(arg):
            return None, ["choice lists a value twice"]
        return Dimension(key, kind, values=tuple(arg)), []
    if not (isinstance(arg, list) and len(arg) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in arg)):
        return None, [f"{kind} needs [low, high] numbers, got {describe(arg)}"]
    low, high = arg
    if not all(_finite(v) for v in arg):
        return None, [f"{kind} needs finite bounds, got [{low}, {high}]"]
    if not low < high:
        return None, [f"{kind} needs low < high, got [{low}, {high}]"]
    if kind == "loguniform" and low <= 0:
        return None, [f"loguniform needs low > 0, got {low}"]
    if kind == "int":
        step = spec.get("step", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step)):
            return None, ["int range needs integer low, high and step"]
        if step < 1:
            return None, [f"step must be >= 1, got {step}"]
        if not all(INT64[0] <= v <= INT64[1] for v in (low, high, step)):
            return None, ["int range needs 64-bit integers (what torch and numpy take)"]
        return Dimension(key, kind, low=low, high=high, step=step), []
    if "step" in spec:
        return None, ["step applies to int ranges only"]
    return Dimension(key, kind, low=float(low), high=float(high), log=kind == "loguniform"), []


def grid(dimensions: list[Dimension]) -> list[dict[str, Any]]:
    """The full product of discrete dimensions, in a stable order."""
    keys = [d.key for d in dimensions]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(d.points() for d in dimensions))]


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False
