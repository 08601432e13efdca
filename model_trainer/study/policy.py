"""The failure policy of a study: what an outcome does to a trial, what a rerun retries,
and when to stop launching trials that all fail the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_trainer.files import read_json
from model_trainer.layout import STATUS
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.study.trial_task import TrialOutcome, best_logged
from model_trainer.vocabulary import RecordState, StopReason


def apply_outcome(record: StudyTrial, outcome: TrialOutcome, retries: int) -> None:
    """Record a trial's outcome; an interrupted trial or a retryable failure goes back to
    pending."""
    record.state, record.value = outcome.state, outcome.value
    record.stop_reason, record.error = outcome.stop_reason, outcome.error
    record.past_horizon = outcome.past_horizon
    if outcome.state is RecordState.INTERRUPTED or (
            outcome.retryable and record.attempts <= retries):
        record.state = RecordState.PENDING


def follow_horizon(index: StudyIndex, study_dir: Path, horizon: int, console: Any) -> None:
    """The study's epochs are `horizon` now: a trial that stopped at fewer epochs runs
    again to reach them (as a single run extends), and one that trained past them is
    valued within them."""
    extended = 0
    for record in index.trials:
        if record.state is not RecordState.COMPLETED:
            continue
        status = read_json(study_dir / record.trial_id / STATUS)
        done = status.get("epochs_done") if isinstance(status, dict) else None
        if not isinstance(done, int):
            continue
        if done < horizon and record.stop_reason == StopReason.EPOCHS_REACHED:
            record.state = RecordState.PENDING
            extended += 1
        elif done > horizon and not record.past_horizon or (
                record.past_horizon and index.horizon != horizon):
            record.value = best_logged(study_dir / record.trial_id, index.objective, horizon)
            record.past_horizon = done > horizon
    if extended:
        console.print(f"train.epochs is {horizon}: {extended} finished trial(s) are extended "
                      f"to {horizon} epochs", markup=False, soft_wrap=True)
    index.horizon = horizon


def requeue(index: StudyIndex) -> None:
    """On (re)start: trials left running or interrupted continue; failed ones get a new try."""
    for record in index.trials:
        if runs_again(record):
            if record.state is RecordState.FAILED:
                record.attempts = 0
            record.state = RecordState.PENDING


def runs_again(record: StudyTrial) -> bool:
    """Whether a (re)start runs this trial: it is pending, was left running or
    interrupted, or failed in a way a new try may fix (not diverged, not invalid)."""
    if record.state is RecordState.FAILED:
        return record.stop_reason != StopReason.DIVERGED and not record.invalid
    return not record.finished


def fail_fast(finished: list[StudyTrial], limit: int | None) -> str | None:
    """Stop launching when the first `limit` finished trials all failed the same way."""
    if not limit or len(finished) < limit:
        return None
    first = finished[:limit]
    errors = {t.error for t in first}
    if all(t.state is RecordState.FAILED for t in first) and len(errors) == 1:
        return f"the first {limit} trials all failed with: {errors.pop()}"
    return None
