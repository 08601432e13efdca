"""Which metric the analysis ranks by, in which direction, and where that choice came from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from model_trainer.errors import UsageError
from model_trainer.layout import STUDY_INDEX
from model_trainer.metrics_file import guess_mode


@dataclass(frozen=True)
class Objective:
    """The metric trials are judged by: `metric` (e.g. val_accuracy), `mode` min|max."""

    metric: str
    mode: str
    source: str  # "--metric", "study_index.json", "train.monitor" or "default"

    @property
    def column(self) -> str:
        """The trials-table column holding each trial's value: the metric at the trial's
        best epoch by its monitor (the checkpoint the trial keeps)."""
        return f"at_best_{self.metric}"

    @property
    def ascending(self) -> bool:
        return self.mode == "min"

    def better(self, difference: float) -> bool:
        """Whether a positive-or-negative difference (new - old) is an improvement."""
        return difference < 0 if self.mode == "min" else difference > 0


def _most_common(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    pairs = [p for p in pairs if p[0]]
    return Counter(pairs).most_common(1)[0][0] if pairs else None


def rankable(valued: list[str]) -> list[str]:
    """The metrics a trial can be ranked by: those with a value, except learning rates
    (`train_lr`: a schedule's trace, not a result)."""
    return [m for m in valued if not m.endswith("_lr")]


def _unusable(metric: str, available: list[str], seen: list[str]) -> str:
    listing = ", ".join(available) if available else "none (no metric has a value yet)"
    if metric.endswith("_lr") and metric in seen:
        why = "is a learning-rate trace, not a result to rank trials by"
    elif metric in seen:
        why = "has no values in these trials (every logged value is missing or not finite)"
    else:
        why = "not found in any trial"
    return f"metric {metric!r} {why}; metrics with values: {listing}"


def resolve_objective(
    metric: str | None,
    mode: str | None,
    study_objectives: list[tuple[str, str]],
    monitors: list[tuple[str, str]],
    available: list[str],
    seen: list[str] = (),
) -> Objective:
    """Pick the objective: --metric, else the studies' objective, else train.monitor, else val_loss.

    `available`: the metrics with values (see `rankable`); `seen`: every metric name
    logged, for the error message. A metric the user asked for must have values (the
    error lists those that do). A default without values is an error only when other
    metrics have values; with none at all (a study that has not logged yet) the default
    stands and tables stay empty.
    """
    if mode is not None and mode not in ("min", "max"):
        raise UsageError(f"--mode must be 'min' or 'max', got {mode!r}")
    known = _most_common(study_objectives)
    monitor = _most_common(monitors)
    if metric:
        if metric not in available:
            raise UsageError(_unusable(metric, available, list(seen)))
        for found in (known, monitor):
            if mode is None and found and found[0] == metric:
                mode = found[1]
        return Objective(metric, mode or guess_mode(metric), "--metric")
    if known:
        chosen, source = known, STUDY_INDEX
    elif monitor:
        chosen, source = monitor, "train.monitor"
    else:
        chosen, source = ("val_loss", "min"), "default"
    name, default_mode = chosen
    if available and name not in available:
        raise UsageError(
            f"objective metric {name!r} (from {source}) has no values in these trials; "
            f"pass --metric with one of: {', '.join(available)}"
        )
    final_mode = mode or (default_mode if default_mode in ("min", "max") else guess_mode(name))
    return Objective(name, final_mode, source)
