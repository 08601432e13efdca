"""The study's live view: running trials with their progress, the last finished ones,
counts, the best and an ETA, drawn from the trials' own files at a bounded rate."""

from __future__ import annotations

from rich.console import Console

from model_trainer.study.display import StudyDisplay
from model_trainer.study.index import StudyIndex, StudyTrial
from model_trainer.vocabulary import RecordState
from tests.watch.fake_trials import append_rows, row, trial_folder


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_study(tmp_path):
    """Four trials: one running (2 of 5 epochs, on disk), one completed, one failed, one
    pending."""
    study_dir = tmp_path / "study"
    trial_folder(study_dir, "t-run", state="running", epochs_done=2, epochs=5,
                 params={"model.args.hidden": 32, "train.optimizer.lr": 0.001}, seed=1,
                 rows=[row("train", 10, 1, loss=0.9), row("val", 10, 1, loss=0.8, accuracy=0.61),
                       row("train", 20, 2, loss=0.7), row("val", 20, 2, loss=0.6, accuracy=0.74)])
    index = StudyIndex("s1", {"metric": "val_accuracy", "mode": "max"}, {}, "grid",
                       path=study_dir / "study_index.json")
    lr = "train.optimizer.lr"
    index.trials = [
        StudyTrial(0, "t-done", {"model.args.hidden": 64, lr: 0.01}, 0),
        StudyTrial(1, "t-fail", {"model.args.hidden": 16, lr: 0.1}, 0),
        StudyTrial(2, "t-run", {"model.args.hidden": 32, lr: 0.001}, 1),
        StudyTrial(3, "t-wait", {"model.args.hidden": 32, lr: 0.001}, 2),
    ]
    return index


def finish(display, record, state, value=None, error=None):
    record.state, record.value, record.error = state, value, error
    display.finished(record)


def text_of(display, width=160) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(display.renderable())
    return "\n".join(line.strip() for line in console.export_text().splitlines())


def test_the_live_table_shows_running_finished_failed_counts_best_and_eta(tmp_path):
    index = make_study(tmp_path)
    clock = FakeClock()
    display = StudyDisplay(index, total=4, concurrency=2, live=False, clock=clock,
                           console=Console(file=open(tmp_path / "log", "w")))
    done, failed, running, _ = index.trials
    for record in (done, failed):
        record.state = RecordState.RUNNING
        display.started(record)
    clock.now += 100  # the completed trial took 100 s
    finish(display, done, RecordState.COMPLETED, value=0.93)
    finish(display, failed, RecordState.FAILED, error="RuntimeError: boom in forward")
    running.state = RecordState.RUNNING
    display.started(running)
    clock.now += 30
    text = text_of(display)
    lines = text.splitlines()
    run_line = next(line for line in lines if line.startswith("t-run"))
    # id, sampled values (short labels), seed, epochs done/total, latest monitored metric,
    # elapsed by the driver's clock
    assert run_line.split() == ["t-run", "32", "0.001", "1", "2/5", "0.74", "30.0s"]
    header = next(line for line in lines if line.startswith("trial "))
    assert header.split()[:3] == ["trial", "hidden", "lr"]
    done_line = next(line for line in lines if line.startswith("t-done"))
    assert done_line.split() == ["t-done", "64", "0.01", "0", "completed", "1:40", "0.93"]
    fail_line = next(line for line in lines if line.startswith("t-fail"))
    assert "failed" in fail_line and "RuntimeError: boom in forward" in fail_line
    # left: one pending trial and 3/5 of the running one, at 100 s each, 2 at a time
    eta = (1 + (1 - 2 / 5)) * 100 / 2
    assert f"2/4 done: 1 completed, 1 failed; 1 running, 1 pending; ETA 1:{eta - 60:02.0f}" in text
    assert "best val_accuracy=0.93: t-done (model.args.hidden=64 train.optimizer.lr=0.01 " \
           "seed=0)" in text
    assert "t-wait" not in text  # pending trials are counted, not listed


def test_trial_files_are_read_at_most_every_poll_interval(tmp_path):
    index = make_study(tmp_path)
    clock = FakeClock()
    display = StudyDisplay(index, total=4, concurrency=2, live=False, clock=clock, poll_s=2.0,
                           console=Console(file=open(tmp_path / "log", "w")))
    running = index.trials[2]
    running.state = RecordState.RUNNING
    display.started(running)
    assert "0.74" in text_of(display)
    append_rows(tmp_path / "study" / "t-run", [row("val", 30, 3, loss=0.5, accuracy=0.88)])
    clock.now += 1.0  # redraws within the interval use what was read
    assert "0.88" not in text_of(display) and "2/5" in text_of(display)
    clock.now += 1.0
    text = text_of(display)
    assert "0.88" in text and "3/5" in text


def test_off_a_terminal_each_trial_writes_a_start_and_an_end_line(tmp_path):
    index = make_study(tmp_path)
    log = tmp_path / "log"
    with open(log, "w") as handle:
        clock = FakeClock()
        display = StudyDisplay(index, total=4, concurrency=2, live=False, clock=clock,
                               console=Console(file=handle, width=200))
        with display:
            done, failed = index.trials[:2]
            done.state = RecordState.RUNNING  # as the runner does before it says `started`
            display.started(done)
            clock.now += 90
            finish(display, done, RecordState.COMPLETED, value=0.93)
            failed.state = RecordState.RUNNING
            display.started(failed)
            finish(display, failed, RecordState.FAILED, error="RuntimeError: boom")
    assert log.read_text().splitlines() == [
        "trial t-done started (model.args.hidden=64 train.optimizer.lr=0.01 seed=0) "
        "[0/4 done; 1 running, 3 pending]",
        "trial t-done completed val_accuracy=0.93 [1/4 done: 1 completed; 3 pending; ETA 2:15]",
        "trial t-fail started (model.args.hidden=16 train.optimizer.lr=0.1 seed=0) "
        "[1/4 done: 1 completed; 1 running, 2 pending; ETA 2:15]",
        "trial t-fail failed (RuntimeError: boom) [2/4 done: 1 completed, 1 failed; 2 pending; "
        "ETA 1:30]",  # 2 trials left at 90 s each, 2 at a time
    ]


def test_a_study_on_a_terminal_draws_the_live_panel(tmp_path):
    """The real thing: a study run with the live panel on a (recorded) terminal."""
    import io

    from model_trainer.api import run
    from tests.study.tinytask import RECIPE

    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs"))
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    result = run(path, console=console, live=True)
    text = console.export_text()
    assert "4/4 done: 4 completed" in text
    assert f"best val_accuracy={result.best_trial.value:.4g}: {result.best_trial.trial_id}" in text
    assert "recently finished" in text and " started (" not in text  # a panel, not log lines


def test_off_a_terminal_the_counts_follow_the_index_without_reading_all_of_it(tmp_path,
                                                                              monkeypatch):
    """Each line's counts are the index's own, through retries, trials left interrupted by
    an earlier run and invalid configurations the planner records as failed without
    running them, and a line does not walk the whole index (a 10,000-trial study would pay
    for it at every trial)."""
    from model_trainer.watch import study_files
    from model_trainer.watch.render import counts_line

    index = StudyIndex("s1", {"metric": "val_accuracy", "mode": "max"}, {}, "grid",
                       path=tmp_path / "study" / "study_index.json")
    states = [RecordState.COMPLETED, RecordState.INTERRUPTED, RecordState.PENDING]
    index.trials = [StudyTrial(i, f"t{i}", {}, 0, state=states[i % 3]) for i in range(30)]
    log = tmp_path / "log"
    with open(log, "w") as handle:
        display = StudyDisplay(index, total=40, concurrency=2, live=False, clock=FakeClock(),
                               console=Console(file=handle, width=300))
        monkeypatch.setattr(study_files.Record, "of", None)  # any whole-index walk fails
        events = []
        for record, end in [(index.trials[1], RecordState.COMPLETED),  # was interrupted
                            (index.trials[2], RecordState.PENDING),  # a retry
                            (index.trials[2], RecordState.FAILED),
                            (StudyTrial(30, "t30", {}, 0), RecordState.PRUNED)]:  # new
            if record.number == 30:  # an invalid configuration: failed, never started
                index.trials.append(StudyTrial(31, "t31", {}, 0, state=RecordState.FAILED))
            if record not in index.trials:
                index.trials.append(record)
            record.state = RecordState.RUNNING
            display.started(record)
            events.append(counts_line(index.counts(), 40, None))
            record.state = end
            display.finished(record)
            events.append(counts_line(index.counts(), 40, None))
    lines = log.read_text().splitlines()
    assert len(lines) == len(events)
    for line, expected in zip(lines, events, strict=True):
        assert line.split(" [")[1].split("; ETA")[0].rstrip("]") == expected


def test_the_eta_is_the_mean_of_the_completed_trials_durations_by_hand(tmp_path):
    """Completed in 10 s and 30 s, failed after 50 s (not a completed trial's duration):
    4 of 7 trials left at (10 + 30) / 2 = 20 s each, 2 at a time: 40 s."""
    index = StudyIndex("s1", {"metric": "val_accuracy", "mode": "max"}, {}, "grid",
                       path=tmp_path / "study" / "study_index.json")
    log, clock = tmp_path / "log", FakeClock()
    with open(log, "w") as handle:
        display = StudyDisplay(index, total=7, concurrency=2, live=False, clock=clock,
                               console=Console(file=handle, width=300))
        for number, (took, end) in enumerate([(10, RecordState.COMPLETED),
                                              (30, RecordState.COMPLETED),
                                              (50, RecordState.FAILED)]):
            record = StudyTrial(number, f"t{number}", {}, 0, state=RecordState.RUNNING)
            index.trials.append(record)
            display.started(record)
            clock.now += took
            record.state = end
            display.finished(record)
    assert log.read_text().splitlines()[-1].endswith(
        f"[3/7 done: 2 completed, 1 failed; 4 pending; ETA {(7 - 3) * (10 + 30) / 2 / 2:.1f}s]")
