"""Trials as SLURM jobs (`study.executor: slurm`), submitted and followed from a login node.

Each trial is one batch job (`sbatch`) that runs `slurm_job.py` on the trial's payload
and writes the trial's outcome beside it; the driver keeps `study.concurrency` jobs in
SLURM's queue and follows them with `squeue` and `scontrol` and those files only, so:

- a driver killed and rerun re-attaches to its jobs still queued or running (and takes
  the outcome of one that ended meanwhile) instead of submitting them again;
- a job requeued or preempted (SLURM sends SIGTERM, then SIGKILL after KillWait) saves
  its trial and exits; the requeued job continues that trial exactly where it stopped,
  and the driver waits for it (a requeued job is still the trial's job);
- a job that ends without an outcome (out of memory under `--mem`, its time limit, a
  node failure, scancel) is a failed trial with SLURM's state and reason, retried by the
  study's failure policy;
- a job warned before its time limit (`--signal`, `slurm.signal_margin_s`) saves its
  trial, which the driver submits again as a new job that continues it.

A study whose trials are all known before any result (a grid with a list of seeds, no
fail_fast) goes out as job arrays, `--array=0-N%concurrency`: SLURM then keeps the
concurrency, and every trial is in the queue at once (counted as running from then). One
whose next trial depends on results (Optuna, adaptive seeds, a hypothesis, fail_fast) goes
out one job a trial, `study.concurrency` at a time. A trial handed over while the study
has jobs (a retry beside an array, those left after a restart that re-attached to queued
jobs) waits until fewer than `study.concurrency` of them have not ended. The study folder must be on
a file system the compute nodes share with the login node (the payloads, outcomes and
trial folders live there).
"""

from __future__ import annotations

import json
import math
import pickle
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.files import atomic_write_bytes, read_json
from model_trainer.study.executors.inline import CANCELLED
from model_trainer.study.trial_task import TrialOutcome, TrialPayload
from model_trainer.vocabulary import RecordState

JOBS = ".slurm"  # in the study folder: each trial's script, payload, job id and outcome
# squeue states of a job that has ended (the others: queued, running, requeued, ...)
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
         "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT", "SPECIAL_EXIT", "REVOKED"}
COMMANDS = ("sbatch", "squeue", "scontrol", "scancel")
QUERY_TRIES = 5
LATE_OUTCOME_S = 3.0  # how long an ended job's outcome file is waited for


class SlurmExecutor:
    """One SLURM job per trial; see the module docstring."""

    runs_in_driver = False

    def __init__(self, settings: Any, cpus: float, gpus: float, concurrency: int,
                 arrays: bool):
        self.settings, self.cpus, self.gpus = settings, cpus, gpus
        self.concurrency = concurrency
        # how many trials the driver hands over at once: all of them for arrays
        self.capacity = math.inf if arrays else concurrency
        self.jobs: dict[str, tuple[Any, Path]] = {}  # job id -> (key, the trial's job folder)
        self.batch: list[tuple[Any, Path, TrialPayload]] = []  # to submit together
        self.waiting: list[tuple[Any, Path, TrialPayload]] = []  # for room beside an array
        self.queue: dict[str, tuple[str, str]] | None = None  # squeue, read once a batch

    def __enter__(self) -> SlurmExecutor:
        missing = [c for c in COMMANDS if shutil.which(c) is None]
        if missing:
            raise UsageError(f"study.executor: slurm needs SLURM's commands on PATH (run "
                             f"mtrain on a login node); missing: {', '.join(missing)}")
        return self

    def __exit__(self, *exc: Any) -> None:
        pass  # jobs still queued or running stay: a rerun re-attaches to them

    @property
    def running(self) -> int:
        return len(self.jobs) + len(self.batch) + len(self.waiting)

    def submit(self, key: Any, payload: TrialPayload) -> None:
        """Re-attach to the trial's job when it is still SLURM's (queued, running,
        requeued) or ended with an outcome not yet collected; else submit a new one."""
        folder = Path(payload.trial_dir).parent / JOBS / Path(payload.trial_dir).name
        folder.mkdir(parents=True, exist_ok=True)
        known = read_json(folder / "job.json")
        job = known.get("job_id") if isinstance(known, dict) else None
        if self.queue is None:
            self.queue = _states()
        alive = job in self.queue and self.queue[job][0] not in ENDED
        if job and (alive or _outcome(folder, job) is not None):
            self.jobs[job] = (key, folder)
            return
        atomic_write_bytes(folder / "payload.pkl", pickle.dumps(payload))
        (folder / "outcome.json").unlink(missing_ok=True)
        self.batch.append((key, folder, payload))

    def _flush(self) -> None:
        """Submit the trials handed over since the last call: one job, or one array. Beside
        an array (which keeps the concurrency itself) they wait for room instead."""
        batch, self.batch, self.queue = self.batch, [], None
        if self.capacity == math.inf and self.jobs:
            self.waiting.extend(batch)
        elif batch:
            self._send(batch)

    def _send_waiting(self, states: dict[str, tuple[str, str]]) -> set[str]:
        """Trials that wait beside an array (retries) go out one job each while fewer than
        study.concurrency of the study's jobs have not ended (an array's queued tasks
        count: they will run); the ids of the jobs sent (`states` does not know them)."""
        unended = sum(1 for job in self.jobs if job not in states or states[job][0] not in ENDED)
        sent: set[str] = set()
        while self.waiting and unended < self.concurrency:
            sent |= self._send([self.waiting.pop(0)])
            unended += 1
        return sent

    def _send(self, batch: list[tuple[Any, Path, TrialPayload]]) -> set[str]:
        """Submit `batch` as one job or one array; the job ids (an array's tasks)."""
        folders = [folder for _, folder, _ in batch]
        script = folders[0] / "job.sh" if len(batch) == 1 else \
            folders[0].parent / f"array-{folders[0].name}.sh"
        atomic_write_bytes(script, self._script(folders, batch[0][2]).encode())
        job = _run(["sbatch", "--parsable", str(script)]).split(";")[0].strip()
        tasks = set()
        for index, (key, folder, _) in enumerate(batch):
            task = job if len(batch) == 1 else f"{job}_{index}"
            atomic_write_bytes(folder / "job.json", json.dumps({"job_id": task}).encode())
            self.jobs[task] = (key, folder)
            tasks.add(task)
        return tasks

    def wait_one(self) -> tuple[Any, TrialOutcome]:
        """The next job that has ended, with its trial's outcome."""
        self._flush()
        while True:
            states = _states()
            sent = self._send_waiting(states)
            for job, (key, folder) in list(self.jobs.items()):
                state = states.get(job)
                if job in sent or (state is not None and state[0] not in ENDED):
                    continue  # queued, running, requeued: still this trial's job
                outcome = _outcome(folder, job)
                # a job that ended well (or that squeue forgot) wrote its outcome: its last
                # write may not be visible here yet (NFS); a failed one never wrote it
                late = state is None or state[0] == "COMPLETED"
                deadline = time.monotonic() + (LATE_OUTCOME_S if late else 0.0)
                while outcome is None and time.monotonic() < deadline:
                    time.sleep(0.1)
                    outcome = _outcome(folder, job)
                del self.jobs[job]
                (folder / "job.json").unlink(missing_ok=True)  # collected
                return key, outcome or _failure(job, state)
            time.sleep(self.settings.poll_s)

    def cancel_all(self, reason: Any = None) -> list[tuple[Any, TrialOutcome]]:
        """Signal the running jobs (their trials save and stop), take their outcomes, and
        cancel the queued ones: a rerun continues them all."""
        unsent = [(key, CANCELLED) for key, _, _ in self.batch + self.waiting]  # never submitted
        self.batch, self.waiting = [], []
        if not self.jobs:
            return unsent
        _run(["scancel", "--signal=TERM", "--full", *self.jobs], check=False)
        queued = [j for j, s in _states().items() if j in self.jobs and s[0] == "PENDING"]
        if queued:
            _run(["scancel", *queued], check=False)
        deadline, outcomes = time.monotonic() + 60, unsent
        while self.jobs and time.monotonic() < deadline:
            states = _states()
            for job, (key, folder) in list(self.jobs.items()):
                if job not in states or states[job][0] in ENDED:
                    del self.jobs[job]
                    (folder / "job.json").unlink(missing_ok=True)
                    outcomes.append((key, _outcome(folder, job) or CANCELLED))
            time.sleep(0.5)
        return outcomes + [(key, CANCELLED) for key, _ in self.jobs.values()]

    def _script(self, folders: list[Path], payload: TrialPayload) -> str:
        """The batch script of one trial's job, or of an array over `folders` (task i runs
        the trial of folders[i])."""
        s, study_jobs = self.settings, folders[0].parent
        cpus = s.cpus_per_trial or max(1, int(self.cpus))
        gpus = s.gpus_per_trial if s.gpus_per_trial is not None else int(self.gpus)
        single = len(folders) == 1
        name = Path(payload.trial_dir).name if single else study_jobs.parent.name
        options = [f"--job-name=mtrain-{name}",
                   f"--output={folders[0]}/slurm-%j.out" if single else
                   f"--output={study_jobs}/slurm-%A_%a.out", "--open-mode=append",
                   "--requeue", f"--cpus-per-task={cpus}", f"--chdir={payload.cwd}"]
        if not single:
            options.append(f"--array=0-{len(folders) - 1}%{self.concurrency}")
        if gpus:
            options.append(f"--gpus={gpus}")
        for key, value in (("partition", s.partition), ("time", s.time), ("mem", s.mem),
                           ("account", s.account), ("qos", s.qos)):
            if value is not None:
                options.append(f"--{key}={value}")
        if s.time is not None and s.signal_margin_s > 0:
            options.append(f"--signal=B:TERM@{s.signal_margin_s}")
        lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in [*options, *s.extra_args])]
        program = shlex.join([sys.executable, "-m", "model_trainer.study.executors.slurm_job"])
        if single:
            return "\n".join([*lines, f"exec {program} {shlex.quote(str(folders[0]))}", ""])
        cases = [f"  {i}) folder={shlex.quote(str(f))} ;;" for i, f in enumerate(folders)]
        return "\n".join([*lines, 'case "$SLURM_ARRAY_TASK_ID" in', *cases, "esac",
                          f'exec {program} "$folder"', ""])


def _outcome(folder: Path, job: str) -> TrialOutcome | None:
    """The outcome the job `job` wrote (None when there is none, or another job's)."""
    data = read_json(folder / "outcome.json")
    if not isinstance(data, dict) or data.get("job_id") != job:
        return None
    fields = dict(data["outcome"])
    fields["state"] = RecordState(fields["state"])
    return TrialOutcome(**fields)


def outcome_json(outcome: TrialOutcome, job: str) -> bytes:
    """What slurm_job.py writes: the outcome and the job that made it."""
    return json.dumps({"job_id": job, "outcome": {**asdict(outcome),
                                                  "state": str(outcome.state)}}).encode()


def _failure(job: str, state: tuple[str, str] | None) -> TrialOutcome:
    """A job that ended without writing an outcome: SLURM's own account of it."""
    detail = _run(["scontrol", "show", "job", job, "--oneliner"], check=False)
    fields = dict(item.split("=", 1) for item in detail.split() if "=" in item)
    name = fields.get("JobState") or (state[0] if state else None)
    reason = fields.get("Reason") or (state[1] if state else "")
    said = f"SLURM job {job} ended " + (name or "and is no longer known to SLURM")
    if reason not in ("", "None"):
        said += f" ({reason})"
    if fields.get("ExitCode"):
        said += f", exit code {fields['ExitCode']}"
    if name == "OUT_OF_MEMORY":
        said += ": raise study.slurm.mem"
    elif name == "TIMEOUT":
        said += ": raise study.slurm.time"
    return TrialOutcome(RecordState.FAILED, error=said)


def _states() -> dict[str, tuple[str, str]]:
    """{job id: (state, reason)} of the user's jobs squeue knows (ended ones for a while,
    MinJobAge; an array's tasks as `<array>_<task>`): one call for all, since squeue
    refuses a list of ids that holds one it forgot."""
    command = ["squeue", "--noheader", "--me", "--states=all", "--array", "--format=%i|%T|%r"]
    for attempt in range(QUERY_TRIES):  # a busy slurmctld times out now and then
        try:
            out = _run(command)
            break
        except UsageError:
            if attempt == QUERY_TRIES - 1:
                raise
            time.sleep(2.0)
    states = {}
    for line in out.splitlines():
        job, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        if job:
            states[job] = (state, reason)
    return states


def _run(command: list[str], check: bool = True) -> str:
    """Run a SLURM command; its output (a failure with `check`: UsageError, SLURM's words)."""
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise UsageError(f"{command[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout
