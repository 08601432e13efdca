"""Experiment trackers a trial also logs to (`train.loggers`): TensorBoard, MLflow and
Weights & Biases.

Optional and off by default; each is imported only when a recipe names it. metrics.jsonl
stays the source of truth: a tracker gets the same rows, and a tracker that fails (a
server gone, a full disk) is switched off with a warning instead of failing the training.
Only rank 0 of a trial logs (it owns the trial's session).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model_trainer.layout import MLFLOW_STORE, TENSORBOARD
from model_trainer.metrics_file import full_names
from model_trainer.recipe.markers import Kind
from model_trainer.recipe.view import shown_attributes
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import TrialState

log = logging.getLogger("model_trainer.train")

MLFLOW_STATUS = {TrialState.COMPLETED: "FINISHED", TrialState.PRUNED: "FINISHED",
                 TrialState.FAILED: "FAILED", TrialState.INTERRUPTED: "KILLED"}
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter's value


class Tracker:
    """One tracker: rows as they are logged, the trial's end state at the end."""

    name = "tracker"

    def log(self, split: str, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def close(self, state: TrialState | None) -> None:
        pass


class TensorBoardTracker(Tracker):
    """Event files in the trial's `tensorboard/` folder, one scalar per `split/metric`."""

    name = "tensorboard"

    def __init__(self, folder: Path):
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is heavy

        self.writer = SummaryWriter(log_dir=str(folder / TENSORBOARD))

    def log(self, split: str, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(f"{split}/{key}", value, step)
        self.writer.flush()

    def close(self, state: TrialState | None) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run per trial (found again when the trial resumes), in one experiment per
    study (or per recipe name for single runs); params are the stateful attributes and
    metrics are logged as `<split>_<name>` at the global step.

    The store is MLFLOW_TRACKING_URI when set, else a SQLite file `mlflow.db` in the folder
    that holds the trial folders (the study folder)."""

    name = "mlflow"

    def __init__(self, folder: Path, recipe: Any, status: TrialStatus):
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        self._metric = Metric
        uri = os.environ.get("MLFLOW_TRACKING_URI") or \
            f"sqlite:///{(folder.parent / MLFLOW_STORE).resolve()}"
        with _quiet(), _store_lock(folder.parent, uri):  # one process creates the tables
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._run(folder, recipe, status)

    def _run(self, folder: Path, recipe: Any, status: TrialStatus) -> str:
        study_id = (status.study or {}).get("study_id")
        name = f"{recipe.name}/{study_id}" if study_id else recipe.name
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else \
            self.client.create_experiment(name)
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`mtrain.trial_id` = '{status.trial_id}'",
            max_results=1)
        if found:  # a resumed trial continues its run
            self.client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        tags = {"mtrain.trial_id": status.trial_id, "mtrain.trial_dir": str(folder.resolve())}
        if study_id:
            tags["mtrain.study_id"] = study_id
        if status.git_commit:
            tags["mlflow.source.git.commit"] = status.git_commit
        run = self.client.create_run(experiment_id, run_name=status.trial_id, tags=tags)
        from mlflow.entities import Param

        params = [Param(key, _param_text(value)) for key, value in stateful_values(recipe).items()]
        for start in range(0, len(params), 100):  # MLflow takes 100 params per batch
            self.client.log_batch(run.info.run_id, params=params[start:start + 100])
        return run.info.run_id

    def log(self, split: str, metrics: dict[str, float], step: int) -> None:
        stamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            self._metric(name, float(value), stamp, step)
            for name, value in full_names(split, metrics).items()])

    def close(self, state: TrialState | None) -> None:
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(state, "KILLED"))


class WandbTracker(Tracker):
    """One W&B run per trial (its id is stable, so a resumed trial continues its run,
    wandb_run_id), grouped by study, in the project WANDB_PROJECT or else the recipe's name; the
    config is the stateful attributes (values read from the environment hidden), metrics
    are logged as `<split>_<name>` at the global step. W&B's files go to the trial's
    `wandb/` folder; WANDB_MODE=offline keeps them there, for `wandb sync` later."""

    name = "wandb"

    def __init__(self, folder: Path, recipe: Any, status: TrialStatus):
        import wandb

        config = stateful_values(recipe)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or recipe.name,
            group=(status.study or {}).get("study_id"), name=status.trial_id,
            id=wandb_run_id(status, folder), resume="allow", dir=str(folder), config=config,
            tags=["mtrain"], settings=wandb.Settings(console="off", quiet=True),
            reinit="create_new")

    def log(self, split: str, metrics: dict[str, float], step: int) -> None:
        self.run.log(full_names(split, metrics), step=step)

    def close(self, state: TrialState | None) -> None:
        ended = state in (TrialState.COMPLETED, TrialState.PRUNED)
        self.run.finish(exit_code=0 if ended else 1)


def wandb_run_id(status: TrialStatus, folder: Path) -> str:
    """The trial id and a hash of where the trial lives: its place in study storage when
    its study has one (the same on every node, so a retry on another node's scratch
    folder continues the run), else its folder (the same recipe run in two folders, or a
    copied folder, is two runs). A run W&B already keeps in the folder under the folder's
    hash (made before the trial knew its place in storage) keeps that id."""
    def run_id(place: str) -> str:
        return f"{status.trial_id}-{hashlib.sha256(place.encode()).hexdigest()[:8]}"

    here = run_id(str(folder.resolve()))
    storage = (status.study or {}).get("storage")
    if storage is None:
        return here
    kept = {p.name.removeprefix("offline-").split("-", 2)[-1]
            for p in (folder / "wandb").glob("*run-*-*")}
    return here if here in kept else run_id(storage)


def stateful_values(recipe: Any) -> dict[str, Any]:
    """The trial's stateful attributes by dotted key, as a tracker's params or config; a
    value read from the environment is shown as its `${oc.env:...}` text, never itself."""
    return {key: value for key, kind, value, _ in shown_attributes(recipe)
            if kind is Kind.STATEFUL}


def make_trackers(names: list[str], folder: Path, recipe: Any,
                  status: TrialStatus) -> list[Tracker]:
    trackers: list[Tracker] = []
    for name in names:
        try:
            trackers.append(TensorBoardTracker(folder) if name == "tensorboard"
                            else WandbTracker(folder, recipe, status) if name == "wandb"
                            else MLflowTracker(folder, recipe, status))
        except Exception as exc:  # noqa: BLE001 (a tracker never stops a training)
            log.warning("train.loggers: %s is switched off for this run: %s: %s", name,
                        type(exc).__name__, exc)
    return trackers


class Trackers:
    """The trial's trackers; one that fails is switched off with a warning."""

    def __init__(self, trackers: list[Tracker]):
        self.active = list(trackers)

    def log(self, split: str, metrics: dict[str, float], step: int) -> None:
        self._each(lambda tracker: tracker.log(split, metrics, step))

    def close(self, state: TrialState | None) -> None:
        self._each(lambda tracker: tracker.close(state))
        self.active = []

    def _each(self, call: Any) -> None:
        for tracker in list(self.active):
            try:
                with _quiet():
                    call(tracker)
            except Exception as exc:  # noqa: BLE001
                self.active.remove(tracker)
                log.warning("train.loggers: %s is switched off for the rest of this run: "
                            "%s: %s", tracker.name, type(exc).__name__, exc)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:MAX_PARAM_CHARS]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's and its database layer's info lines and deprecation warnings stay out of
    the user's terminal (MTRAIN_DEBUG=1 shows them). After MLflow is imported: its import
    sets its logger's level."""
    if os.environ.get("MTRAIN_DEBUG") == "1":
        yield
        return
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _store_lock(folder: Path, uri: str) -> Iterator[None]:
    """Trials of a study start together: the first creates the SQLite store's tables and
    the experiment while the others wait (a server needs no lock)."""
    if not uri.startswith("sqlite:"):
        yield
        return
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{MLFLOW_STORE}.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
