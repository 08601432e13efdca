"""The study index on disk: a snapshot plus an append-only journal, O(1) per change."""

from __future__ import annotations

import json

from model_trainer.journal import journal_path, read_index
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.vocabulary import RecordState


def make_index(tmp_path, n: int) -> StudyIndex:
    trials = [StudyTrial(i, f"t{i}", {"a": i}, 0) for i in range(n)]
    index = StudyIndex("s", {"metric": "val_loss", "mode": "min"}, {}, "grid", trials,
                       tmp_path / "study_index.json")
    index.save()
    return index


def test_a_change_is_one_appended_line_and_readers_see_it_at_once(tmp_path):
    index = make_index(tmp_path, 100)
    snapshot = (tmp_path / "study_index.json").read_bytes()
    index.trials[7].state, index.trials[7].value = RecordState.COMPLETED, 0.25
    index.changed(index.trials[7])
    assert (tmp_path / "study_index.json").read_bytes() == snapshot  # not rewritten
    header, *lines = journal_path(tmp_path / "study_index.json").read_text().splitlines()
    snapshot_id = json.loads(snapshot)["journal_id"]
    assert json.loads(header) == {"journal_id": snapshot_id}  # it continues this snapshot
    assert len(lines) == 1 and json.loads(lines[0])["trial_id"] == "t7"
    again = StudyIndex.load(tmp_path / "study_index.json")
    assert again.trials[7].state == "completed" and again.trials[7].value == 0.25
    assert len(again.trials) == 100


def test_a_torn_last_line_from_a_kill_is_ignored(tmp_path):
    index = make_index(tmp_path, 3)
    index.trials[0].state = RecordState.RUNNING
    index.changed(index.trials[0])
    with open(journal_path(tmp_path / "study_index.json"), "a") as handle:
        handle.write('{"number": 1, "seed": 0, "trial_id": "t1", "sta')  # killed mid-write
    data = read_index(tmp_path / "study_index.json")
    assert [t["state"] for t in data["trials"]] == ["running", "pending", "pending"]


def test_the_journal_is_folded_into_the_snapshot_once_it_is_as_long_as_the_study(tmp_path):
    index = make_index(tmp_path, 64)
    for step in range(64):
        trial = index.trials[step]
        trial.state = RecordState.COMPLETED
        index.changed(trial)
    snapshot = json.loads((tmp_path / "study_index.json").read_text())
    journal = journal_path(tmp_path / "study_index.json").read_text()
    assert journal == json.dumps({"journal_id": snapshot["journal_id"]}) + "\n"  # compacted
    assert {t["state"] for t in snapshot["trials"]} == {"completed"}


def test_new_trials_in_the_journal_are_appended_in_order(tmp_path):
    index = make_index(tmp_path, 2)
    new = StudyTrial(2, "t2", {"a": 2}, 0)
    index.trials.append(new)
    index.changed(new)
    assert [t.trial_id for t in StudyIndex.load(tmp_path / "study_index.json").trials] == \
        ["t0", "t1", "t2"]


def test_a_kill_between_the_new_snapshot_and_the_emptied_journal_replays_to_the_same(tmp_path):
    """Compaction writes the snapshot, then empties the journal: killed in between, the
    old journal is replayed over a snapshot that already holds it, which must change
    nothing (a new trial is not added twice, a twice-changed trial ends in its last state)."""
    index = make_index(tmp_path, 2)
    new = StudyTrial(2, "t2", {"a": 2}, 0)
    index.trials.append(new)
    index.changed(new)
    for state in (RecordState.RUNNING, RecordState.COMPLETED):
        index.trials[0].state = state
        index.changed(index.trials[0])
    journal = journal_path(tmp_path / "study_index.json")
    before = journal.read_text()
    index.save()  # the compaction
    journal.write_text(before)  # as a kill before the truncation leaves it
    trials = read_index(tmp_path / "study_index.json")["trials"]
    assert [t["trial_id"] for t in trials] == ["t0", "t1", "t2"]
    assert [t["state"] for t in trials] == ["completed", "pending", "pending"]
    # and a writer reopening it folds that journal in at its next compaction
    assert StudyIndex.load(tmp_path / "study_index.json").trials[0].state is \
        RecordState.COMPLETED


def test_a_kill_after_a_compaction_of_changes_never_journaled_keeps_them(tmp_path):
    """A new objective re-reads every value in memory, then compacts: killed before the
    journal is emptied, the old journal (values of the old metric) must not replay over
    the new snapshot."""
    index = make_index(tmp_path, 2)
    index.trials[0].state, index.trials[0].value = RecordState.COMPLETED, 0.9  # accuracy
    index.changed(index.trials[0])
    journal = journal_path(tmp_path / "study_index.json")
    before = journal.read_text()
    index.objective = {"metric": "val_loss", "mode": "min"}
    index.trials[0].value = 0.1  # re-read for the new objective, not journaled
    index.save()
    journal.write_text(before)  # killed before the truncation
    again = StudyIndex.load(tmp_path / "study_index.json")
    assert again.objective["metric"] == "val_loss" and again.trials[0].value == 0.1
