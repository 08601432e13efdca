"""Run a whole study: sample configurations, run trials in parallel, survive restarts.

The index file is the study's memory: every state change is saved before the next
step, so rerunning the same command after a crash or kill -9 continues the study:
finished trials are never run again, trials that were in flight continue from their
checkpoints, and the sampler's history is rebuilt from the finished ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from model_trainer.errors import Interrupted, RecipeError, Terminated, TrainingError, UsageError
from model_trainer.files import atomic_write_bytes
from model_trainer.layout import STATUS, STUDY_INDEX, STUDY_RECIPE
from model_trainer.locks import FolderLock
from model_trainer.recipe import LoadedRecipe, to_plain
from model_trainer.recipe.seeds import initial_seeds
from model_trainer.recipe.space import parse_dimension
from model_trainer.study.adaptive import AdaptiveSeeds, adaptive_seeds
from model_trainer.study.display import StudyDisplay
from model_trainer.study.executors import InlineExecutor, RayExecutor
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.study.sampling import ConfigSource
from model_trainer.study.trial_task import TrialOutcome, TrialPayload
from model_trainer.trial.signals import reason_of
from model_trainer.vocabulary import RecordState, StopReason


@dataclass
class StudyResult:
    study_dir: Path
    study_id: str
    counts: dict[str, int]
    best: StudyTrial | None
    objective: dict[str, str]
    notes: list[str] = field(default_factory=list)  # lines the summary ends with

    def summary(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        line = f"study {self.study_id} in {self.study_dir}: {counts}"
        if self.best is not None:
            params = " ".join(f"{k}={v}" for k, v in self.best.params.items())
            line += (f"\nbest {self.objective['metric']}={self.best.value:.5g}: "
                     f"{self.best.trial_id} ({params} seed={self.best.seed})")
        return "\n".join([line, *self.notes])


def run_study(loaded: LoadedRecipe, *, console: Console | None = None,
              live: bool | None = None) -> StudyResult:
    """Run (or continue) the recipe's study until every trial has finished."""
    study = loaded.recipe.study
    assert study is not None, "run_study needs a recipe with a study section"
    console = console or Console(stderr=True)
    if study.address is None:
        _check_local_resources(study.resources.cpus, study.resources.gpus)
    study_dir = study_folder(loaded)
    with FolderLock(study_dir, "study"):  # one driver per study folder
        return _run_study(loaded, study_dir, console, live)


def _run_study(loaded: LoadedRecipe, study_dir: Path, console: Console,
               live: bool | None) -> StudyResult:
    recipe, study = loaded.recipe, loaded.recipe.study
    objective = {"metric": recipe.train.monitor.metric, "mode": recipe.train.monitor.mode}
    index = StudyIndex.load(study_dir / STUDY_INDEX)
    if index is None and (study_dir / STUDY_INDEX).exists():
        console.print(f"warning: {study_dir / STUDY_INDEX} is unreadable; it is rebuilt: "
                      "finished trials are found again in their folders", markup=False,
                      soft_wrap=True)
    index = index or StudyIndex(loaded.study_id, objective, study.space, study.sampler, [],
                                study_dir / STUDY_INDEX)
    index.objective = objective  # the monitor is stateless: the latest recipe decides
    _requeue(index)
    for record in _missing_folders(index, study_dir):
        console.print(f"trial {record.trial_id} was {record.state} but its folder is gone: "
                      "running it again", markup=False, soft_wrap=True)
        record.state, record.attempts = RecordState.PENDING, 0
    if not (study_dir / STUDY_RECIPE).exists():
        atomic_write_bytes(study_dir / STUDY_RECIPE,
                           yaml.safe_dump(to_plain(recipe), sort_keys=False).encode())
    index.save()

    dims = [d for d in (parse_dimension(k, v)[0] for k, v in study.space.items()) if d]
    seeds = initial_seeds(study, recipe.seed)
    adaptive = adaptive_seeds(recipe, dims)
    source = ConfigSource(study.sampler, dims, recipe.seed, objective["mode"], index.configs(),
                          _config_values(index))
    n_configs = source.total(study.trials)
    if study.sampler != "grid" and n_configs < (study.trials or 0):
        console.print(f"study.trials={study.trials} but the search space holds only "
                      f"{n_configs} distinct configurations: running {n_configs}",
                      style="yellow", markup=False)
    planner = _Planner(loaded, index, source, seeds, n_configs, study_dir, adaptive)
    inline = study.concurrency == 1 and study.address is None
    executor = (InlineExecutor() if inline else
                RayExecutor(study.address, study.resources.cpus, study.resources.gpus))
    threads = max(1, int(study.resources.cpus))
    per_config = adaptive.max if adaptive else len(seeds)  # adaptive: at most
    display = StudyDisplay(index, n_configs * per_config, study.concurrency, console, live)
    finish_order: list[StudyTrial] = []
    stop_reason = None
    with executor, display:
        try:
            while True:
                while executor.running < study.concurrency and stop_reason is None:
                    record = planner.next_trial()
                    if record is None:
                        break
                    record.state, record.attempts = RecordState.RUNNING, record.attempts + 1
                    index.save()
                    executor.submit(record, planner.payload(record, threads))
                    display.started(record)
                if executor.running == 0:
                    break
                record, outcome = executor.wait_one()
                if outcome.state is RecordState.INTERRUPTED and inline:  # the signal was ours
                    record.state = RecordState.INTERRUPTED
                    raise _TrialStopped(StopReason(outcome.stop_reason or "interrupted"))
                _apply(record, outcome, study.retries)
                index.save()
                display.finished(record)
                if record.finished:
                    finish_order.append(record)
                    planner.config_done(record.number)
                    stop_reason = stop_reason or _fail_fast(finish_order, study.fail_fast)
        except (KeyboardInterrupt, _TrialStopped) as stop:
            for record, _ in executor.cancel_all():
                record.state = RecordState.INTERRUPTED
            index.save()
            reason = stop.reason if isinstance(stop, _TrialStopped) else reason_of(stop)
            error = Terminated if reason is StopReason.TERMINATED else Interrupted
            raise error(f"study {reason}; rerun the same command to continue") from None
    if stop_reason:
        console.print(f"stopped launching trials: {stop_reason}", style="yellow")
    result = _result(index, study_dir)
    if adaptive is not None:
        result.notes = adaptive.report(index.trials, objective["mode"])
    return result


class _TrialStopped(Exception):
    """The trial running in the driver's own process was stopped by Ctrl-C or SIGTERM."""

    def __init__(self, reason: StopReason):
        super().__init__(reason)
        self.reason = reason


def _missing_folders(index: StudyIndex, study_dir: Path) -> list[StudyTrial]:
    """Finished trials whose folder was deleted since: the index says done, the disk not."""
    return [r for r in index.trials if r.finished and not r.invalid
            and not (study_dir / r.trial_id / STATUS).exists()]


def study_folder(loaded: LoadedRecipe) -> Path:
    """`<output_dir>/<name>`, unless a different study lives there: then `<name>-<study_id>`."""
    recipe = loaded.recipe
    folder = Path(recipe.output_dir) / recipe.name
    existing = StudyIndex.load(folder / STUDY_INDEX)
    if existing is not None and existing.study_id != loaded.study_id:
        folder = Path(recipe.output_dir) / f"{recipe.name}-{loaded.study_id}"
    return folder


class _Planner:
    """Decides the next trial to run: a pending one, else the next configuration's."""

    def __init__(self, loaded: LoadedRecipe, index: StudyIndex, source: ConfigSource,
                 seeds: list[int], n_configs: int, study_dir: Path,
                 adaptive: AdaptiveSeeds | None = None):
        self.loaded, self.index, self.source = loaded, index, source
        self.seeds, self.n_configs, self.study_dir = seeds, n_configs, study_dir
        self.adaptive = adaptive

    def next_trial(self) -> StudyTrial | None:
        for record in self.index.trials:
            if record.state is RecordState.PENDING:
                return record
        number = len(self.index.configs())
        if number >= self.n_configs:
            return self._more_seeds()
        params = self.source.params_for(number)
        if params is None:  # the space holds no configuration the study does not have
            self.n_configs = number
            return None
        for seed in self.seeds:
            self.index.trials.append(self._record(number, params, seed))
        return self.next_trial()

    def payload(self, record: StudyTrial, threads: int) -> TrialPayload:
        study = self.loaded.recipe.study
        return TrialPayload(
            source=self.loaded.source, overrides=self.loaded.overrides,
            params={**record.params, "seed": record.seed},
            trial_dir=str(self.study_dir / record.trial_id), objective=self.index.objective,
            threads=threads, cwd=os.getcwd(), pruner=to_plain(study.pruner),
            study_info={"study_id": self.index.study_id, "number": record.number,
                        "params": record.params, "seed": record.seed,
                        "position": self.index.trials.index(record)})

    def _more_seeds(self) -> StudyTrial | None:
        """Adaptive seeds: the next trial of a comparison that is still undecided."""
        if self.adaptive is None:
            return None
        configs = self.index.configs()
        self.index.trials += [self._record(number, configs[number], seed)
                              for number, seed in self.adaptive.more_trials(self.index.trials)]
        return next((r for r in self.index.trials if r.state is RecordState.PENDING), None)

    def config_done(self, number: int) -> None:
        """Tell the sampler a configuration's value once all its seeds have finished."""
        trials = [t for t in self.index.trials if t.number == number]
        if all(t.finished for t in trials):
            self.source.tell(number, _mean_value(trials))

    def _record(self, number: int, params: dict[str, Any], seed: int) -> StudyTrial:
        try:
            trial_id = self.loaded.variant({**params, "seed": seed}).trial_id
        except RecipeError as exc:  # this combination breaks a cross-field rule
            return StudyTrial(number, f"invalid-{number}-{seed}", params, seed,
                              RecordState.FAILED, error=str(exc).replace("\n", "; "),
                              invalid=True)
        return StudyTrial(number, trial_id, params, seed)


def _apply(record: StudyTrial, outcome: TrialOutcome, retries: int) -> None:
    """Record a trial's outcome; an interrupted trial or a retryable failure goes back to
    pending."""
    record.state, record.value = outcome.state, outcome.value
    record.stop_reason, record.error = outcome.stop_reason, outcome.error
    if outcome.state is RecordState.INTERRUPTED or (
            outcome.retryable and record.attempts <= retries):
        record.state = RecordState.PENDING


def _requeue(index: StudyIndex) -> None:
    """On (re)start: trials left running or interrupted continue; failed ones get a new try."""
    for record in index.trials:
        if record.state in (RecordState.RUNNING, RecordState.INTERRUPTED):
            record.state = RecordState.PENDING
        elif (record.state is RecordState.FAILED and record.stop_reason != StopReason.DIVERGED
              and not record.invalid):
            record.state, record.attempts = RecordState.PENDING, 0


def _fail_fast(finished: list[StudyTrial], limit: int | None) -> str | None:
    """Stop launching when the first `limit` finished trials all failed the same way."""
    if not limit or len(finished) < limit:
        return None
    first = finished[:limit]
    errors = {t.error for t in first}
    if all(t.state is RecordState.FAILED for t in first) and len(errors) == 1:
        return f"the first {limit} trials all failed with: {errors.pop()}"
    return None


def _mean_value(trials: list[StudyTrial]) -> float | None:
    values = [t.value for t in trials if t.state is RecordState.COMPLETED and t.value is not None]
    return sum(values) / len(values) if values else None


def _config_values(index: StudyIndex) -> dict[int, float | None]:
    numbers = {t.number for t in index.trials}
    return {n: _mean_value([t for t in index.trials if t.number == n]) for n in numbers
            if all(t.finished for t in index.trials if t.number == n)}


def _check_local_resources(cpus: float, gpus: float) -> None:
    """Per-trial resources this machine can never give are an error before anything runs."""
    available = os.cpu_count() or 1
    if cpus > available:
        raise UsageError(f"study.resources.cpus={cpus:g} but this machine has {available} CPUs")
    if gpus > 0:
        import torch

        if torch.cuda.device_count() == 0:
            raise UsageError(f"study.resources.gpus={gpus:g} but this machine has no GPU "
                             "(set study.resources.gpus=0, or study.address for a GPU cluster)")


def _result(index: StudyIndex, study_dir: Path) -> StudyResult:
    counts = index.counts()
    result = StudyResult(study_dir, index.study_id, counts, index.best(), index.objective)
    if counts.get(RecordState.FAILED) and not counts.get(RecordState.COMPLETED) \
            and not counts.get(RecordState.PRUNED):
        first = next(t for t in index.trials if t.state is RecordState.FAILED)
        raise TrainingError(f"every trial of study {index.study_id} failed; first error: "
                            f"{first.error} (see {study_dir / first.trial_id / 'status.json'})")
    return result
