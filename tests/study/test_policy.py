"""Failure policy and rerun bookkeeping of the study runner, without training."""

from __future__ import annotations

import pytest

from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.study.policy import apply_outcome, fail_fast, requeue
from model_trainer.study.trial_task import TrialOutcome
from model_trainer.vocabulary import RecordState, StopReason

FAILED = RecordState.FAILED


def record(state="running", attempts=1, **kw):
    return StudyTrial(0, "t", {}, 0, state=RecordState(state), attempts=attempts, **kw)


def test_failure_is_retried_until_retries_are_spent():
    r = record(attempts=1)
    apply_outcome(r, TrialOutcome(FAILED, error="boom"), retries=1)
    assert r.state == "pending"
    r.attempts = 2
    apply_outcome(r, TrialOutcome(FAILED, error="boom"), retries=1)
    assert r.state == "failed" and r.error == "boom"


def test_divergence_and_user_mistakes_are_never_retried_whatever_the_retries_left():
    r = record()
    apply_outcome(r, TrialOutcome(FAILED, stop_reason=StopReason.DIVERGED, error="nan"), retries=5)
    assert r.state == "failed" and r.stop_reason == "diverged"
    r = record()
    apply_outcome(r, TrialOutcome(FAILED, error="BatchError: ...", user_error=True), retries=5)
    assert r.state == "failed"


def test_an_interrupted_trial_goes_back_to_pending():
    r = record()
    apply_outcome(r, TrialOutcome(RecordState.INTERRUPTED), retries=0)
    assert r.state == "pending"


def test_rerun_requeues_in_flight_and_failed_but_not_diverged_or_done():
    trials = [record("running"), record("interrupted"), record("completed"),
              record("failed"), record("failed", stop_reason="diverged"), record("pruned"),
              record("failed", invalid=True)]
    index = StudyIndex("s", {"metric": "val_loss", "mode": "min"}, {}, "grid", trials)
    requeue(index)
    assert [t.state for t in trials] == ["pending", "pending", "completed", "pending",
                                         "failed", "pruned", "failed"]


def test_fail_fast_needs_the_same_error_on_the_first_k():
    same = [record("failed", error="E") for _ in range(3)]
    assert fail_fast(same, 3) and not fail_fast(same[:2], 3) and not fail_fast(same, None)
    mixed = [record("failed", error="E"), record("failed", error="F"), record("failed", error="E")]
    assert fail_fast(mixed, 3) is None


def test_index_round_trips_atomically(tmp_path):
    path = tmp_path / "study_index.json"
    index = StudyIndex("study-x", {"metric": "val_loss", "mode": "min"}, {"a": {"choice": [1]}},
                       "grid", [record("completed", value=0.5)], path)
    index.save()
    loaded = StudyIndex.load(path)
    assert loaded is not None and loaded.trials[0].value == 0.5 and loaded.study_id == "study-x"
    assert not list(tmp_path.glob(".*tmp"))
    path.write_text("{garbage")
    assert StudyIndex.load(path) is None


@pytest.mark.slow
def test_a_long_run_of_configurations_that_break_a_rule_does_not_exhaust_the_stack(tmp_path):
    """700 grid points whose values break a cross-field rule (fp16 on CPU) in a row."""
    from model_trainer.recipe import load_recipe_text
    from model_trainer.recipe.space import parse_dimension
    from model_trainer.study.code_versions import CodeVersions
    from model_trainer.study.planner import Planner
    from model_trainer.study.sampling import ConfigSource
    from tests.recipe.samples import BASE

    text = BASE.replace("device: auto", "device: cpu") + (
        "study:\n  space:\n    train.precision: {choice: [fp16, fp32]}\n"
        "    model.args.hidden: {int: [1, 700]}\n")
    loaded = load_recipe_text(text, [f"output_dir={tmp_path}"])
    study = loaded.recipe.study
    dims = [parse_dimension(k, v)[0] for k, v in study.space.items()]
    index = StudyIndex(loaded.study_id, {"metric": "val_loss", "mode": "min"}, study.space,
                       "grid", [], tmp_path / "study_index.json")
    source = ConfigSource("grid", dims, 0, "min", {}, {})
    planner = Planner(loaded, index, source, [0], source.total(None), tmp_path,
                      CodeVersions(loaded))
    first = planner.next_trial()
    assert first is not None and first.params["train.precision"] == "fp32"
    assert sum(t.invalid for t in index.trials) == 700
