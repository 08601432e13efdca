"""Where a study's configurations come from: the full grid, or Optuna's ask/tell.

Grid points are enumerated once in a fixed order, so each runs exactly once, whatever
the concurrency and however often the study is rerun. Random and TPE go through
Optuna's public API only: finished configurations are told back (added as trials on
rerun) so TPE keeps learning across restarts; the sampler's seed depends on how many
configurations exist already, so a rerun never repeats earlier draws.
"""

from __future__ import annotations

from typing import Any

from model_trainer.recipe.space import Dimension, grid


class ConfigSource:
    """Hands out configuration params in order and learns from finished ones."""

    def __init__(self, sampler: str, dimensions: list[Dimension], seed: int, mode: str,
                 known: dict[int, dict[str, Any]], values: dict[int, float | None]):
        self.sampler = sampler
        self.dimensions = dimensions
        self._points = grid(dimensions) if sampler == "grid" else None
        self._asked: dict[int, Any] = {}  # config number -> live optuna trial
        self._study = None
        if sampler != "grid":
            direction = "maximize" if mode == "max" else "minimize"
            self._study = self._make_study(seed + 1_000_003 * len(known), direction)
            for number, params in known.items():
                value = values.get(number)
                if value is not None:
                    self._add_finished(params, value)

    def total(self, trials: int | None) -> int:
        """How many configurations the study needs."""
        if self._points is not None:
            return len(self._points)
        return int(trials or 0)

    def params_for(self, number: int) -> dict[str, Any]:
        """The params of configuration `number` (asked from Optuna for random/tpe)."""
        if self._points is not None:
            return dict(self._points[number])
        trial = self._study.ask(self._distributions())
        self._asked[number] = trial
        return {d.key: self._decode(d, trial.params[d.key]) for d in self.dimensions}

    def tell(self, number: int, value: float | None) -> None:
        """Report a finished configuration's objective (None: it failed)."""
        if self._study is None:
            return
        import optuna

        trial = self._asked.pop(number, None)
        if trial is None:
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
