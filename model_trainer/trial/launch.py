"""Start the ranks of a data-parallel trial, and wait for them without ever hanging.

Every rank function returns a `RankOutcome` (how it ended, as plain data), and so does
`run_ranks`. World size 1 (`train.strategy: single`, or ddp with one device) calls the
rank function in this process: one code path. A larger world starts one process per
rank (torch.multiprocessing, forkserver) that meet on 127.0.0.1 at a free port (or
MASTER_PORT when the user sets it). The launcher trains nothing: it polls the ranks,
and when one fails it gives the others a short grace period, then SIGTERM, then SIGKILL,
and returns the failing rank's error with its traceback. Ranks die with the launcher
(Linux PR_SET_PDEATHSIG=SIGKILL, a parent watchdog elsewhere): a kill -9 leaves no
orphans. Each rank reports its outcome as a small pickle file, never through a pipe
that fills.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from model_trainer.errors import DistributedError
from model_trainer.processes import blank_main, die_with
from model_trainer.trial.signals import REASONS, handled
from model_trainer.trial.status_record import ErrorRecord
from model_trainer.vocabulary import StopReason

START_METHOD = "forkserver"  # a clean server (no threads, no CUDA) that forks ranks quickly
PRELOAD = ["torch", "torch._dynamo", "model_trainer.trial.rank"]  # seconds each rank skips
GRACE_S = 5.0  # after a rank fails, how long the others get to notice before SIGTERM
INTERRUPT_GRACE_S = 60.0  # after Ctrl-C, how long rank 0 gets to save its checkpoint


@dataclass
class RankOutcome:
    """How one rank's training ended (plain data: it crosses the process boundary)."""

    rank: int
    state: dict[str, Any] | None  # the loop's TrainState as a dict; None: it never started
    interrupted: StopReason | None = None  # stopped by Ctrl-C or SIGTERM
    saved: bool = False  # the interrupted rank saved a checkpoint where it stopped
    error: ErrorRecord | None = None


RankFn = Callable[[int, int, int | None, Any], RankOutcome]  # (rank, world, port, job)


def world_size(recipe: Any) -> int:
    return int(recipe.train.devices) if recipe.train.strategy == "ddp" else 1


def check_devices(world: int, device_type: str) -> None:
    """`train.devices` this machine can give: GPUs on CUDA, up to os.cpu_count() on CPU."""
    if world == 1:
        return
    if device_type == "cuda":
        import torch

        available, what = torch.cuda.device_count(), "CUDA device(s) visible"
    elif device_type == "cpu":
        available, what = os.cpu_count() or 1, "CPU core(s) (one process each)"
    else:
        raise DistributedError(f"train.strategy ddp runs on cpu or cuda, not '{device_type}'")
    if world > available:
        raise DistributedError(f"train.devices={world} but this machine has {available} {what}; "
                               f"set train.devices<={available} (or strategy single)")


def master_port() -> int:
    """MASTER_PORT when set (it must be free), else a free port found by binding port 0."""
    wanted = os.environ.get("MASTER_PORT")
    if not wanted:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    try:
        port = int(wanted)
    except ValueError:
        raise DistributedError(f"MASTER_PORT={wanted!r} is not a port number") from None
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DistributedError(f"MASTER_PORT={port} is in use on 127.0.0.1 ({exc.strerror}); "
                                   "unset MASTER_PORT to let model_trainer pick a free port") \
                from None
    return port


def run_ranks(fn: RankFn, world: int, job: Any, threads: int | None = None) -> RankOutcome:
    """Run `fn` on every rank; the trial's outcome: rank 0's, or the first failure's."""
    if world == 1:
        return fn(0, 1, None, job)
    import cloudpickle  # the job may hold closures (a study's pruning callback)
    import torch.multiprocessing as mp

    port = master_port()
    outbox = Path(tempfile.mkdtemp(prefix="mtrain-ranks-"))
    per_rank = max(1, (threads or os.cpu_count() or 1) // world)
    blob = cloudpickle.dumps((fn, job))  # by value for what lives in __main__
    mp.get_context(START_METHOD).set_forkserver_preload(PRELOAD)
    with blank_main():
        context = mp.start_processes(_rank_main, args=(world, port, os.getpid(), per_rank, blob,
                                                       str(outbox), dict(os.environ)),
                                     nprocs=world, join=False, start_method=START_METHOD)
    failure: Exception | None = None
    stopped: list[StopReason] = []

    def relay(reason: StopReason) -> None:  # the ranks stop at their next safe point
        stopped.append(reason)
        _signal(context.processes, SIGNALS[reason])

    try:
        try:
            with handled(relay):
                while not context.join(timeout=0.2, grace_period=GRACE_S):
                    pass
        except KeyboardInterrupt:  # no handler (not the main thread): Ctrl-C arrived here
            stopped.append(StopReason.INTERRUPTED)
            _signal(context.processes, signal.SIGINT)
            _wait(context.processes)
        except (mp.ProcessExitedException, mp.ProcessRaisedException) as exc:
            failure = exc
        return _combine(_outcomes(outbox), failure, stopped[0] if stopped else None)
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
        shutil.rmtree(outbox, ignore_errors=True)


def _rank_main(rank: int, world: int, port: int, launcher: int, threads: int, blob: bytes,
               outbox: str, environ: dict[str, str]) -> None:
    """A rank: die with the launcher, train, leave a record of how it ended, exit at once."""
    die_with(launcher)
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the launcher only, which relays it once
    os.environ.clear()  # the launcher's environment now (CUDA_VISIBLE_DEVICES from Ray), not
    os.environ.update(environ)  # the one the forkserver started with
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    import cloudpickle
    import torch

    torch.set_num_threads(threads)
    fn, job = cloudpickle.loads(blob)
    outcome = fn(rank, world, port, job)
    path = Path(outbox) / f"rank-{rank}.pkl"
    path.with_suffix(".tmp").write_bytes(pickle.dumps(outcome))
    os.replace(path.with_suffix(".tmp"), path)
    sys.stdout.flush()
    sys.stderr.flush()
    # Files are closed and the group is gone: skip seconds of interpreter teardown. A failed
    # rank exits non-zero, so the launcher stops the others instead of letting them wait.
    os._exit(0 if outcome.error is None else 1)


def _outcomes(outbox: Path) -> dict[int, RankOutcome]:
    outcomes = {}
    for path in outbox.glob("rank-*.pkl"):
        try:
            outcome = pickle.loads(path.read_bytes())
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            continue
        outcomes[outcome.rank] = outcome
    return outcomes


def _combine(outcomes: dict[int, RankOutcome], died: Exception | None,
             stopped: StopReason | None) -> RankOutcome:
    """The trial's outcome from its ranks': interrupted if any was; else the first error
    (by time: the others fail because it left), with rank 0's loop state; else rank 0's."""
    zero = outcomes.get(0, RankOutcome(0, None))
    reason = stopped or next((o.interrupted for o in outcomes.values() if o.interrupted), None)
    if reason is not None:
        return replace(zero, interrupted=reason, error=None)
    errors = [o for o in outcomes.values() if o.error is not None]
    if errors:
        first = min(errors, key=lambda o: o.error.time)
        return RankOutcome(0, zero.state or first.state, error=replace(first.error,
                                                                       rank=first.rank))
    if died is not None:  # killed by a signal (OOM killer, kill -9): no record
        rank = getattr(died, "error_index", "?")
        reason = str(died).strip().splitlines()[-1] if str(died).strip() else "died"
        return RankOutcome(0, zero.state, error=ErrorRecord(
            type(died).__name__, f"rank {rank} of the data-parallel trial failed: {reason}",
            str(died)))
    if 0 not in outcomes:
        return RankOutcome(0, None, error=ErrorRecord(
            "RankFailed", "rank 0 of the data-parallel trial ended without a result", ""))
    return zero


SIGNALS = {reason: signum for signum, reason in REASONS.items()}


def _signal(processes: list[Any], signum: int) -> None:
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signum)


def _wait(processes: list[Any]) -> None:
    """Give the ranks time to reach a safe point and save."""
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
