"""The SLURM executor's own logic, in process with SLURM's commands faked (the real SLURM
runs in tests/cluster): what squeue and scontrol say, read; the batch scripts; a rerun
that re-attaches instead of submitting again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_trainer.recipe.schema import SlurmConfig
from model_trainer.study.executors import slurm
from model_trainer.study.trial_task import TrialOutcome, TrialPayload
from model_trainer.vocabulary import RecordState


class FakeSlurm:
    """Answers sbatch, squeue and scontrol from tables; records every command."""

    def __init__(self, queue: str = "", job: str = ""):
        self.queue, self.job, self.commands, self.next_id = queue, job, [], 41

    def __call__(self, command, check=True):
        self.commands.append(command)
        if command[0] == "sbatch":
            self.next_id += 1
            return f"{self.next_id}\n"
        if command[0] == "squeue":
            return self.queue
        if command[0] == "scontrol":
            return self.job
        return ""


@pytest.fixture
def fake(monkeypatch):
    commands = FakeSlurm()
    monkeypatch.setattr(slurm, "_run", commands)
    monkeypatch.setattr(slurm, "LATE_OUTCOME_S", 0.0)
    return commands


def payload(tmp_path: Path, trial: str) -> TrialPayload:
    return TrialPayload(source=None, overrides=[], params={}, trial_dir=str(tmp_path / trial),
                        objective={}, cwd=str(tmp_path))


def executor(arrays: bool = True, **settings) -> slurm.SlurmExecutor:
    return slurm.SlurmExecutor(SlurmConfig(poll_s=0.01, **settings), 2.0, 0.0, 2, arrays)


def test_squeue_and_scontrol_are_read_as_slurm_writes_them(fake):
    fake.queue = "42_0|RUNNING|None\n42_1|PENDING|JobArrayTaskLimit\n40|OUT_OF_MEMORY|OutOfMemory\n"
    assert slurm._states() == {"42_0": ("RUNNING", "None"),
                               "42_1": ("PENDING", "JobArrayTaskLimit"),
                               "40": ("OUT_OF_MEMORY", "OutOfMemory")}
    fake.job = "JobId=40 JobName=x JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125"
    failed = slurm._failure("40", None)
    assert failed.state is RecordState.FAILED and failed.error == (
        "SLURM job 40 ended OUT_OF_MEMORY (OutOfMemory), exit code 0:125: raise "
        "study.slurm.mem")
    fake.job = ""  # purged after MinJobAge
    assert slurm._failure("39", None).error == "SLURM job 39 ended and is no longer known to SLURM"


def test_a_grid_goes_out_as_one_array_and_a_single_trial_as_one_job(fake, tmp_path):
    run = executor(time="1:00:00", mem="2G")
    for trial in ("a", "b", "c"):
        run.submit(trial, payload(tmp_path, trial))
    run._flush()
    (sbatch,) = [c for c in fake.commands if c[0] == "sbatch"]
    script = Path(sbatch[-1]).read_text()
    assert "#SBATCH --array=0-2%2" in script and "#SBATCH --requeue" in script
    assert "#SBATCH --signal=B:TERM@120" in script and "#SBATCH --mem=2G" in script
    assert script.count(") folder=") == 3 and 'exec ' in script  # python is the batch shell
    assert sorted(run.jobs) == ["42_0", "42_1", "42_2"]
    assert json.loads((tmp_path / ".slurm" / "b" / "job.json").read_text()) == {
        "job_id": "42_1"}
    alone = executor(arrays=False)
    alone.submit("d", payload(tmp_path, "d"))
    alone._flush()
    script = (tmp_path / ".slurm" / "d" / "job.sh").read_text()
    assert "--array" not in script and "--signal" not in script  # no time limit given
    assert script.splitlines()[-1].endswith(str(tmp_path / ".slurm" / "d"))


def test_a_rerun_reattaches_to_a_queued_job_and_takes_an_ended_ones_outcome(fake, tmp_path):
    jobs = tmp_path / ".slurm"
    for trial, job in (("queued", "7_0"), ("ended", "7_1")):
        (jobs / trial).mkdir(parents=True)
        (jobs / trial / "job.json").write_text(json.dumps({"job_id": job}))
    done = TrialOutcome(RecordState.COMPLETED, value=0.5, stop_reason="epochs reached")
    (jobs / "ended" / "outcome.json").write_bytes(slurm.outcome_json(done, "7_1"))
    fake.queue = "7_0|PENDING|Priority\n7_1|COMPLETED|None\n"
    run = executor()
    run.submit("queued", payload(tmp_path, "queued"))
    run.submit("ended", payload(tmp_path, "ended"))
    assert sorted(run.jobs) == ["7_0", "7_1"] and not run.batch
    assert run.wait_one() == ("ended", done)
    assert not [c for c in fake.commands if c[0] == "sbatch"]  # nothing submitted again
    fake.queue = "7_0|FAILED|NonZeroExitCode\n"  # ended without an outcome
    fake.job = "JobId=7_0 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0"
    key, failed = run.wait_one()
    assert key == "queued" and failed.error == \
        "SLURM job 7_0 ended FAILED (NonZeroExitCode), exit code 1:0"


def test_an_outcome_of_another_job_is_not_this_jobs(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "outcome.json").write_bytes(slurm.outcome_json(
        TrialOutcome(RecordState.INTERRUPTED), "8"))
    assert slurm._outcome(folder, "9") is None
    assert slurm._outcome(folder, "8").state is RecordState.INTERRUPTED


def test_a_retry_beside_a_running_array_waits_for_room(fake, tmp_path):
    """study.concurrency=2 as an array of four; trial a fails and is retried while b and c
    run and d waits in the array: the retry goes out only once fewer than two of the
    study's jobs have not ended (it went out at once: three running)."""
    run = executor()
    for trial in ("a", "b", "c", "d"):
        run.submit(trial, payload(tmp_path, trial))
    fake.queue = ("42_0|FAILED|NonZeroExitCode\n42_1|RUNNING|None\n42_2|RUNNING|None\n"
                  "42_3|PENDING|JobArrayTaskLimit\n")
    assert run.wait_one()[0] == "a"
    run.submit("a", payload(tmp_path, "a"))  # the runner retries it
    done = TrialOutcome(RecordState.COMPLETED, value=0.5, stop_reason="epochs reached")
    (tmp_path / ".slurm" / "b" / "outcome.json").write_bytes(slurm.outcome_json(done, "42_1"))
    fake.queue = "42_1|COMPLETED|None\n42_2|RUNNING|None\n42_3|RUNNING|None\n"
    assert run.wait_one() == ("b", done)
    assert len([c for c in fake.commands if c[0] == "sbatch"]) == 1  # c and d run: no room
    assert run.running == 3  # c, d, and the retry that waits
    (tmp_path / ".slurm" / "c" / "outcome.json").write_bytes(slurm.outcome_json(done, "42_2"))
    fake.queue = "42_2|COMPLETED|None\n42_3|RUNNING|None\n"
    assert run.wait_one() == ("c", done)
    sbatches = [c for c in fake.commands if c[0] == "sbatch"]
    assert len(sbatches) == 2 and "--array" not in Path(sbatches[1][-1]).read_text()
    assert sorted(run.jobs) == ["42_3", "43"]  # the retry is not taken for ended: new
    (tmp_path / ".slurm" / "a" / "outcome.json").write_bytes(slurm.outcome_json(done, "43"))
    fake.queue = "42_3|RUNNING|None\n43|COMPLETED|None\n"
    assert run.wait_one() == ("a", done)


def test_an_outcome_written_late_is_waited_for_only_after_a_completed_job(fake, tmp_path,
                                                                           monkeypatch):
    """A completed job's outcome may show on a shared file system a moment later: it is
    waited for (briefly) and taken; a job that failed wrote none, so its failure is said
    at once, not after that wait."""
    import threading
    import time

    monkeypatch.setattr(slurm, "LATE_OUTCOME_S", 2.0)
    run = executor()
    for trial in ("a", "b"):
        run.submit(trial, payload(tmp_path, trial))
    run._flush()
    done = TrialOutcome(RecordState.COMPLETED, value=0.5, stop_reason="epochs reached")
    late = threading.Timer(0.3, lambda: (tmp_path / ".slurm" / "a" / "outcome.json")
                           .write_bytes(slurm.outcome_json(done, "42_0")))
    late.start()
    fake.queue = "42_0|COMPLETED|None\n42_1|RUNNING|None\n"
    assert run.wait_one() == ("a", done)
    fake.queue = "42_1|FAILED|NonZeroExitCode\n"
    started = time.monotonic()
    key, failed = run.wait_one()
    assert key == "b" and failed.state is RecordState.FAILED
    assert time.monotonic() - started < 1.0  # not LATE_OUTCOME_S


def test_a_requeued_job_that_dies_leaves_no_outcome_of_its_earlier_run(tmp_path, monkeypatch):
    """A requeued job keeps its id: the outcome its run before the requeue wrote must not
    stand for the new run, which here dies before writing one (the driver then says what
    SLURM saw instead of reporting the old success)."""
    import pickle

    from model_trainer.study.executors import slurm_job

    folder = tmp_path / ".slurm" / "a"
    folder.mkdir(parents=True)
    (folder / "payload.pkl").write_bytes(pickle.dumps(payload(tmp_path, "a")))
    old = TrialOutcome(RecordState.COMPLETED, value=0.5, stop_reason="epochs reached")
    (folder / "outcome.json").write_bytes(slurm.outcome_json(old, "42_0"))
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "42")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")

    def dies(payload):  # killed (the node, the OOM killer) before it writes an outcome
        assert slurm._outcome(folder, "42_0") is None  # the old one is gone by now
        raise SystemExit(137)

    monkeypatch.setattr(slurm_job, "execute_trial", dies)
    with pytest.raises(SystemExit):
        slurm_job.main(folder)
    assert not (folder / "outcome.json").exists()
