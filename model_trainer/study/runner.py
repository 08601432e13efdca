"""Run a whole study: sample configurations, run trials in parallel, survive restarts.

The index is the study's memory: every change of a trial is recorded before the next
step, so rerunning the same command after a crash or kill -9 continues the study:
finished trials are never run again, trials that were in flight continue from their
checkpoints, and the sampler's history is rebuilt from the finished ones. The index is
also checked against the disk: a finished trial whose folder is gone runs again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from model_trainer.errors import Interrupted, Terminated, TrainingError
from model_trainer.files import atomic_write_bytes
from model_trainer.layout import STATUS, STUDY_INDEX, STUDY_RECIPE
from model_trainer.locks import FolderLock
from model_trainer.recipe import LoadedRecipe
from model_trainer.recipe.seeds import initial_seeds
from model_trainer.recipe.space import parse_dimension
from model_trainer.recipe.view import recipe_yaml
from model_trainer.storage import Storage
from model_trainer.study.adaptive import adaptive_seeds
from model_trainer.study.claims import ClaimSeeds, design
from model_trainer.study.code_versions import CodeVersions, check_existing_study
from model_trainer.study.display import StudyDisplay
from model_trainer.study.executors import make_executor
from model_trainer.study.finished import forget, remember
from model_trainer.study.index import StudyIndex, StudyTrial, study_folder_for
from model_trainer.study.planner import Planner, config_values
from model_trainer.study.policy import apply_outcome, fail_fast, follow_horizon, requeue
from model_trainer.study.result import StudyResult
from model_trainer.study.sampling import ConfigSource
from model_trainer.study.storage_sync import StudyStorage
from model_trainer.study.trial_task import best_logged
from model_trainer.trial.signals import reason_of
from model_trainer.vocabulary import CodeChange, RecordState, StopReason


def run_study(loaded: LoadedRecipe, *, console: Console | None = None,
              live: bool | None = None, executor: Any = None,
              if_code_changed: CodeChange | str = CodeChange.STOP) -> StudyResult:
    """Run (or continue) the recipe's study until every trial has finished.

    `executor` replaces the one the recipe asks for (tests and benchmarks);
    `if_code_changed`: what to do with trials that ran other code (study/code_versions.py)."""
    console = console or Console(stderr=True)
    executor = executor or make_executor(loaded.recipe)  # resources checked, nothing started
    uri = loaded.recipe.study.storage
    if uri:  # refused or unreachable: exit 2 before anything runs
        Storage(uri).check()
    study_dir = study_folder(loaded)
    store = StudyStorage(uri, study_dir, console) if uri else None
    with FolderLock(study_dir, "study"):  # one driver per study folder
        if store is not None:
            store.restore()  # what this folder lacks (a rerun from another machine)
        # before the study folder changes at all: trials that ran other code stop it here
        versions = check_existing_study(loaded, study_dir, CodeChange(if_code_changed))
        index = _open_index(loaded, study_dir, console)
        try:
            result = _run(loaded, index, study_dir, console, live, executor, versions, store)
            remember(loaded, index, study_dir, versions)  # a cache: never fails the study
            return result
        finally:
            index.save()  # the whole index again: a compact snapshot for readers
            index.close()
            if store is not None:
                store.save_study()


def _open_index(loaded: LoadedRecipe, study_dir: Path, console: Console) -> StudyIndex:
    """The study's index, or a new one; checked against the trial folders on disk."""
    recipe, study = loaded.recipe, loaded.recipe.study
    objective = {"metric": recipe.train.monitor.metric, "mode": recipe.train.monitor.mode}
    forget(study_dir)  # this run may change the index: no rerun answers from it meanwhile
    index = StudyIndex.load(study_dir / STUDY_INDEX)
    if index is None and (study_dir / STUDY_INDEX).exists():
        console.print(f"warning: {study_dir / STUDY_INDEX} is unreadable; it is rebuilt: "
                      "finished trials are found again in their folders", markup=False,
                      soft_wrap=True)
    space = design(recipe).space if recipe.hypothesis is not None else study.space
    index = index or StudyIndex(loaded.study_id, objective, space, study.sampler, [],
                                study_dir / STUDY_INDEX)
    if index.objective != objective:  # the monitor is stateless: the latest recipe decides
        console.print(f"the objective changed from {index.objective['metric']} "
                      f"({index.objective['mode']}) to {objective['metric']} "
                      f"({objective['mode']}): finished trials' values are read again from "
                      "their metrics", markup=False, soft_wrap=True)
        for record in index.trials:
            if record.state is RecordState.COMPLETED:
                record.value = best_logged(study_dir / record.trial_id, objective,
                                           recipe.train.epochs)
        index.objective = objective
    follow_horizon(index, study_dir, recipe.train.epochs, console)
    requeue(index)
    for record in index.gone(study_dir):
        console.print(f"trial {record.trial_id} was {record.state} but its folder is gone: "
                      "running it again", markup=False, soft_wrap=True)
        record.state, record.attempts = RecordState.PENDING, 0
    index.save()  # first: a study folder whose study.yaml has no index is one nothing names
    if not (study_dir / STUDY_RECIPE).exists():
        atomic_write_bytes(study_dir / STUDY_RECIPE, recipe_yaml(recipe).encode())
    return index


def _run(loaded: LoadedRecipe, index: StudyIndex, study_dir: Path, console: Console,
         live: bool | None, executor: Any, versions: CodeVersions,
         store: StudyStorage | None = None) -> StudyResult:
    recipe, study = loaded.recipe, loaded.recipe.study
    dims = [d for d in (parse_dimension(k, v)[0] for k, v in study.space.items()) if d]
    seeds = initial_seeds(study, recipe.seed)
    points = None
    if recipe.hypothesis is not None:  # the claims name the configurations
        plan = design(recipe)
        adaptive, points = ClaimSeeds(recipe, plan), plan.points
    else:
        adaptive = adaptive_seeds(recipe, dims)
    source = ConfigSource(study.sampler, dims, recipe.seed, index.objective["mode"],
                          index.configs(), config_values(index), points)
    n_configs = source.total(study.trials)
    if study.sampler != "grid" and n_configs < (study.trials or 0):
        console.print(f"study.trials={study.trials} but the search space holds only "
                      f"{n_configs} distinct configurations: running {n_configs}",
                      style="yellow", markup=False)
    planner = Planner(loaded, index, source, seeds, n_configs, study_dir, versions, adaptive)
    per_config = adaptive.max if adaptive else len(seeds)  # adaptive: at most
    if index.total != n_configs * per_config:
        index.total = n_configs * per_config  # for `mtrain status`: "6/12 done"
        index.save()
    first = planner.next_trial()
    if first is None:  # nothing left to run: no workers, no Ray
        return result_of(_settled(index, adaptive), study_dir, adaptive)
    threads = max(1, int(study.resources.cpus))
    # trials handed over at once: the concurrency, or all (an executor that queues them)
    capacity = getattr(executor, "capacity", study.concurrency)
    display = StudyDisplay(index, index.total, study.concurrency, console, live, study_dir)
    finished: list[StudyTrial] = []
    stop_launching = None
    record: StudyTrial | None = first
    with executor, display:
        try:
            while True:
                while record is not None and stop_launching is None:
                    record.state, record.attempts = RecordState.RUNNING, record.attempts + 1
                    index.changed(record)
                    executor.submit(record, planner.payload(record, threads))
                    display.started(record)
                    record = planner.next_trial() if executor.running < capacity else None
                if executor.running == 0:
                    break
                if store is not None:  # readers of storage see what runs and what ended
                    store.save_study_now_and_then()
                done, outcome = executor.wait_one()
                if outcome.state is RecordState.INTERRUPTED and executor.runs_in_driver:
                    done.state = RecordState.INTERRUPTED  # the signal was ours: stop
                    index.changed(done)
                    raise _TrialStopped(StopReason(outcome.stop_reason or StopReason.INTERRUPTED))
                apply_outcome(done, outcome, study.retries)
                if store is not None:  # where it ran may not share this folder
                    store.fetch_trial(done.trial_id)
                index.changed(done)
                display.finished(done)
                if done.state is RecordState.PENDING:
                    planner.requeued(done)
                else:
                    finished.append(done)
                    planner.config_done(done.number)
                    stop_launching = stop_launching or fail_fast(finished, study.fail_fast)
                record = planner.next_trial() if stop_launching is None else None
        except (KeyboardInterrupt, _TrialStopped) as stop:
            reason = stop.reason if isinstance(stop, _TrialStopped) else reason_of(stop)
            for cancelled, _ in executor.cancel_all(reason):
                cancelled.state = RecordState.INTERRUPTED
                index.changed(cancelled)
            error = Terminated if reason is StopReason.TERMINATED else Interrupted
            raise error(f"study {reason}; rerun the same command to continue") from None
    if stop_launching:
        console.print(f"stopped launching trials: {stop_launching}", style="yellow",
                      markup=False)
        return result_of(index, study_dir, adaptive)
    return result_of(_settled(index, adaptive), study_dir, adaptive)


def _settled(index: StudyIndex, adaptive: Any) -> StudyIndex:
    """Adaptive seeds that ended before their budget: the trials run are all there is
    (`mtrain status` then says 12/12 done, not 12/18 with 6 pending)."""
    if adaptive is not None and index.total != len(index.trials):
        index.total = len(index.trials)
        index.save()
    return index


class _TrialStopped(Exception):
    """The trial running in the driver's own process was stopped by Ctrl-C or SIGTERM."""

    def __init__(self, reason: StopReason):
        super().__init__(reason)
        self.reason = reason


def study_folder(loaded: LoadedRecipe) -> Path:
    """`<output_dir>/<name>`, unless a different study lives there (or in storage under
    that name): then `<name>-<study_id>`."""
    recipe = loaded.recipe
    return study_folder_for(recipe.output_dir, recipe.name, loaded.study_id,
                            recipe.study.storage if recipe.study else None)


def result_of(index: StudyIndex, study_dir: Path, adaptive: Any = None) -> StudyResult:
    counts = index.counts()
    notes = adaptive.report(index.trials, index.objective["mode"]) if adaptive else []
    past = sum(t.past_horizon for t in index.trials if t.state is RecordState.COMPLETED)
    if past:
        notes.append(f"{past} trial{' had' if past == 1 else 's had'} trained past this "
                     f"study's {index.horizon} epochs (another run of the same trial id): "
                     f"valued within the first {index.horizon}; their test rows are at "
                     "checkpoints past them")
    verdicts = adaptive.verdicts(index.trials) if isinstance(adaptive, ClaimSeeds) else []
    result = StudyResult(study_dir, index.study_id, counts, index.best(), index.objective,
                         notes, verdicts, list(index.trials))
    if counts.get(RecordState.FAILED) and not counts.get(RecordState.COMPLETED) \
            and not counts.get(RecordState.PRUNED):
        first = next(t for t in index.trials if t.state is RecordState.FAILED)
        raise TrainingError(f"every trial of study {index.study_id} failed; first error: "
                            f"{first.error} (see {study_dir / first.trial_id / STATUS})")
    return result
