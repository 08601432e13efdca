"""Trials on this machine: a pool of worker processes started once per study.

Workers fork from a forkserver that has already imported torch and the recipe's own
modules, so a worker is ready in milliseconds and shares those pages with its siblings.
Each worker runs trials one after another, talking to the driver over a pipe (nothing
listens on the network). The semantics match the Ray executor's:
- a worker that dies mid-trial (OOM killer, kill -9) is a failed attempt, retried like
  any failure (`study.retries`, or a rerun) from the trial's checkpoint, and a fresh
  worker takes its place;
- Ctrl-C and SIGTERM are passed on to the running trials, which stop at a safe point and
  save; the driver waits for them;
- no worker outlives the study: they exit when it ends, and die with the driver;
- GPUs: each worker gets its share through CUDA_VISIBLE_DEVICES before CUDA starts
  (fractional shares pack several workers on one GPU); workers without GPUs see none.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from model_trainer.errors import UsageError
from model_trainer.processes import blank_main, die_with
from model_trainer.study.trial_task import TrialOutcome, TrialPayload
from model_trainer.vocabulary import RecordState, StopReason

PRELOAD = ["torch", "torch._dynamo", "model_trainer.trial.experiment",
           "model_trainer.study.trial_task"]  # torch._dynamo: the first optimizer step imports it
CANCEL_GRACE_S = 60.0  # after Ctrl-C or SIGTERM, how long running trials get to save
STOP_GRACE_S = 10.0  # at the end of a study, how long an idle worker gets to exit


def worker_shares(concurrency: int, cpus: float, gpus: float) -> list[str]:
    """Each worker's CUDA_VISIBLE_DEVICES, after checking that this machine can give every
    trial its resources at all (UsageError, exit 2, before anything runs)."""
    if cpus > (os.cpu_count() or 1):
        raise UsageError(f"study.resources.cpus={cpus:g} but this machine has "
                         f"{os.cpu_count()} CPUs")
    return gpu_shares(concurrency, gpus, visible_gpus() if gpus > 0 else [])


def gpu_shares(concurrency: int, gpus: float, visible: list[str]) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each of `concurrency` workers asking `gpus` each: whole
    GPUs one worker each, fractions packed (a GPU holds floor(1 / gpus) of them)."""
    if gpus <= 0:
        return [""] * concurrency  # trials without GPUs see none
    if gpus >= 1:
        if gpus != int(gpus):
            raise UsageError(f"study.resources.gpus={gpus:g}: above 1, ask for whole GPUs")
        need, per = concurrency * int(gpus), int(gpus)
        if need > len(visible):
            raise UsageError(_too_few(concurrency, gpus, visible))
        return [",".join(visible[i * per:(i + 1) * per]) for i in range(concurrency)]
    per_gpu = math.floor(1 / gpus + 1e-9)
    if math.ceil(concurrency / per_gpu) > len(visible):
        raise UsageError(_too_few(concurrency, gpus, visible))
    return [visible[i // per_gpu] for i in range(concurrency)]


def _too_few(concurrency: int, gpus: float, visible: list[str]) -> str:
    if not visible:
        return (f"study.resources.gpus={gpus:g} but this machine shows no GPU (set "
                "study.resources.gpus=0, or study.address for a GPU cluster)")
    return (f"study.concurrency={concurrency} trials at study.resources.gpus={gpus:g} each "
            f"need more GPUs than the {len(visible)} this machine shows; lower one of them")


def visible_gpus() -> list[str]:
    """The GPU ids this process may use (CUDA_VISIBLE_DEVICES, else every device)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def start_server(preload: tuple[str, ...]) -> Any:
    """The forkserver the workers fork from, started now if it is not running: it imports
    torch and the recipe's modules in a process of its own while the caller goes on (the
    driver validating the recipe), so a study's first trial waits for one torch import,
    not two in a row."""
    import multiprocessing.forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *preload, "model_trainer.study.executors.server_tail"])
    with blank_main():  # the server must not import the driver's __main__
        multiprocessing.forkserver.ensure_running()
    return context


@dataclass
class _Worker:
    process: Any
    conn: Any  # the driver's end of the pipe
    gpus: str
    key: Any = None  # the trial it runs; None when idle


class LocalExecutor:
    """A pool of `concurrency` worker processes on this machine, started on first use."""

    runs_in_driver = False

    def __init__(self, concurrency: int, cpus: float, gpus: float,
                 preload: tuple[str, ...] = ()):
        self._shares = worker_shares(concurrency, cpus, gpus)
        self._preload = preload
        self._context = multiprocessing.get_context("forkserver")
        self._free_shares = list(self._shares)
        self._workers: list[_Worker] = []

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        for worker in self._workers:  # idle ones: ask them to leave
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    @property
    def running(self) -> int:
        return sum(1 for w in self._workers if w.key is not None)

    def submit(self, key: Any, payload: TrialPayload) -> None:
        worker = next((w for w in self._workers if w.key is None), None) or self._start()
        worker.conn.send(payload)
        worker.key = key

    def wait_one(self) -> tuple[Any, TrialOutcome]:
        busy = [w for w in self._workers if w.key is not None]
        waitables = {w.conn: w for w in busy} | {w.process.sentinel: w for w in busy}
        ready = multiprocessing.connection.wait(list(waitables))
        worker = waitables[ready[0]]
        return self._collect(worker)

    def cancel_all(self, reason: StopReason = StopReason.INTERRUPTED
                   ) -> list[tuple[Any, TrialOutcome]]:
        """Ask the running trials to stop and save (SIGINT or SIGTERM, as the driver got),
        then collect their outcomes; one that does not stop in time is killed."""
        signum = signal.SIGTERM if reason is StopReason.TERMINATED else signal.SIGINT
        busy = [w for w in self._workers if w.key is not None]
        for worker in busy:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signum)
        deadline = time.monotonic() + CANCEL_GRACE_S
        outcomes = []
        while any(w.key is not None for w in busy):
            waiting = [w for w in busy if w.key is not None]
            waitables = {w.conn: w for w in waiting} | {w.process.sentinel: w for w in waiting}
            ready = multiprocessing.connection.wait(list(waitables),
                                                    timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                for worker in waiting:
                    worker.process.kill()
                    outcomes.append((worker.key, TrialOutcome(RecordState.INTERRUPTED)))
                    worker.key = None
                break
            outcomes.append(self._collect(waitables[ready[0]]))
        return outcomes

    def _collect(self, worker: _Worker) -> tuple[Any, TrialOutcome]:
        key, worker.key = worker.key, None
        try:
            if worker.conn.poll():
                return key, worker.conn.recv()
        except (EOFError, OSError):
            pass
        worker.process.join(1.0)  # died mid-trial: a fresh worker takes its place
        code = worker.process.exitcode
        self._drop(worker)
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return key, TrialOutcome(RecordState.FAILED, error=f"worker died ({how})")

    def _start(self) -> _Worker:
        share = self._free_shares.pop()
        start_server(self._preload)  # at once if it started early
        driver_end, worker_end = self._context.Pipe()
        with blank_main():
            process = self._context.Process(target=_worker_main, name="mtrain-worker",
                                            args=(worker_end, os.getpid(), share,
                                                  dict(os.environ)))
            process.start()
        worker_end.close()
        worker = _Worker(process, driver_end, share)
        self._workers.append(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.conn.close()
        self._workers.remove(worker)
        self._free_shares.append(worker.gpus)


def _worker_main(conn: Any, driver: int, gpus: str, environ: dict[str, str]) -> None:
    """A worker: die with the driver, with the driver's environment as it is now (the
    server it forks from may have started earlier, in another environment: credentials
    set since), see only its GPUs, run the trials it is sent."""
    die_with(driver)
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the driver only, which passes it on
    os.environ.clear()
    os.environ.update(environ)
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus  # before anything starts CUDA
    from model_trainer.study.trial_task import execute_trial

    try:
        while (payload := conn.recv()) is not None:
            conn.send(execute_trial(payload))
    except (EOFError, KeyboardInterrupt):  # the driver is gone, or stopping between trials
        pass
    os._exit(0)  # skip interpreter teardown: files are closed, the trial is done
