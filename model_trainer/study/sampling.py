"""Where a study's configurations come from: the full grid, or Optuna's ask/tell.

Grid points are enumerated once in a fixed order, so each runs exactly once, whatever
the concurrency and however often the study is rerun. Random and TPE go through
Optuna's public API only: finished configurations are told back (added as trials on
rerun) so TPE keeps learning across restarts; the sampler's seed depends on how many
configurations exist already. A configuration is never handed out twice: a draw that
repeats one is told back as failed and drawn again (up to `REDRAWS` times), and a finite
space bounds the number of configurations.
"""

from __future__ import annotations

import json
import math
from typing import Any

from model_trainer.recipe.space import Dimension, grid, grid_size

REDRAWS = 100  # draws that may repeat known configurations before the space is deemed spent


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class ConfigSource:
    """Hands out configuration params in order and learns from finished ones."""

    def __init__(self, sampler: str, dimensions: list[Dimension], seed: int, mode: str,
                 known: dict[int, dict[str, Any]], values: dict[int, float | None],
                 points: list[dict[str, Any]] | None = None):
        """`points`: the configurations to run, in order (a hypothesis names them), in place
        of the grid."""
        self.sampler = sampler
        self.dimensions = dimensions
        self._points = points if points is not None else \
            grid(dimensions) if sampler == "grid" else None
        self._asked: dict[int, Any] = {}  # config number -> live optuna trial
        self._seen = {_key(p) for p in known.values()}
        self._study = None
        if sampler != "grid":
            direction = "maximize" if mode == "max" else "minimize"
            self._study = self._make_study(seed + 1_000_003 * len(known), direction)
            for number, params in known.items():
                value = values.get(number)
                if value is not None:
                    self._add_finished(params, value)

    def total(self, trials: int | None) -> int:
        """How many configurations the study needs: every grid point, or `trials`
        distinct draws (no more than a finite space holds)."""
        if self._points is not None:
            return len(self._points)
        return int(min(trials or 0, self.space_size()))

    def space_size(self) -> float:
        """How many distinct configurations the space holds (inf with a continuous range)."""
        if any(not d.is_discrete for d in self.dimensions):
            return math.inf
        return grid_size(self.dimensions)

    def params_for(self, number: int) -> dict[str, Any] | None:
        """The params of configuration `number` (asked from Optuna for random/tpe); None
        when no draw gives a configuration the study does not have yet."""
        if self._points is not None:
            return dict(self._points[number])
        import optuna

        for _ in range(REDRAWS):
            trial = self._study.ask(self._distributions())
            params = {d.key: self._decode(d, trial.params[d.key]) for d in self.dimensions}
            if _key(params) not in self._seen:
                self._seen.add(_key(params))
                self._asked[number] = trial
                return params
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)  # a repeat: redraw
        return None

    def tell(self, number: int, params: dict[str, Any], value: float | None) -> None:
        """Report a finished configuration's objective (None: it failed)."""
        if self._study is None:
            return
        import optuna

        trial = self._asked.pop(number, None)
        if trial is None:  # asked by an earlier driver (killed while it ran): add it whole
            if value is not None:
                self._add_finished(params, value)
            return
        if value is None:
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(trial, value)

    def _make_study(self, seed: int, direction: str):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if self.sampler == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        return optuna.create_study(direction=direction, sampler=sampler)

    def _distributions(self) -> dict[str, Any]:
        import optuna.distributions as dist

        out = {}
        for d in self.dimensions:
            if d.kind == "choice":  # by index: Optuna's categories cannot be lists or dicts
                out[d.key] = dist.CategoricalDistribution(list(range(len(d.values))))
            elif d.kind == "int":
                out[d.key] = dist.IntDistribution(int(d.low), int(d.high), step=d.step)
            else:
                out[d.key] = dist.FloatDistribution(d.low, d.high, log=d.log)
        return out

    def _decode(self, d: Dimension, raw: Any) -> Any:
        return d.values[raw] if d.kind == "choice" else raw

    def _encode(self, d: Dimension, value: Any) -> Any:
        if d.kind == "choice":
            return next(i for i, v in enumerate(d.values) if v == value)
        return value

    def _add_finished(self, params: dict[str, Any], value: float) -> None:
        import optuna

        encoded = {}
        for d in self.dimensions:
            if d.key not in params:
                return
            try:
                encoded[d.key] = self._encode(d, params[d.key])
            except StopIteration:
                return  # a value no longer in the space: nothing to learn from it
        self._study.add_trial(optuna.trial.create_trial(
            params=encoded, distributions=self._distributions(), value=value))
