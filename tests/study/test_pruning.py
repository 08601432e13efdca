"""The pruners, fed from trial files, decide as Optuna's own pruners decide in a live study."""

from __future__ import annotations

import math
import random
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from model_trainer.metrics_file import MetricsWriter
from model_trainer.study.pruning import make_pruner, make_pruning_callback
from model_trainer.trial.status_record import TrialStatus
from model_trainer.vocabulary import TrialState

STUDY = "study-0123456789ab"
EPOCHS = 9


def curves(n: int, seed: int, mode: str) -> list[dict[int, float]]:
    """Learning curves that rise towards trial-specific plateaus, with noise."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        plateau, speed = rng.uniform(0.3, 0.95), rng.uniform(1.0, 4.0)
        curve = {e: plateau * (1 - math.exp(-e / speed)) + rng.gauss(0, 0.02)
                 for e in range(1, EPOCHS + 1)}
        out.append(curve if mode == "max" else {e: 1 - v for e, v in curve.items()})
    return out


def native(spec: dict, trials: list[dict[int, float]], mode: str) -> list[int | None]:
    """Optuna's own pruner in a live study, trials run one after the other: the epoch at
    which each trial was pruned (None: it completed)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, pruner=make_pruner(spec, EPOCHS),
                                direction="maximize" if mode == "max" else "minimize")
    pruned_at = []
    for curve in trials:
        trial = study.ask()
        stop = None
        for epoch in sorted(curve):
            trial.report(curve[epoch], epoch)
            if epoch < EPOCHS and trial.should_prune():  # never at the last epoch (done)
                stop = epoch
                break
        study.tell(trial, state=optuna.trial.TrialState.PRUNED) if stop else \
            study.tell(trial, curve[EPOCHS])
        pruned_at.append(stop)
    return pruned_at


def from_files(spec: dict, trials: list[dict[int, float]], mode: str,
               study_dir: Path, driver_dir: Path | None = None) -> list[int | None]:
    """The same trials as trial folders, each asking the callback after each evaluation.
    Folder names sort in another order than the trials ran, as trial ids do, and each
    trial is resumed once (a new callback, as a new attempt builds) at epoch 4. With
    `driver_dir`, the payload names the trial's folder there (the driver's path), while
    the trials write `study_dir` (a node's scratch, MTRAIN_LOCAL_DIR)."""
    pruned_at = []
    for position, curve in enumerate(trials):
        name = f"trial-{position * 7919 % 101:03d}"
        folder = study_dir / name
        folder.mkdir(parents=True)
        status = TrialStatus(name, "t",
                             study={"study_id": STUDY, "number": position, "seed": 0,
                                    "position": position})
        status.save(folder)
        payload = SimpleNamespace(objective={"metric": "val_score", "mode": mode},
                                  trial_dir=str((driver_dir or study_dir) / name), pruner=spec,
                                  study_info={"study_id": STUDY, "position": position})
        on_eval = make_pruning_callback(payload, EPOCHS, folder)
        writer = MetricsWriter(folder / "metrics.jsonl")
        stop = None
        for epoch in sorted(curve):
            if epoch == 4:
                on_eval = make_pruning_callback(payload, EPOCHS, folder)
            writer.append("val", {"score": curve[epoch]}, step=epoch * 10, epoch=epoch)
            if on_eval(epoch, {"val_score": curve[epoch]}):
                stop = epoch
                break
        writer.close()
        status.state = TrialState.PRUNED if stop else TrialState.COMPLETED
        status.save(folder)
        pruned_at.append(stop)
    return pruned_at


@pytest.mark.parametrize("spec", [
    {"kind": "median"},
    {"kind": "median", "startup_trials": 2, "warmup_epochs": 3},
    {"kind": "successive_halving"},
    {"kind": "successive_halving", "reduction_factor": 2, "min_early_stopping_rate": 1},
    {"kind": "hyperband"},
    {"kind": "hyperband", "min_epochs": 2, "reduction_factor": 2},
])
@pytest.mark.parametrize("mode", ["max", "min"])
def test_file_fed_pruner_decides_as_optuna_does_in_a_live_study(tmp_path, spec, mode):
    trials = curves(16, seed=len(str(spec)), mode=mode)
    expected = native(spec, trials, mode)
    assert any(expected) and not all(expected), "the curves should make some prunes"
    assert from_files(spec, trials, mode, tmp_path) == expected


@pytest.mark.parametrize("spec", [{"kind": "median"}, {"kind": "hyperband"}])
def test_a_trial_on_a_nodes_scratch_folder_prunes_from_the_files_it_writes(tmp_path, spec):
    """With MTRAIN_LOCAL_DIR a trial writes a folder other than the driver's path that its
    payload names: the pruner reads that folder and its siblings there (it read the
    driver's path, absent on the node, and never pruned)."""
    trials = curves(16, seed=len(str(spec)), mode="max")
    expected = native(spec, trials, "max")
    assert any(expected)
    assert from_files(spec, trials, "max", tmp_path / "scratch" / "study",
                      driver_dir=tmp_path / "driver" / "study") == expected


def test_a_sibling_in_both_the_scratch_and_the_driver_folder_counts_once_as_the_furthest(
        tmp_path):
    """A trial the driver brought back and a node's scratch copy of it: the pruner sees it
    once, with the longer curve; the trial asking is not its own sibling in either."""
    from model_trainer.study.pruning import _sibling_curves

    def trial(study_dir, name, epochs, state=TrialState.COMPLETED):
        folder = study_dir / name
        folder.mkdir(parents=True)
        TrialStatus(name, "t", state=state, study={"position": 0}).save(folder)
        writer = MetricsWriter(folder / "metrics.jsonl")
        for epoch in range(1, epochs + 1):
            writer.append("val", {"score": epoch / 10}, step=epoch, epoch=epoch)
        writer.close()

    scratch, driver = tmp_path / "scratch" / "study", tmp_path / "driver" / "study"
    trial(driver, "other", 2)
    trial(scratch, "other", 5, TrialState.RUNNING)
    trial(driver, "me", 3)
    trial(scratch, "me", 1, TrialState.RUNNING)
    curves = _sibling_curves([scratch, driver], "val_score", exclude="me")
    assert [(c.state, sorted(c.values)) for c in curves] == [
        (TrialState.RUNNING, [1, 2, 3, 4, 5])]
