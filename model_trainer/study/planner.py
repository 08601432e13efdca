"""Which trial runs next: a pending one, else the seeds of the next configuration.

With a fixed list of seeds every operation costs O(1) per trial (a queue of pending
trials, trials grouped by configuration), so the driver's cost per trial does not grow
with the study. Adaptive seeds look at every comparison once the grid is handed out.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from model_trainer.errors import RecipeError
from model_trainer.recipe import LoadedRecipe, to_plain
from model_trainer.study.adaptive import AdaptiveSeeds
from model_trainer.study.code_versions import CodeVersions
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.study.sampling import ConfigSource
from model_trainer.study.trial_task import TrialPayload
from model_trainer.trial.mirror import storage_place
from model_trainer.vocabulary import RecordState


class Planner:
    def __init__(self, loaded: LoadedRecipe, index: StudyIndex, source: ConfigSource,
                 seeds: list[int], n_configs: int, study_dir: Path, versions: CodeVersions,
                 adaptive: AdaptiveSeeds | None = None):
        self.loaded, self.index, self.source = loaded, index, source
        self.versions = versions  # each trial's code, as the study started with it
        self.seeds, self.n_configs, self.study_dir = seeds, n_configs, study_dir
        self.adaptive = adaptive  # adaptive seeds: more trials while a comparison is open
        self.pending = deque(t for t in index.trials if t.state is RecordState.PENDING)
        self.by_config: dict[int, list[StudyTrial]] = {}
        self.position: dict[int, int] = {}  # id(trial) -> its place in the index
        for trial in index.trials:
            self._add(trial)

    def next_trial(self) -> StudyTrial | None:
        """The next trial to run, or None when every configuration has been handed out."""
        while True:  # a configuration may hold no runnable trial (its values break a rule)
            while self.pending:
                record = self.pending.popleft()
                if record.state is RecordState.PENDING:
                    return record
            records = self._next_records()
            if not records:
                return None
            for record in records:
                self.index.trials.append(record)
                self._add(record)
                self.index.changed(record)
            self.pending.extend(r for r in records if r.state is RecordState.PENDING)

    def _next_records(self) -> list[StudyTrial]:
        """The trials of the next configuration, or (adaptive seeds) the next seeds of the
        comparisons still undecided; [] when there are none."""
        number = len(self.by_config)
        if number < self.n_configs:
            params = self.source.params_for(number)
            if params is not None:
                return [self._record(number, params, seed) for seed in self.seeds]
            self.n_configs = number  # the space holds no configuration the study lacks
        if self.adaptive is None:
            return []
        return [self._record(number, self.by_config[number][0].params, seed)
                for number, seed in self.adaptive.more_trials(self.index.trials)]

    def _add(self, trial: StudyTrial) -> None:
        self.by_config.setdefault(trial.number, []).append(trial)
        self.position[id(trial)] = len(self.position)

    def requeued(self, record: StudyTrial) -> None:
        """A trial went back to pending (a retry, an interrupt): it runs again later."""
        self.pending.append(record)

    def payload(self, record: StudyTrial, threads: int) -> TrialPayload:
        study = self.loaded.recipe.study
        return TrialPayload(
            source=self.loaded.source, overrides=self.loaded.overrides,
            params={**record.params, "seed": record.seed},
            trial_dir=str(self.study_dir / record.trial_id), objective=self.index.objective,
            threads=threads, cwd=os.getcwd(), pruner=to_plain(study.pruner),
            study_info={"study_id": self.index.study_id, "number": record.number,
                        "params": record.params, "seed": record.seed,
                        "position": self.position[id(record)],  # Hyperband's bracket
                        **({"storage": f"{study.storage.rstrip('/')}/"
                                       f"{storage_place(self.study_dir / record.trial_id)}"}
                           if study.storage else {})},
            # a SLURM job may start hours later: it fingerprints the code it imports then
            code=None if study.executor == "slurm" else _plain_code(
                self.versions.of(record.params)),
            storage=study.storage)

    def config_done(self, number: int) -> None:
        """Tell the sampler a configuration's value once all its seeds have finished."""
        trials = self.by_config.get(number, [])
        if all(t.finished for t in trials):
            self.source.tell(number, trials[0].params, mean_value(trials))

    def _record(self, number: int, params: dict[str, Any], seed: int) -> StudyTrial:
        try:
            trial_id = self.loaded.variant({**params, "seed": seed}).trial_id
        except RecipeError as exc:  # this combination breaks a cross-field rule
            return StudyTrial(number, f"invalid-{number}-{seed}", params, seed,
                              RecordState.FAILED, error=str(exc).replace("\n", "; "),
                              invalid=True)
        return StudyTrial(number, trial_id, params, seed)


def _plain_code(code: Any) -> dict[str, Any] | None:
    return code.to_dict() if code is not None else None


def mean_value(trials: list[StudyTrial]) -> float | None:
    values = [t.value for t in trials if t.state is RecordState.COMPLETED and t.value is not None]
    return sum(values) / len(values) if values else None


def config_values(index: StudyIndex) -> dict[int, float | None]:
    """Each finished configuration's mean objective (what the sampler learns from)."""
    by_config: dict[int, list[StudyTrial]] = {}
    for trial in index.trials:
        by_config.setdefault(trial.number, []).append(trial)
    return {n: mean_value(ts) for n, ts in by_config.items() if all(t.finished for t in ts)}
