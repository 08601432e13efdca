"""What a study run returns: its counts and summary, and every trial to use afterwards,
like Ray Tune's ResultGrid (`.trials`, `.dataframe()`, `.best()`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.layout import BEST_CHECKPOINT, CHECKPOINTS, LAST_CHECKPOINT, METRICS
from model_trainer.metrics_file import named_metrics, ranked_by, read_rows, training_rows
from model_trainer.study.index import StudyTrial
from model_trainer.vocabulary import RecordState


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study: its id, configuration, seed, state, objective and files."""

    trial_id: str
    params: dict[str, Any]  # the searched keys' values (the recipe's values otherwise)
    seed: int
    state: str
    value: float | None  # the study's objective (train.monitor) at the trial's best epoch
    folder: Path
    error: str | None = None

    @property
    def checkpoints(self) -> dict[str, Path]:
        """{"best": path, "last": path}, for those written."""
        found = {name: self.folder / CHECKPOINTS / file
                 for name, file in (("best", BEST_CHECKPOINT), ("last", LAST_CHECKPOINT))}
        return {name: path for name, path in found.items() if path.is_file()}

    def load(self, checkpoint: str = "best", **kwargs: Any) -> Any:
        """The trained model's wrapper (see model_trainer.load_trial)."""
        from model_trainer.trial.reload import load_trial

        return load_trial(self.folder, checkpoint, **kwargs)


@dataclass
class StudyResult:
    study_dir: Path
    study_id: str
    counts: dict[str, int]
    best_trial: StudyTrial | None
    objective: dict[str, str]
    notes: list[str] = field(default_factory=list)  # lines the summary ends with
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # a hypothesis study's
    records: list[StudyTrial] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        line = f"study {self.study_id} in {self.study_dir}: {counts}"
        if self.best_trial is not None:
            best = self.best_trial
            params = " ".join(f"{k}={v}" for k, v in best.params.items())
            line += (f"\nbest {self.objective['metric']}={best.value:.5g}: "
                     f"{best.trial_id} ({params} seed={best.seed})")
        return "\n".join([line, *self.notes])

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial the study holds (failed and invalid ones too), in its index's order."""
        return [TrialRecord(t.trial_id, dict(t.params), t.seed, str(t.state), t.value,
                            self.study_dir / t.trial_id, t.error) for t in self.records]

    def dataframe(self) -> Any:
        """The trials as a pandas DataFrame: id, state, seed, each searched key, the
        objective (named as the study's metric) and the folder."""
        import pandas as pd

        metric = self.objective["metric"]
        return pd.DataFrame([{"trial_id": t.trial_id, "state": t.state, "seed": t.seed,
                              **t.params, metric: t.value, "folder": str(t.folder)}
                             for t in self.trials])

    def best(self, metric: str | None = None, mode: str | None = None) -> TrialRecord | None:
        """The completed trial with the best value: of the study's objective by default,
        else of `metric` (a logged name such as `val_accuracy` or `test_loss`, its best
        value over the trial's evaluations) in `mode` (max or min; by default min for a
        cost: a loss, an error, mse, mae, perplexity... (metrics_file.guess_mode), else
        max)."""
        metric, mode = ranked_by(metric, mode, (self.objective["metric"],
                                                self.objective["mode"]))
        done = [t for t in self.trials if t.state == RecordState.COMPLETED]
        scored = [(self._value(t, metric, mode), t) for t in done]
        scored = [(v, t) for v, t in scored if v is not None]
        if not scored:
            return None
        pick = max if mode == "max" else min
        return pick(scored, key=lambda pair: pair[0])[1]

    def _value(self, trial: TrialRecord, metric: str, mode: str) -> float | None:
        """The trial's best value of `metric` in `mode` (the objective's: its index value)."""
        if metric == self.objective["metric"] and mode == self.objective["mode"]:
            return trial.value
        values = [named_metrics(row).get(metric) for row in
                  training_rows(read_rows(trial.folder / METRICS))]
        values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
        if not values:
            return None
        return max(values) if mode == "max" else min(values)
