"""study.storage's logic in process, on fsspec's in-memory file system (the real S3 server
runs in tests/cluster): what a mirror pass uploads and in which order, when a folder is
restored, what a download skips."""

from __future__ import annotations

import json
import uuid

import fsspec
import pytest

from model_trainer.storage import Storage, StorageError
from model_trainer.trial.mirror import TrialMirror, further_along


@pytest.fixture
def storage():
    root = f"memory://bucket-{uuid.uuid4().hex[:8]}/runs"
    fsspec.filesystem("memory").pipe(root.removeprefix("memory://") + "/.keep", b"")
    return Storage(root)


class Recording(Storage):
    """Storage that records the order of uploads."""

    def __init__(self, uri):
        super().__init__(uri)
        self.order = []

    def put(self, local, rel):
        self.order.append(rel)
        super().put(local, rel)

    def write(self, rel, data):
        self.order.append(rel)
        super().write(rel, data)


def status(step: int) -> str:
    return json.dumps({"global_step": step, "epochs_done": step // 6})


def test_a_pass_sends_what_changed_checkpoints_first_status_last(storage, tmp_path):
    folder = tmp_path / "study" / "t1"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("{}\n")
    (folder / "checkpoints" / "last.pt").write_bytes(b"weights")
    (folder / "status.json").write_text(status(6))
    (folder / "checkpoints" / ".last.pt.tmp").write_bytes(b"half")  # never sent
    recording = Recording(storage.uri)
    mirror = TrialMirror(recording, folder, "study/t1")
    mirror.sync()
    assert recording.order == ["study/t1/checkpoints/last.pt", "study/t1/metrics.jsonl",
                               "study/t1/status.json"]
    recording.order = []
    mirror.sync()
    assert recording.order == []  # nothing changed, nothing sent
    (folder / "metrics.jsonl").write_text("{}\n{}\n")
    mirror.sync()
    assert recording.order == ["study/t1/metrics.jsonl"]
    assert storage.read("study/t1/checkpoints/last.pt") == b"weights"


def test_a_folder_behind_storage_is_restored_one_ahead_is_not(storage, tmp_path):
    source = tmp_path / "node-a" / "t1"
    (source / "checkpoints").mkdir(parents=True)
    (source / "checkpoints" / "last.pt").write_bytes(b"step 12")
    (source / "status.json").write_text(status(12))
    TrialMirror(storage, source, "study/t1").sync()
    elsewhere = tmp_path / "node-b" / "t1"
    mirror = TrialMirror(storage, elsewhere, "study/t1")
    assert further_along(storage, "study/t1", elsewhere)
    assert mirror.restore() == 2
    assert (elsewhere / "checkpoints" / "last.pt").read_bytes() == b"step 12"
    recording = Recording(storage.uri)
    mirror.storage = recording
    mirror.sync()
    assert recording.order == []  # what came from storage is not sent back
    (elsewhere / "status.json").write_text(status(18))  # further along here
    assert not further_along(storage, "study/t1", elsewhere)
    assert TrialMirror(storage, elsewhere, "study/t1").restore() == 0


def test_a_folder_the_driver_brought_back_without_checkpoints_gets_them(storage, tmp_path):
    """The driver copies a finished trial's files but its checkpoints; a worker that later
    runs the trial in that folder (a rerun with more epochs) must resume from storage's
    checkpoint, not train again from the start."""
    source = tmp_path / "node-a" / "t1"
    (source / "checkpoints").mkdir(parents=True)
    (source / "checkpoints" / "last.pt").write_bytes(b"step 12")
    (source / "metrics.jsonl").write_text("row\n")
    (source / "status.json").write_text(status(12))
    TrialMirror(storage, source, "study/t1").sync()
    driver = tmp_path / "driver" / "t1"
    storage.download("study/t1", driver, skip_folders=("checkpoints",))
    assert not further_along(storage, "study/t1", driver)  # the same progress
    mirror = TrialMirror(storage, driver, "study/t1")
    assert mirror.restore() == 1
    assert (driver / "checkpoints" / "last.pt").read_bytes() == b"step 12"
    assert mirror.restore() == 0  # now it has them


def test_a_download_skips_checkpoints_and_what_is_there_when_asked(storage, tmp_path):
    folder = tmp_path / "src"
    (folder / "t1" / "checkpoints").mkdir(parents=True)
    (folder / "t1" / "checkpoints" / "best.pt").write_bytes(b"w")
    (folder / "t1" / "metrics.jsonl").write_text("new\n")
    (folder / "study_index.json").write_text("{}")
    for path in folder.rglob("*"):
        if path.is_file():
            storage.put(path, f"study/{path.relative_to(folder).as_posix()}")
    local = tmp_path / "local"
    (local / "t1").mkdir(parents=True)
    (local / "t1" / "metrics.jsonl").write_text("old\n")
    copied = storage.download("study", local, skip_folders=("checkpoints",), only_missing=True)
    assert copied == 1 and (local / "study_index.json").exists()
    assert (local / "t1" / "metrics.jsonl").read_text() == "old\n"
    assert not (local / "t1" / "checkpoints").exists()


def test_a_missing_bucket_is_said_so():
    with pytest.raises(StorageError, match="there is no bucket 'no-such-bucket-x'"):
        Storage("memory://no-such-bucket-x/runs").check()


def test_a_study_whose_name_storage_holds_for_another_study_runs_beside_it(storage, tmp_path):
    """Storage's `<name>/` belongs to another study (another machine's output folder, the
    same name): this study keeps to `<name>-<its id>`, locally and in storage, and trains
    its own trial instead of taking the other one's results."""
    import model_trainer
    from tests.study.tinytask import RECIPE

    storage.write("tiny-study/study_index.json", json.dumps({"study_id": "someone-else"}).encode())
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs") + f"  storage: {storage.uri}\n")
    result = model_trainer.run(path, ["study.seeds=[0]", "study.space={model.args.hidden: "
                                      "{choice: [2]}}", "train.epochs=1"])
    mine = f"tiny-study-{result.study_id}"
    assert result.study_dir == tmp_path / "runs" / mine and len(result.trials) == 1
    assert json.loads(storage.read(f"{mine}/study_index.json"))["study_id"] == result.study_id
    assert json.loads(storage.read("tiny-study/study_index.json"))["study_id"] == "someone-else"
    # every reader of the study's folder finds it there: a rerun answers from its files
    # (it looked under <name>, found nothing finished, and took the full path)
    from model_trainer.study import early
    from model_trainer.study.runner import study_folder

    overrides = ["study.seeds=[0]", "study.space={model.args.hidden: {choice: [2]}}",
                 "train.epochs=1"]
    assert study_folder(model_trainer.load_recipe(path, overrides)) == result.study_dir
    answered = early.before_loading(path, overrides, False)
    assert answered is not None and answered.study_dir == result.study_dir
    # each trial knows its place in storage, the same on every node (its W&B run id's)
    trial = result.trials[0].trial_id
    status = json.loads(storage.read(f"{mine}/{trial}/status.json"))
    assert status["study"]["storage"] == f"{storage.uri}/{mine}/{trial}"


def test_a_status_with_steps_that_are_not_numbers_is_read_as_unreadable(storage, tmp_path):
    storage.write("study/t1/status.json", b'{"global_step": "twelve", "epochs_done": 2}')
    assert not further_along(storage, "study/t1", tmp_path / "t1")  # no error escapes


def test_a_running_study_sends_its_index_to_storage_as_it_goes(storage, tmp_path,
                                                                monkeypatch):
    """Readers of storage (`mtrain status s3://...` on another machine) see a running
    study's index: the trial that runs and those that finished (it was sent only when the
    driver stopped)."""
    import model_trainer
    from model_trainer.journal import read_index
    from model_trainer.study import storage_sync
    from tests.study import tinytask
    from tests.study.tinytask import RECIPE

    monkeypatch.setattr(storage_sync, "SEND_EVERY_S", 0.0)
    seen = []

    class Look(model_trainer.Callback):  # in the driver: a concurrency-1 study runs there
        def on_train_start(self, wrapper):
            local = tmp_path / "seen"
            storage.download("tiny-study", local, skip_folders=("checkpoints",))
            index = read_index(local / "study_index.json")
            seen.append(sorted(t["state"] for t in index["trials"]))

    tinytask.Look = Look
    try:
        path = tmp_path / "study.yaml"
        path.write_text(RECIPE.format(out=tmp_path / "runs") + f"  storage: {storage.uri}\n")
        model_trainer.run(path, ["study.seeds=[0]", "study.concurrency=1", "train.epochs=1",
                                 "study.space={model.args.hidden: {choice: [2, 3]}}",
                                 "train.callbacks=[tests.study.tinytask.Look]"])
    finally:
        del tinytask.Look
    assert seen == [["running"], ["completed", "running"]]


def test_a_send_put_off_goes_once_its_time_has_passed(storage, tmp_path, monkeypatch):
    """Sends of the study's files are at most every SEND_EVERY_S; a change within that
    time reaches storage once it has passed, without another call (the next trial may run
    for hours)."""
    import time

    from model_trainer.study import storage_sync
    from model_trainer.study.storage_sync import StudyStorage

    monkeypatch.setattr(storage_sync, "SEND_EVERY_S", 0.3)
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study_index.json").write_text("1")
    store = StudyStorage(storage.uri, folder, console=None)
    store.save_study_now_and_then()
    assert storage.read("study/study_index.json") == b"1"  # the first goes at once
    (folder / "study_index.json").write_text("2")
    store.save_study_now_and_then()
    assert storage.read("study/study_index.json") == b"1"  # put off
    deadline = time.monotonic() + 10
    while storage.read("study/study_index.json") != b"2" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert storage.read("study/study_index.json") == b"2"  # gone since, on its own
    # a timer that fired while another send held the lock (the final one, which took its
    # place: no timer is current any more) sends nothing once it gets the lock
    (folder / "study_index.json").write_text("3")
    assert store._timer is None
    store._timed_send()
    assert storage.read("study/study_index.json") == b"2"


def test_a_copy_that_failed_is_fetched_again(storage, tmp_path, monkeypatch):
    """local_copy(seen=...) fetches only what changed since; an object whose copy failed
    is fetched at the next call, though it did not change (it was taken as fetched)."""
    from model_trainer.storage import local_copy

    monkeypatch.setenv("MTRAIN_CACHE", str(tmp_path / "cache"))
    storage.write("study/t1/status.json", b"old")
    seen: dict = {}
    folder = local_copy(f"{storage.uri}/study", seen=seen)
    storage.write("study/t1/status.json", b"new")
    copy = Storage._copy

    def failing(self, source, out):
        raise OSError("connection reset")

    monkeypatch.setattr(Storage, "_copy", failing)
    with pytest.raises(StorageError):
        local_copy(f"{storage.uri}/study", seen=seen)
    monkeypatch.setattr(Storage, "_copy", copy)
    local_copy(f"{storage.uri}/study", seen=seen)
    assert (folder / "t1" / "status.json").read_bytes() == b"new"
